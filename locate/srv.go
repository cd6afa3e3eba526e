package locate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// srvName is the SRV name of a transport at host (RFC 3263 §4.2: "_sips"
// for TLS, which runs over TCP).
func srvName(transport, host string) string {
	switch transport {
	case "udp":
		return "_sip._udp." + host
	case "tcp":
		return "_sip._tcp." + host
	}
	return "_sips._tcp." + host
}

// srv resolves the SRV records at name into targets, in priority order.
// found is false when there are none, so that the caller may fall back;
// then err is set only if the query itself failed. When found but no
// target has an address, err says why.
func (l *lookup) srv(ctx context.Context, name, transport string) (ts []Target, found bool, err error) {
	rrs, err := l.query(ctx, name, dns.TypeSRV)
	if errors.Is(err, ErrNXDomain) {
		return nil, false, nil // no such service name: no SRV, not a missing host
	}
	if err != nil {
		return nil, false, err
	}
	var recs []*dns.SRV
	for _, rr := range rrs {
		if s := rr.(*dns.SRV); s.Target != "." {
			recs = append(recs, s)
		}
	}
	if len(rrs) == 0 {
		return nil, false, nil
	}
	if len(recs) == 0 {
		return nil, true, fmt.Errorf("SRV %s: %w (the service is not available there: target \".\")", name, ErrNoAnswer)
	}
	// Servers may rotate an RRset; a fixed order keeps Order's choice
	// for a NAP the same from one resolution to the next.
	slices.SortFunc(recs, func(a, b *dns.SRV) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), cmp.Compare(b.Weight, a.Weight),
			strings.Compare(strings.ToLower(a.Target), strings.ToLower(b.Target)), cmp.Compare(a.Port, b.Port))
	})
	var why error
	for _, s := range recs {
		got, err := l.addresses(ctx, s.Target, transport, int(s.Port), s.Priority, s.Weight)
		if err != nil {
			why = worse(why, err)
			continue
		}
		ts = append(ts, got...)
	}
	if len(ts) == 0 {
		if !hard(why) {
			// %v, not %w: a target's NXDOMAIN is not the host's.
			why = fmt.Errorf("SRV %s: %w (%v)", name, ErrNoAnswer, why)
		}
		return nil, true, why
	}
	return ts, true, nil
}

// addresses resolves name's A and AAAA records into targets at port:
// IPv4 first, each family sorted. Records from an additional section are
// used as they are, without asking for the other family.
func (l *lookup) addresses(ctx context.Context, name, transport string, port int, prio, weight uint16) ([]Target, error) {
	name = strings.ToLower(dns.Fqdn(name))
	var v4, v6 []netip.Addr
	_, have4 := l.extra[rrKey{name, dns.TypeA}]
	_, have6 := l.extra[rrKey{name, dns.TypeAAAA}]
	var err4, err6 error
	if have4 || have6 {
		v4, _ = l.addrs(ctx, name, dns.TypeA, have4)
		v6, _ = l.addrs(ctx, name, dns.TypeAAAA, have6)
	} else {
		v4, err4 = l.addrs(ctx, name, dns.TypeA, true)
		if errors.Is(err4, ErrNXDomain) {
			return nil, err4 // the name does not exist for AAAA either (RFC 8020)
		}
		v6, err6 = l.addrs(ctx, name, dns.TypeAAAA, true)
	}
	if len(v4)+len(v6) == 0 {
		if err := worse(err4, err6); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("A/AAAA %s: %w", name, ErrNoAnswer)
	}
	display := strings.TrimSuffix(name, ".")
	var ts []Target
	for _, a := range append(v4, v6...) {
		ts = append(ts, Target{Transport: transport, Addr: netip.AddrPortFrom(a, uint16(port)), Name: display, Priority: prio, Weight: weight})
	}
	return ts, nil
}

// addrs is the sorted addresses of one family; ask false gives none.
func (l *lookup) addrs(ctx context.Context, name string, qtype uint16, ask bool) ([]netip.Addr, error) {
	if !ask {
		return nil, nil
	}
	rrs, err := l.query(ctx, name, qtype)
	var out []netip.Addr
	for _, rr := range rrs {
		var ip []byte
		switch rr := rr.(type) {
		case *dns.A:
			ip = rr.A
		case *dns.AAAA:
			ip = rr.AAAA
		}
		if a, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, a.Unmap())
		}
	}
	return uniq(out), err
}

// worse is the error more worth reporting: a failed or silent server
// says more than a missing record.
func worse(a, b error) error {
	if a == nil || (hard(b) && !hard(a)) {
		return b
	}
	return a
}
