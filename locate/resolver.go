package locate

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Resolver finds SIP targets through one DNS server or the system's. It
// holds no state: one may serve many goroutines.
type Resolver struct {
	// Server is the "host:port" of the DNS server (port 53 if left out).
	// "" is the system's: the nameservers of /etc/resolv.conf, read at
	// every Locate, after the names of /etc/hosts.
	Server string
	// Timeout bounds one query to one server (2 s if 0). A query is tried
	// twice on the given Server, or resolv.conf's attempts times over its
	// servers.
	Timeout time.Duration

	hosts string // the hosts file when Server is ""; tests set their own
}

// Locate resolves q as RFC 3263 §4 says:
//   - an IP literal: no DNS; the given transport or UDP (TLS for sips),
//     the given port or the transport's default;
//   - a port given, or ws/wss: the host's A and AAAA records, at the port
//     given or the default one, over the transport given or UDP (TLS for
//     sips);
//   - a transport given: its SRV records ("_sips._tcp" for TLS), or, with
//     none, the host's A and AAAA at the default port;
//   - neither: NAPTR records (SIP+D2U, SIP+D2T, SIPS+D2T; only SIPS+D2T
//     for sips) to their SRV records; with no such NAPTR, the SRV records
//     of _sip._udp, _sip._tcp and _sips._tcp (only _sips._tcp for sips)
//     that exist; with none, the host's A and AAAA, UDP (TLS) at the
//     default port.
//
// A failed or silent server stops it wherever it happens in NAPTR or SRV,
// since what it would have said decides the transport; a failure for one
// target's address only drops that target, unless no target is left.
// An SRV record whose target has no address is dropped likewise.
func (r *Resolver) Locate(ctx context.Context, q Query) (Result, error) {
	p, err := q.plan()
	if err != nil {
		return Result{}, err
	}
	transport := p.transport
	if transport == "" {
		transport = p.fallback
	}
	port := p.port
	if port == 0 {
		port = DefaultPort(transport)
	}
	if p.ip.IsValid() {
		return direct([]netip.Addr{p.ip}, p.ip.String(), transport, port), nil
	}
	if r.Server == "" {
		if addrs := fromHosts(cmp.Or(r.hosts, "/etc/hosts"), p.host); len(addrs) > 0 {
			return direct(addrs, strings.TrimSuffix(p.host, "."), transport, port), nil
		}
	}
	servers, tries, err := servers(r.Server)
	if err != nil {
		return Result{}, err
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	l := newLookup(servers, timeout, tries)
	var ts []Target
	switch {
	case p.port != 0 || transport == "ws" || transport == "wss":
		ts, err = l.addresses(ctx, p.host, transport, port, 0, 0)
	case p.transport != "":
		var found bool
		ts, found, err = l.srv(ctx, srvName(transport, p.host), transport)
		if !found && err == nil {
			ts, err = l.addresses(ctx, p.host, transport, port, 0, 0)
		}
	default:
		ts, err = l.viaNAPTR(ctx, p)
	}
	if err != nil {
		return Result{}, fmt.Errorf("locate %s: %w", q.Host, err)
	}
	return Result{Targets: ts, TTL: l.ttl()}, nil
}

// direct is the result for addresses known without DNS: nothing to
// resolve again, so TTL 0.
func direct(addrs []netip.Addr, name, transport string, port int) Result {
	var res Result
	for _, a := range addrs {
		res.Targets = append(res.Targets, Target{Transport: transport, Addr: netip.AddrPortFrom(a, uint16(port)), Name: name})
	}
	return res
}
