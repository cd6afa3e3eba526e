// Package digestfast implements HTTP Digest authentication as SIP uses it
// (RFC 3261 §22, RFC 7616, RFC 8760): challenge and credential parsing,
// response computation for MD5, MD5-sess, SHA-256 and SHA-256-sess, and
// server-side verification. Nothing on the per-request path allocates.
package digestfast

import (
	"errors"

	"github.com/regstorm/regstorm/sipwire"
)

// Algorithm is a digest algorithm.
type Algorithm uint8

const (
	MD5 Algorithm = iota
	MD5Sess
	SHA256
	SHA256Sess
	Unknown
)

var algNames = [...]string{"MD5", "MD5-sess", "SHA-256", "SHA-256-sess", "unknown"}

func (a Algorithm) String() string { return algNames[a] }

func (a Algorithm) sess() bool { return a == MD5Sess || a == SHA256Sess }
func (a Algorithm) hashLen() int {
	if a == SHA256 || a == SHA256Sess {
		return 32
	}
	return 16
}

// ParseAlgorithm maps an algorithm token (case-insensitive); an absent
// token means MD5 (RFC 7616 §3.3).
func ParseAlgorithm(b []byte) Algorithm {
	switch {
	case len(b) == 0 || sipwire.EqualFold(b, "md5"):
		return MD5
	case sipwire.EqualFold(b, "md5-sess"):
		return MD5Sess
	case sipwire.EqualFold(b, "sha-256"):
		return SHA256
	case sipwire.EqualFold(b, "sha-256-sess"):
		return SHA256Sess
	}
	return Unknown
}

// Errors.
var (
	ErrNotDigest   = errors.New("digestfast: scheme is not Digest")
	ErrSyntax      = errors.New("digestfast: malformed auth parameters")
	ErrMissing     = errors.New("digestfast: realm or nonce missing")
	ErrAlgorithm   = errors.New("digestfast: unsupported algorithm")
	ErrQop         = errors.New("digestfast: no supported qop offered (only auth)")
	ErrTooLong     = errors.New("digestfast: parameter too long")
	ErrNoChallenge = errors.New("digestfast: no usable challenge")
	ErrChoice      = errors.New("digestfast: choice is first or strongest")
)

// maxParam bounds every parameter we hash, so that hashing can use fixed
// stack buffers.
const maxParam = 256

// scheme checks for "Digest" and returns the index after it.
func scheme(v []byte) (int, error) {
	v = sipwire.TrimLWS(v)
	if len(v) < 7 || !sipwire.EqualFold(v[:6], "digest") || (v[6] != ' ' && v[6] != '\t' && v[6] != '\r' && v[6] != '\n') {
		return 0, ErrNotDigest
	}
	return 7, nil
}

// eachParam calls fn for every "name=value" in a comma-separated auth-param
// list (values unquoted, escapes kept). It returns ErrSyntax on a malformed
// element.
func eachParam(v []byte, fn func(name, value []byte)) error {
	for i := 0; i < len(v); {
		elem, next, ok := sipwire.NextElement(v, i)
		if !ok {
			return ErrSyntax
		}
		i = next
		elem = sipwire.TrimLWS(elem)
		if len(elem) == 0 {
			continue // tolerate ",," and a trailing comma
		}
		eq := -1
		for j, c := range elem {
			if c == '=' {
				eq = j
				break
			}
		}
		if eq <= 0 {
			return ErrSyntax
		}
		name := sipwire.TrimLWS(elem[:eq])
		val := sipwire.TrimLWS(elem[eq+1:])
		if len(val) > 0 && val[0] == '"' {
			// Exactly one quoted-string: no text after its closing quote.
			if end, closed := sipwire.SkipQuoted(val, 0); !closed || end != len(val) {
				return ErrSyntax
			}
			val = val[1 : len(val)-1]
		} else if !isBareValue(val) || !isToken(name) {
			return ErrSyntax
		}
		fn(name, val)
	}
	return nil
}

// Challenge is a parsed WWW-Authenticate or Proxy-Authenticate value.
type Challenge struct {
	Realm, Nonce, Opaque, Domain []byte
	Algorithm                    Algorithm
	AlgorithmToken               []byte // as received, for errors and logs
	QopAuth, QopAuthInt          bool
	QopOffered                   bool // a qop parameter was present
	Stale                        bool
}

