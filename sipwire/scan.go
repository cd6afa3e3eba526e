package sipwire

import "bytes"

// Byte-level helpers shared by the parser, the framer and digestfast-style
// parameter scanning. Everything works on slices of the input; nothing
// allocates.

// isLWS reports whether c is linear white space. CR and LF count too,
// because a folded header value keeps its CRLF inside the returned slice.
func isLWS(c byte) bool { return c <= ' ' && (uint64(1)<<c)&lwsMask != 0 }

const lwsMask = 1<<' ' | 1<<'\t' | 1<<'\r' | 1<<'\n'

// TrimLWS returns b without leading and trailing linear white space.
func TrimLWS(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && isLWS(b[i]) {
		i++
	}
	for j > i && isLWS(b[j-1]) {
		j--
	}
	return b[i:j]
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// EqualFold reports whether b equals the lower-case ASCII string s,
// ignoring the case of b.
func EqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
}

// nameEq is EqualFold for names made of letters, digits and '-' only
// (header and parameter names): setting the case bit folds A-Z onto a-z in
// one compare per byte. It also folds a few control bytes onto '-' and
// digits, which can only make a garbled name match leniently.
func nameEq(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if b[i]|0x20 != s[i] {
			return false
		}
	}
	return true
}

// ParseUint parses decimal digits (surrounding LWS allowed). Values above
// max are clamped to max, as RFC 3261 asks for delta-seconds above 2^32-1.
func ParseUint(b []byte, max uint64) (uint64, bool) {
	b = TrimLWS(b)
	if len(b) == 0 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if v <= max {
			v = v*10 + uint64(c-'0')
		}
	}
	if v > max {
		v = max
	}
	return v, true
}

// MaxDelta is the largest delta-seconds value (RFC 3261 §20.19).
const MaxDelta = 1<<32 - 1

// SkipQuoted returns the index just past the closing quote of the quoted
// string that starts at b[i] == '"', honouring backslash escapes; len(b) if
// the string is unterminated (ok false).
func SkipQuoted(b []byte, i int) (int, bool) {
	for i++; i < len(b); {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return len(b), false
		}
		j := i + q
		// The quote is escaped when an odd number of backslashes precede it.
		bs := 0
		for k := j - 1; k >= i && b[k] == '\\'; k-- {
			bs++
		}
		if bs%2 == 0 {
			return j + 1, true
		}
		i = j + 1
	}
	return len(b), false
}

// NextElement splits a comma-separated header value (Via, Contact, a list
// of auth params) at commas that are outside quoted strings and angle
// brackets. It returns the element starting at i (untrimmed) and the index
// after the separating comma. ok is false for an unterminated quote or
// bracket found while looking for the separator.
func NextElement(v []byte, i int) (elem []byte, next int, ok bool) {
	rest := v[i:]
	c := bytes.IndexByte(rest, ',')
	if c < 0 {
		return rest, len(v), true // the common single-value case
	}
	if bytes.IndexByte(rest[:c], '"') < 0 && bytes.IndexByte(rest[:c], '<') < 0 {
		return rest[:c], i + c + 1, true
	}
	start := i
	for i < len(v) {
		switch v[i] {
		case '"':
			var closed bool
			if i, closed = SkipQuoted(v, i); !closed {
				return v[start:], len(v), false
			}
			continue
		case '<':
			gt := bytes.IndexByte(v[i:], '>')
			if gt < 0 {
				return v[start:], len(v), false
			}
			i += gt + 1 // no quotes or commas count inside <...>
			continue
		case ',':
			return v[start:i], i + 1, true
		}
		i++
	}
	return v[start:], len(v), true
}

// NextParam scans one ";name=value" (or ";name") header parameter of s
// starting at i, which must point at ';' or at LWS before it. It returns
// the trimmed name and value (value keeps its quotes, if quoted) and the
// index of the next ';' (or len(s)). found is false when no parameter is
// left.
func NextParam(s []byte, i int) (name, value []byte, next int, found bool) {
	for i < len(s) && isLWS(s[i]) {
		i++
	}
	if i >= len(s) || s[i] != ';' {
		return nil, nil, len(s), false
	}
	i++
	for i < len(s) && isLWS(s[i]) {
		i++
	}
	start := i
	for i < len(s) && s[i] != '=' && s[i] != ';' && !isLWS(s[i]) { // names are short
		i++
	}
	name = s[start:i]
	for i < len(s) && isLWS(s[i]) { // LWS is allowed around '='
		i++
	}
	if i == len(s) || s[i] != '=' {
		if i < len(s) && s[i] != ';' { // "a b": junk after a name; keep it in the name's span
			end := bytes.IndexByte(s[i:], ';')
			if end < 0 {
				end = len(s) - i
			}
			return TrimLWS(s[start : i+end]), nil, i + end, true
		}
		return name, nil, i, true
	}
	i++ // '='
	for i < len(s) && isLWS(s[i]) {
		i++
	}
	vs := i
	if i < len(s) && s[i] == '"' {
		i, _ = SkipQuoted(s, i) // a quoted value may hide ';'
	}
	// Values can be long (tags, branches): let IndexByte find the end.
	if semi := bytes.IndexByte(s[i:], ';'); semi >= 0 {
		i += semi
	} else {
		i = len(s)
	}
	value = s[vs:i]
	if len(value) > 0 && isLWS(value[len(value)-1]) {
		value = TrimLWS(value)
	}
	return name, value, i, true
}

// Unquote strips the surrounding double quotes of a quoted-string. Escapes
// stay as they are (callers that need the exact octets handle '\').
func Unquote(b []byte) []byte {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		return b[1 : len(b)-1]
	}
	return b
}
