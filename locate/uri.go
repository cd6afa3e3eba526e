package locate

// The URIs that say where to send, as a user writes them: a registrar, a
// proxy or an SBC (RFC 3261 §19.1), and the SIP host and user syntax they
// and an AOR are checked by.

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// URI is a parsed sip:host[:port][;transport=…], sips:host[:port] or
// host[:port].
type URI struct {
	Host      string // a name, or an IP address without brackets
	Port      int
	Transport string // from sips: or ;transport=, "" when neither says
	NoPort    bool   // no port given: 5060 here, the transport's default later
	Secure    bool   // sips:
}

// ParseURI reads sip:host[:port][;transport=udp|tcp|tls|ws|wss],
// sips:host[:port] (TLS, or WSS with ;transport=ws or wss), or
// host[:port]; lr allows a proxy's ;lr. What it cannot honour it refuses;
// nothing is silently dropped. The error says what is wrong, without the
// URI: the caller names where it came from.
func ParseURI(s string, lr bool) (URI, error) {
	bad := func(format string, a ...any) (URI, error) { return URI{}, fmt.Errorf(format, a...) }
	rest, secure, err := cutScheme(strings.TrimSpace(s))
	if err != nil {
		return URI{}, err
	}
	if strings.ContainsRune(rest, '?') {
		return bad("URI headers (?...) have no meaning in a target")
	}
	if strings.ContainsRune(rest, '@') {
		return bad("a REGISTER's Request-URI has no user part (RFC 3261 §10.2); give the users with --user-pattern or --users")
	}
	hostport, params, hasParams := strings.Cut(rest, ";")
	var u URI
	if hasParams {
		if u.Transport, err = transportParam(params, lr); err != nil {
			return URI{}, err
		}
	}
	u.Secure = secure
	if secure { // RFC 3261 §26.2: sips: is TLS on every hop
		switch u.Transport {
		case "", "tcp", "tls":
			u.Transport = "tls"
		case "ws", "wss":
			u.Transport = "wss"
		default:
			return bad("sips: needs TLS; ;transport=%s cannot carry it", u.Transport)
		}
	}
	host, port := hostport, "5060"
	u.NoPort = true
	if strings.HasPrefix(hostport, "[") {
		i := strings.IndexByte(hostport, ']')
		if i < 0 {
			return bad("unbalanced brackets")
		}
		host = hostport[:i+1]
		if r := hostport[i+1:]; r != "" {
			if r[0] != ':' {
				return bad("want sip:[IPv6]:port")
			}
			port, u.NoPort = r[1:], false
		}
	} else if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		if strings.Count(hostport, ":") > 1 {
			return bad("bracket IPv6 addresses, e.g. sip:[::1]:5060")
		}
		host, port, u.NoPort = hostport[:i], hostport[i+1:], false
	}
	if err := CheckHost(host); err != nil {
		return URI{}, err
	}
	p, err := strconv.Atoi(port)
	if !AllDigits(port) || err != nil || p < 1 || p > 65535 {
		return bad("bad port %q", port)
	}
	u.Host, u.Port = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), p
	return u, nil
}

// cutScheme takes sip: or sips: off s; a URI without a scheme is
// host[:port], and any other scheme is refused.
func cutScheme(s string) (rest string, secure bool, err error) {
	switch lower := strings.ToLower(s); {
	case strings.HasPrefix(lower, "sips:"):
		return s[5:], true, nil
	case strings.HasPrefix(lower, "sip:"):
		return s[4:], false, nil
	}
	if scheme, ok := unknownScheme(s); ok {
		hint := ""
		switch strings.ToLower(scheme) {
		case "udp", "tcp", "tls", "ws", "wss":
			hint = fmt.Sprintf("; a transport goes in the URI's ;transport=%s or in --transport", strings.ToLower(scheme))
		}
		return "", false, fmt.Errorf("unknown scheme %q (known: sip: and sips:, or host[:port] without a scheme)%s", scheme+":", hint)
	}
	return s, false, nil
}

// transportParam reads a URI's parameters: ;transport= once at most, and
// ;lr when lr allows it.
func transportParam(params string, lr bool) (string, error) {
	transport := ""
	for _, p := range strings.Split(params, ";") {
		name, value, _ := strings.Cut(p, "=")
		if lr && strings.EqualFold(name, "lr") && value == "" {
			continue // a proxy's URI: we always route loosely
		}
		if !strings.EqualFold(name, "transport") {
			return "", fmt.Errorf("unknown URI parameter %q (only ;transport= is honoured)", name)
		}
		if transport != "" {
			return "", fmt.Errorf(";transport= given twice")
		}
		switch v := strings.ToLower(value); v {
		case "udp", "tcp", "tls", "ws", "wss":
			transport = v
		default:
			return "", fmt.Errorf("unknown transport %q (want udp, tcp, tls, ws or wss)", value)
		}
	}
	return transport, nil
}

