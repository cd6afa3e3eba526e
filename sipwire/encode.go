package sipwire

import (
	"bytes"
	"strconv"
)

// Transport is the transport named in Via and in the Contact's transport=.
type Transport uint8

const (
	UDP Transport = iota
	TCP
	TLS
	WS  // SIP over WebSocket (RFC 7118)
	WSS // SIP over secure WebSocket
)

var transportNames = [...]struct{ via, param string }{
	UDP: {"UDP", "udp"}, TCP: {"TCP", "tcp"}, TLS: {"TLS", "tls"}, WS: {"WS", "ws"}, WSS: {"WSS", "wss"},
}

func (t Transport) via() string {
	if int(t) < len(transportNames) {
		return transportNames[t].via
	}
	return "UDP"
}

func (t Transport) param() string {
	if int(t) < len(transportNames) {
		return transportNames[t].param
	}
	return "udp"
}

// String returns the lower-case name ("udp", "tcp", "tls", "ws", "wss").
func (t Transport) String() string { return t.param() }

// Stream tells whether t runs over a connection (everything but UDP): no
// retransmissions, and a connection to make before sending.
func (t Transport) Stream() bool { return t != UDP }

// Secure tells whether t runs over TLS.
func (t Transport) Secure() bool { return t == TLS || t == WSS }

// TransportNames lists every transport's name, in order: the one list
// that flags, URIs and the registrar's listeners are checked against.
func TransportNames() []string {
	out := make([]string, len(transportNames))
	for t, n := range transportNames {
		out[t] = n.param
	}
	return out
}

// ParseTransport reads a lower-case transport name.
func ParseTransport(s string) (Transport, bool) {
	for t, n := range transportNames {
		if n.param == s {
			return Transport(t), true
		}
	}
	return UDP, false
}

// BranchPrefix starts every branch regstorm sends: the RFC 3261 magic
// cookie, then "rs" so that our own branches are recognisable on the wire.
const BranchPrefix = "z9hG4bKrs"

// branchLen is the length of a branch written by AppendBranch.
const branchLen = len(BranchPrefix) + 32

// AppendBranch appends BranchPrefix, salt and id as 16 hex digits each.
// The salt is random per run and differs per socket group, so that no two
// NAPs, sockets, processes or runs send the same branch (RFC 3261
// §8.1.1.7: a registrar may key its transactions on the branch alone);
// the id names the NAP and its transaction, so a response is routed back
// by ParseBranch with no map and no allocation.
func AppendBranch(dst []byte, salt, id uint64) []byte {
	dst = append(dst, BranchPrefix...)
	dst = appendHex64(dst, salt)
	return appendHex64(dst, id)
}

// ParseBranch recovers the salt and id from a branch written by
// AppendBranch.
func ParseBranch(branch []byte) (salt, id uint64, ok bool) {
	if len(branch) != branchLen || string(branch[:len(BranchPrefix)]) != BranchPrefix {
		return 0, 0, false
	}
	h := branch[len(BranchPrefix):]
	if salt, ok = parseHex64(h[:16]); !ok {
		return 0, 0, false
	}
	if id, ok = parseHex64(h[16:]); !ok {
		return 0, 0, false
	}
	return salt, id, true
}

// parseHex64 reads 16 lower-case hex digits.
func parseHex64(h []byte) (uint64, bool) {
	var v uint64
	for _, c := range h {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		default:
			return 0, false
		}
		v = v<<4 | uint64(d)
	}
	return v, true
}

const hexDigits = "0123456789abcdef"

func appendHex64(dst []byte, v uint64) []byte {
	for shift := 60; shift >= 0; shift -= 4 {
		dst = append(dst, hexDigits[(v>>uint(shift))&0xf])
	}
	return dst
}

// Register describes one REGISTER (or un-REGISTER) request. The byte
// slices are owned by the caller and only read.
type Register struct {
	Transport  Transport
	RequestURI []byte // e.g. "sip:example.com"; empty: "sip:" + Domain
	LocalHost  []byte // Via sent-by and Contact host (IPv6 without brackets)
	LocalPort  int
	BranchSalt uint64 // written with AppendBranch: the run's and socket group's salt
	Branch     uint64 // written with AppendBranch: the NAP and its transaction
	User       []byte // AOR user part (From, To, Contact)
	Domain     []byte // AOR host part
	FromTag    []byte
	CallID     []byte
	CSeq       uint32
	Expires    int64 // Contact ;expires=; 0 un-registers
	// ExpiresHeader also writes an Expires header with the same value
	// (always written for an un-REGISTER).
	ExpiresHeader bool
	// Auth is a complete "Authorization: Digest ..." (or
	// Proxy-Authorization) field without its CRLF, or several separated
	// by CRLF (a proxy's and the registrar's, RFC 3261 §22.3); empty for
	// none.
	Auth      []byte
	UserAgent []byte // empty: no User-Agent header
	// Route is a Route field's value, e.g. "<sip:proxy.example.com;lr>":
	// an outbound proxy (RFC 3261 §8.1.2); empty: no Route header.
	Route []byte
}