// ParseChallenge parses a challenge value ("Digest realm=..., nonce=...").
func ParseChallenge(v []byte, c *Challenge) error {
	*c = Challenge{}
	start, err := scheme(v)
	if err != nil {
		return err
	}
	v = sipwire.TrimLWS(v)
	err = eachParam(v[start:], func(name, val []byte) {
		switch {
		case sipwire.EqualFold(name, "realm"):
			c.Realm = val
		case sipwire.EqualFold(name, "nonce"):
			c.Nonce = val
		case sipwire.EqualFold(name, "opaque"):
			c.Opaque = val
		case sipwire.EqualFold(name, "domain"):
			c.Domain = val
		case sipwire.EqualFold(name, "algorithm"):
			c.AlgorithmToken = val
		case sipwire.EqualFold(name, "stale"):
			c.Stale = sipwire.EqualFold(val, "true")
		case sipwire.EqualFold(name, "qop"):
			c.QopOffered = true
			eachToken(val, func(tok []byte) {
				switch {
				case sipwire.EqualFold(tok, "auth"):
					c.QopAuth = true
				case sipwire.EqualFold(tok, "auth-int"):
					c.QopAuthInt = true
				}
			})
		}
	})
	if err != nil {
		return err
	}
	c.Algorithm = ParseAlgorithm(c.AlgorithmToken)
	if c.Realm == nil || len(c.Nonce) == 0 {
		return ErrMissing
	}
	if len(c.Realm) > maxParam || len(c.Nonce) > maxParam || len(c.Opaque) > maxParam {
		return ErrTooLong
	}
	return nil
}

// Usable reports why a client cannot answer this challenge, or nil.
func (c *Challenge) Usable() error {
	if c.Algorithm == Unknown {
		return ErrAlgorithm
	}
	if c.QopOffered && !c.QopAuth {
		return ErrQop // auth-int only: REGISTER has no body worth protecting, not supported
	}
	return nil
}

// eachToken splits a comma-separated token list ("auth,auth-int").
func eachToken(v []byte, fn func([]byte)) {
	start := 0
	for i := 0; i <= len(v); i++ {
		if i == len(v) || v[i] == ',' {
			if t := sipwire.TrimLWS(v[start:i]); len(t) > 0 {
				fn(t)
			}
			start = i + 1
		}
	}
}

// Choice is how a client picks one of several challenges it can answer.
type Choice uint8

const (
	// First is the topmost challenge the client supports: a server lists
	// its challenges most preferred first (RFC 8760 §2.3), and the client
	// follows that order unless a local policy says otherwise (RFC 8760
	// §2.4, RFC 7616 §3.7).
	First Choice = iota
	// Strongest is that local policy: SHA-256 over MD5 whatever the order,
	// the topmost among equals. The order is not protected, and one that
	// an on-path attacker rewrites to put MD5 first is then ignored
	// (RFC 8760 §3).
	Strongest
)

var choiceNames = [...]string{"first", "strongest"}

func (c Choice) String() string { return choiceNames[c] }

// ParseChoice maps "first" or "strongest" (any case).
func ParseChoice(s string) (Choice, error) {
	for i, n := range choiceNames {
		if sipwire.EqualFold([]byte(s), n) {
			return Choice(i), nil
		}
	}
	return First, ErrChoice
}

// strength orders algorithms for the Strongest choice.
func strength(a Algorithm) int {
	switch a {
	case SHA256, SHA256Sess:
		return 2
	case MD5, MD5Sess:
		return 1
	}
	return 0
}

// SelectChallenge parses the challenge values in vs, in the order
// received, and keeps in c the usable one that by picks. Challenges it
// cannot answer (unknown algorithm, auth-int only, malformed) are skipped.
// It returns ErrNoChallenge (or the last parse or usability error) when
// none can be answered.
func SelectChallenge(vs [][]byte, by Choice, c *Challenge) error {
	var cand Challenge
	best := -1
	lastErr := ErrNoChallenge
	for _, v := range vs {
		if err := ParseChallenge(v, &cand); err != nil {
			lastErr = err
			continue
		}
		if err := cand.Usable(); err != nil {
			lastErr = err
			continue
		}
		if s := strength(cand.Algorithm); s > best {
			best = s
			*c = cand
			if by == First {
				return nil
			}
		}
	}
	if best < 0 {
		return lastErr
	}
	return nil
}

