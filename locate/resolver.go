package locate

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// Resolver finds SIP targets through one DNS server or the system's.
// The zero value uses /etc/resolv.conf's servers.
type Resolver struct {
	// Server is the "host:port" of the DNS server (port 53 if left out);
	// "" uses the nameservers of /etc/resolv.conf, read at every Locate.
	Server string
	// Timeout bounds one query to one server (2 s if 0). A query is tried
	// twice on the given Server, or resolv.conf's attempts times over its
	// servers.
	Timeout time.Duration
}

// Locate resolves q as RFC 3263 §4 says. Which records it asks for:
//   - an IP literal: none; the given transport or UDP (TLS for sips),
//     the given port or the transport's default;
//   - a port, or ws/wss: A and AAAA of the host, at the port given or the
//     default one, over the transport given or UDP (TLS for sips);
//   - a transport: its SRV records, or, if there are none, the host's
//     A and AAAA at the default port;
//   - neither: NAPTR, then SRV, then A and AAAA (viaNAPTR).
//
// A failed or silent server stops it wherever it happens in NAPTR or SRV,
// since what it would have said decides the transport; a failure for one
// target's address only drops that target, unless no target is left.
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
		port = defaultPort(transport)
	}
	if p.ip.IsValid() {
		return Result{Targets: []Target{{Transport: transport, Addr: netip.AddrPortFrom(p.ip, uint16(port)), Name: p.ip.String()}}}, nil
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
