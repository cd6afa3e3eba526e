package sipwire

import "bytes"

// ExpiresSource says where a granted registration interval came from.
type ExpiresSource uint8

const (
	ExpiresNone        ExpiresSource = iota // neither: the caller keeps what it asked for
	ExpiresFromContact                      // seed case 1: our Contact's ;expires
	ExpiresFromHeader                       // seed case 2: the Expires header
)

// GrantedExpires finds the interval a 2xx grants to the binding whose URI
// is ourContact (as sent, without <>): the expires parameter of that
// Contact (seed case 1), else the Expires header (seed case 2). A 200 to a
// REGISTER lists every binding of the AOR, so other contacts are skipped.
func (m *Msg) GrantedExpires(ourContact []byte) (int64, ExpiresSource) {
	for i := 0; i < m.NumContacts; i++ {
		c := &m.Contacts[i]
		if c.Expires >= 0 && SameURI(c.URI, ourContact) {
			return c.Expires, ExpiresFromContact
		}
	}
	if m.Expires >= 0 {
		return m.Expires, ExpiresFromHeader
	}
	return 0, ExpiresNone
}

// HasBinding reports whether a 2xx lists ourContact among the bindings
// of the AOR (RFC 3261 §10.3 step 8: a 200 lists every current binding).
func (m *Msg) HasBinding(ourContact []byte) bool {
	for i := 0; i < m.NumContacts; i++ {
		if SameURI(m.Contacts[i].URI, ourContact) {
			return true
		}
	}
	return false
}

// SameURI compares two SIP URIs the way a registrar matches bindings for
// our purpose (RFC 3261 §19.1.4, simplified): scheme, user part (case
// sensitive) and host:port (host case-insensitive, default port filled in)
// must agree; URI parameters and headers are ignored, since registrars
// commonly add or reorder them (";transport=", ";ob", ";received=").
func SameURI(a, b []byte) bool {
	sa, ua, ha, pa, ok1 := splitURI(a)
	sb, ub, hb, pb, ok2 := splitURI(b)
	if !ok1 || !ok2 || !bytes.Equal(ua, ub) || len(ha) != len(hb) {
		return false
	}
	if !bytes.EqualFold(sa, sb) || !bytes.EqualFold(ha, hb) {
		return false
	}
	return pa == pb
}

func splitURI(u []byte) (scheme, user, host []byte, port int, ok bool) {
	colon := bytes.IndexByte(u, ':')
	if colon <= 0 {
		return nil, nil, nil, 0, false
	}
	scheme = u[:colon]
	rest := u[colon+1:]
	// Cut URI parameters and headers.
	for i, c := range rest {
		if c == ';' || c == '?' {
			rest = rest[:i]
			break
		}
	}
	if at := bytes.LastIndexByte(rest, '@'); at >= 0 {
		user = rest[:at]
		rest = rest[at+1:]
	}
	port = 5060
	if EqualFold(scheme, "sips") {
		port = 5061
	}
	if len(rest) > 0 && rest[0] == '[' {
		end := bytes.IndexByte(rest, ']')
		if end < 0 {
			return nil, nil, nil, 0, false
		}
		host = rest[1:end]
		rest = rest[end+1:]
		if len(rest) > 0 && rest[0] != ':' {
			return nil, nil, nil, 0, false
		}
	} else if c := bytes.IndexByte(rest, ':'); c >= 0 {
		host, rest = rest[:c], rest[c:]
	} else {
		host, rest = rest, nil
	}
	if len(rest) > 0 { // ":port"
		p, ok := ParseUint(rest[1:], 65536)
		if !ok || p > 65535 {
			return nil, nil, nil, 0, false
		}
		port = int(p)
	}
	return scheme, user, host, port, len(host) > 0
}