// AuthInfo is a parsed Authentication-Info value (RFC 7616 §3.5).
type AuthInfo struct {
	NextNonce, Qop, RspAuth, CNonce, NC []byte
}

// ParseAuthInfo parses "nextnonce=..., qop=auth, rspauth=..." (no scheme).
func ParseAuthInfo(v []byte, a *AuthInfo) error {
	*a = AuthInfo{}
	return eachParam(v, func(name, val []byte) {
		switch {
		case sipwire.EqualFold(name, "nextnonce"):
			a.NextNonce = val
		case sipwire.EqualFold(name, "qop"):
			a.Qop = val
		case sipwire.EqualFold(name, "rspauth"):
			a.RspAuth = val
		case sipwire.EqualFold(name, "cnonce"):
			a.CNonce = val
		case sipwire.EqualFold(name, "nc"):
			a.NC = val
		}
	})
}

// Credentials is a parsed Authorization or Proxy-Authorization value, as
// the registrar receives it.
type Credentials struct {
	Username, Realm, Nonce, URI, Response, CNonce, Opaque, Qop []byte
	Algorithm                                                  Algorithm
	NC                                                         uint32
	HasNC                                                      bool
}

// ParseCredentials parses an Authorization value ("Digest username=...").
func ParseCredentials(v []byte, c *Credentials) error {
	*c = Credentials{}
	start, err := scheme(v)
	if err != nil {
		return err
	}
	v = sipwire.TrimLWS(v)
	var alg, nc []byte
	err = eachParam(v[start:], func(name, val []byte) {
		switch {
		case sipwire.EqualFold(name, "username"):
			c.Username = val
		case sipwire.EqualFold(name, "realm"):
			c.Realm = val
		case sipwire.EqualFold(name, "nonce"):
			c.Nonce = val
		case sipwire.EqualFold(name, "uri"):
			c.URI = val
		case sipwire.EqualFold(name, "response"):
			c.Response = val
		case sipwire.EqualFold(name, "cnonce"):
			c.CNonce = val
		case sipwire.EqualFold(name, "opaque"):
			c.Opaque = val
		case sipwire.EqualFold(name, "qop"):
			c.Qop = val
		case sipwire.EqualFold(name, "algorithm"):
			alg = val
		case sipwire.EqualFold(name, "nc"):
			nc = val
		}
	})
	if err != nil {
		return err
	}
	c.Algorithm = ParseAlgorithm(alg)
	if nc != nil {
		if len(nc) != 8 {
			return ErrSyntax
		}
		n, ok := parseHex32(nc)
		if !ok {
			return ErrSyntax
		}
		c.NC, c.HasNC = n, true
	}
	if c.Username == nil || c.Realm == nil || len(c.Nonce) == 0 || c.URI == nil || len(c.Response) == 0 {
		return ErrMissing
	}
	for _, p := range [][]byte{c.Username, c.Realm, c.Nonce, c.URI, c.CNonce, c.Opaque} {
		if len(p) > maxParam {
			return ErrTooLong
		}
	}
	return nil
}

func parseHex32(b []byte) (uint32, bool) {
	var v uint32
	for _, ch := range b {
		var d byte
		switch {
		case ch >= '0' && ch <= '9':
			d = ch - '0'
		case ch >= 'a' && ch <= 'f':
			d = ch - 'a' + 10
		case ch >= 'A' && ch <= 'F':
			d = ch - 'A' + 10
		default:
			return 0, false
		}
		v = v<<4 | uint32(d)
	}
	return v, true
}

// isToken reports whether b is a non-empty RFC 3261 token: no white space,
// quotes, separators or control characters.
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
		switch c {
		case '"', ',', ';', '=', '(', ')', '<', '>', '@', ':', '\\', '/', '[', ']', '?', '{', '}':
			return false
		}
	}
	return true
}

// isBareValue accepts an unquoted value more loosely than a token (servers
// send unquoted base64 nonces with '/', '+', '='), refusing only what would
// break it when echoed inside quotes or split as a list.
func isBareValue(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || c == '"' || c == ',' || c == '\\' {
			return false
		}
	}
	return true
}