// HostPort is the URI's host, bracketed if IPv6, and its port when one
// was given: what a Request-URI or a Route names.
func (u URI) HostPort() string {
	host := u.BracketedHost()
	if u.NoPort {
		return host
	}
	return host + ":" + strconv.Itoa(u.Port)
}

// BracketedHost is the URI's host as a URI writes it: an IPv6 address in
// brackets.
func (u URI) BracketedHost() string {
	if strings.Contains(u.Host, ":") {
		return "[" + u.Host + "]"
	}
	return u.Host
}

// Route is the Route field's value that names u as an outbound proxy:
// always loose routing (RFC 3261 §8.1.2 and §16.12).
func (u URI) Route() string {
	scheme, params := "sip:", ";lr"
	if u.Secure {
		scheme = "sips:"
	}
	if u.Transport != "" && !(u.Secure && u.Transport == "tls") {
		params = ";transport=" + u.Transport + params
	}
	return "<" + scheme + u.HostPort() + params + ">"
}

// unknownScheme finds a URI scheme other than sip: or sips: at the start
// of s ("tcp:127.0.0.1:5080", "sipp:host", "tel:+4930123",
// "http://host"): a scheme's syntax (RFC 3986 §3.1) before a colon, and
// after it something other than a port. host:port and IPv6 addresses are
// not schemes.
func unknownScheme(s string) (string, bool) {
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok || scheme == "" || !(scheme[0] >= 'a' && scheme[0] <= 'z' || scheme[0] >= 'A' && scheme[0] <= 'Z') {
		return "", false
	}
	for i := 0; i < len(scheme); i++ {
		if c := scheme[i]; !isAlnum(c) && c != '+' && c != '-' && c != '.' {
			return "", false
		}
	}
	port, _, _ := strings.Cut(rest, ";")
	if AllDigits(port) {
		return "", false // host:port
	}
	if _, err := netip.ParseAddr(strings.SplitN(s, ";", 2)[0]); err == nil {
		return "", false // an IPv6 address, bracketless
	}
	return scheme, true
}

// CheckHost accepts what RFC 3261 calls a host: a host name, an IPv4
// address or a bracketed IPv6 address.
func CheckHost(h string) error {
	if strings.HasPrefix(h, "[") || strings.HasSuffix(h, "]") {
		a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
		if !strings.HasPrefix(h, "[") || !strings.HasSuffix(h, "]") || err != nil || !a.Is6() || a.Zone() != "" {
			return fmt.Errorf("%q is not a bracketed IPv6 address", h)
		}
		return nil
	}
	if a, err := netip.ParseAddr(h); err == nil {
		if a.Is4() {
			return nil
		}
		return fmt.Errorf("bracket IPv6 addresses, e.g. [%s]", h)
	}
	if !IsHostName(h) {
		return fmt.Errorf("%q is not a host name, an IPv4 address or a bracketed IPv6 address", h)
	}
	return nil
}

// IsHostName: dot-separated labels of letters, digits and inner hyphens,
// the last one starting with a letter (RFC 3261 toplabel, so that
// "300.1.1.1" is not taken for a name).
func IsHostName(h string) bool {
	name := strings.TrimSuffix(h, ".")
	if name == "" || len(name) > 253 {
		return false
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if !isAlnum(l[i]) && l[i] != '-' {
				return false
			}
		}
	}
	top := labels[len(labels)-1][0]
	return top >= 'a' && top <= 'z' || top >= 'A' && top <= 'Z'
}

// CheckUser accepts an RFC 3261 user part: unreserved and
// user-unreserved characters, and %XX escapes.
func CheckUser(u string) error {
	if u == "" {
		return fmt.Errorf("the user part is empty")
	}
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch {
		case isAlnum(c) || strings.IndexByte("-_.!~*'()&=+$,;?/", c) >= 0:
		case c == '%' && i+2 < len(u) && isHex(u[i+1]) && isHex(u[i+2]):
			i += 2
		default:
			return fmt.Errorf("%q is not allowed in a SIP user part (write it as %%XX, %%%% in a pattern)", string(c))
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// AllDigits tells a non-empty string of ASCII digits.
func AllDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
