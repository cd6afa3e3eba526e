// Package locate finds where a SIP request for a URI goes, as RFC 3263 §4
// says: an IP literal as it is; a name through NAPTR, SRV and A/AAAA, to a
// list of (transport, address, port) in the order a client tries them.
// It keeps no cache: the caller resolves again after Result.TTL.
package locate

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/regstorm/regstorm/sipwire"
)

// Query is the part of a SIP URI (and of the command line) that says
// where to send.
type Query struct {
	Host      string // a name or an IP literal (brackets are allowed and dropped)
	Port      int    // 0: not given in the URI
	Transport string // "udp", "tcp", "tls", "ws", "wss"; "" when not given
	Secure    bool   // a sips: URI
}

// Target is one place to send to.
type Target struct {
	// Transport is "udp", "tcp" or "tls", or "ws"/"wss" when the query
	// named them: NAPTR and SRV lead only to the first three.
	Transport string
	Addr      netip.AddrPort
	// Name is the SRV target, or the queried host, the address came from.
	Name string
	// Priority and Weight are the SRV record's; 0, 0 without SRV.
	Priority, Weight uint16
}

// Result is what a Locate found.
type Result struct {
	// Targets are in RFC 3263 order: NAPTR order and preference, then SRV
	// priority. Within one SRV record the IPv4 addresses come first, then
	// the IPv6 ones, each a Target of its own with the record's priority
	// and weight. Records of one priority are sorted by weight (heaviest
	// first), then name, not left in the server's order, so that the same
	// records give the same list and Order keeps a NAP where it was.
	Targets []Target
	// TTL is the smallest TTL of the records used (and of the SOA of a
	// negative answer that decided a fallback): resolve again after it.
	// 0 for an IP literal or a name of /etc/hosts: nothing to resolve
	// again. (A record with TTL 0 gives 0 too; the caller may want a floor.)
	TTL time.Duration
}

// plan is a Query checked and made explicit.
type plan struct {
	host      string     // fully qualified, lower case; "" for an IP literal
	ip        netip.Addr // valid for an IP literal
	port      int        // 0: not given
	transport string     // "": NAPTR or SRV choose
	fallback  string     // the transport when nothing chooses: UDP, TLS for sips
	secure    bool
}

func (q Query) plan() (plan, error) {
	p := plan{port: q.Port, transport: strings.ToLower(q.Transport), secure: q.Secure, fallback: "udp"}
	if q.Secure {
		p.fallback = "tls"
		// sips: with ;transport=tcp (or ws) means TLS over it (RFC 3261 §26.2.2, RFC 7118).
		switch p.transport {
		case "tcp":
			p.transport = "tls"
		case "ws":
			p.transport = "wss"
		case "udp":
			return p, fmt.Errorf("locate %s: a sips: URI cannot go over UDP", q.Host)
		}
	}
	if _, ok := sipwire.ParseTransport(p.transport); !ok && p.transport != "" {
		return p, fmt.Errorf("locate %s: unknown transport %q (known: %s)", q.Host, q.Transport, strings.Join(sipwire.TransportNames(), ", "))
	}
	if q.Port < 0 || q.Port > 65535 {
		return p, fmt.Errorf("locate %s: port %d out of range", q.Host, q.Port)
	}
	host := strings.TrimSuffix(strings.TrimPrefix(q.Host, "["), "]")
	if host == "" {
		return p, fmt.Errorf("locate: no host")
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		p.ip = ip.Unmap()
		return p, nil
	}
	p.host = strings.ToLower(strings.TrimSuffix(host, ".")) + "."
	return p, nil
}

// DefaultPort is the port for a transport when neither the URI nor SRV
// gives one (RFC 3261 §19.1.2, RFC 7118 for WebSocket).
func DefaultPort(transport string) int {
	switch transport {
	case "tls":
		return 5061
	case "ws":
		return 80
	case "wss":
		return 443
	}
	return 5060
}