func appendHost(dst, host []byte) []byte {
	if bytes.IndexByte(host, ':') >= 0 && (len(host) == 0 || host[0] != '[') {
		dst = append(dst, '[')
		dst = append(dst, host...)
		return append(dst, ']')
	}
	return append(dst, host...)
}

func appendHostPort(dst, host []byte, port int) []byte {
	dst = appendHost(dst, host)
	if port > 0 {
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, int64(port), 10)
	}
	return dst
}

// AppendRegister writes r as a complete SIP message into dst and returns
// the extended slice. With enough capacity in dst it does not allocate.
func AppendRegister(dst []byte, r *Register) []byte {
	dst = appendStart(dst, "REGISTER ", r)
	dst = append(dst, "\r\nCall-ID: "...)
	dst = append(dst, r.CallID...)
	dst = append(dst, "\r\nCSeq: "...)
	dst = strconv.AppendUint(dst, uint64(r.CSeq), 10)
	dst = append(dst, " REGISTER\r\nContact: "...)
	dst = AppendContactURI(dst, r, true)
	dst = append(dst, ";expires="...)
	dst = strconv.AppendInt(dst, r.Expires, 10)
	if r.ExpiresHeader || r.Expires == 0 {
		dst = append(dst, "\r\nExpires: "...)
		dst = strconv.AppendInt(dst, r.Expires, 10)
	}
	if len(r.Auth) > 0 {
		dst = append(dst, "\r\n"...)
		dst = append(dst, r.Auth...)
	}
	if len(r.UserAgent) > 0 {
		dst = append(dst, "\r\nUser-Agent: "...)
		dst = append(dst, r.UserAgent...)
	}
	return append(dst, "\r\nContent-Length: 0\r\n\r\n"...)
}

// AppendRequestURI writes the Request-URI r is sent to: RequestURI, or
// "sip:" + Domain. Digest authentication signs these exact bytes.
func AppendRequestURI(dst []byte, r *Register) []byte {
	if len(r.RequestURI) > 0 {
		return append(dst, r.RequestURI...)
	}
	dst = append(dst, "sip:"...)
	return appendHost(dst, r.Domain)
}

func appendAOR(dst []byte, r *Register) []byte {
	dst = append(dst, "<sip:"...)
	dst = append(dst, r.User...)
	dst = append(dst, '@')
	dst = appendHost(dst, r.Domain)
	return append(dst, '>')
}

// AppendContactURI writes the Contact URI of r
// (sip:user@local-host:port;transport=x), inside <> when angle is set.
// The NAP layer uses the same bytes to find its binding in a 200 OK.
func AppendContactURI(dst []byte, r *Register, angle bool) []byte {
	if angle {
		dst = append(dst, '<')
	}
	dst = append(dst, "sip:"...)
	dst = append(dst, r.User...)
	dst = append(dst, '@')
	dst = appendHostPort(dst, r.LocalHost, r.LocalPort)
	dst = append(dst, ";transport="...)
	dst = append(dst, r.Transport.param()...)
	if angle {
		dst = append(dst, '>')
	}
	return dst
}

// AppendOptions writes an OPTIONS request from r's identity (RFC 3261
// §11): a keep-alive and liveness probe of the next hop. Its Call-ID is
// r's with "ka-" before it, its CSeq r.CSeq; no Contact, no body.
func AppendOptions(dst []byte, r *Register) []byte {
	dst = appendStart(dst, "OPTIONS ", r)
	dst = append(dst, "\r\nCall-ID: ka-"...)
	dst = append(dst, r.CallID...)
	dst = append(dst, "\r\nCSeq: "...)
	dst = strconv.AppendUint(dst, uint64(r.CSeq), 10)
	dst = append(dst, " OPTIONS\r\nAccept: application/sdp\r\n"...)
	if len(r.UserAgent) > 0 {
		dst = append(dst, "User-Agent: "...)
		dst = append(dst, r.UserAgent...)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "Content-Length: 0\r\n\r\n"...)
}

// appendStart writes a request's first lines, the same for a REGISTER and
// an OPTIONS: the request line, Via, Max-Forwards, Route, From and To
// (without the To line's CRLF).
func appendStart(dst []byte, method string, r *Register) []byte {
	dst = append(dst, method...)
	dst = AppendRequestURI(dst, r)
	dst = append(dst, " SIP/2.0\r\nVia: SIP/2.0/"...)
	dst = append(dst, r.Transport.via()...)
	dst = append(dst, ' ')
	dst = appendHostPort(dst, r.LocalHost, r.LocalPort)
	dst = append(dst, ";rport;branch="...)
	dst = AppendBranch(dst, r.BranchSalt, r.Branch)
	dst = append(dst, "\r\nMax-Forwards: 70\r\n"...)
	if len(r.Route) > 0 {
		dst = append(dst, "Route: "...)
		dst = append(dst, r.Route...)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "From: "...)
	dst = appendAOR(dst, r)
	dst = append(dst, ";tag="...)
	dst = append(dst, r.FromTag...)
	dst = append(dst, "\r\nTo: "...)
	return appendAOR(dst, r)
}
