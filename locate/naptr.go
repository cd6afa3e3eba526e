package locate

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// naptrTransport is the transport of a NAPTR service that Locate follows
// (RFC 3263 §4.1): a sips: URI only follows SIPS+D2T. SCTP (D2S) and
// WebSocket (D2W) services are skipped: regstorm has no SCTP, and opens
// WebSockets only to a URL it was given.
func naptrTransport(service string, secure bool) (string, bool) {
	switch strings.ToUpper(service) {
	case "SIP+D2U":
		return "udp", !secure
	case "SIP+D2T":
		return "tcp", !secure
	case "SIPS+D2T":
		return "tls", true
	}
	return "", false
}

// viaNAPTR is RFC 3263 §4.1 for a name with neither transport nor port:
// every NAPTR record it can follow, in order and preference, to its SRV
// records; without such records, SRV per transport, then the host itself.
func (l *lookup) viaNAPTR(ctx context.Context, p plan) ([]Target, error) {
	rrs, err := l.query(ctx, p.host, dns.TypeNAPTR)
	if err != nil {
		return nil, err
	}
	var recs []*dns.NAPTR
	for _, rr := range rrs {
		n := rr.(*dns.NAPTR)
		if _, ok := naptrTransport(n.Service, p.secure); ok && strings.EqualFold(n.Flags, "s") && n.Replacement != "." {
			recs = append(recs, n)
		}
	}
	if len(recs) == 0 {
		return l.withoutNAPTR(ctx, p)
	}
	slices.SortFunc(recs, func(a, b *dns.NAPTR) int {
		return cmp.Or(cmp.Compare(a.Order, b.Order), cmp.Compare(a.Preference, b.Preference),
			strings.Compare(strings.ToLower(a.Replacement), strings.ToLower(b.Replacement)))
	})
	var ts []Target
	var why error
	seen := map[string]bool{}
	for _, n := range recs {
		name := strings.ToLower(dns.Fqdn(n.Replacement))
		if seen[name] {
			continue
		}
		seen[name] = true
		transport, _ := naptrTransport(n.Service, p.secure)
		got, found, err := l.srv(ctx, name, transport)
		switch {
		case err != nil && !found:
			return nil, err
		case !found:
			why = worse(why, fmt.Errorf("NAPTR %s %s: SRV %s: %w", p.host, n.Service, name, ErrNoAnswer))
		case err != nil:
			why = worse(why, err)
		}
		ts = append(ts, got...)
	}
	if len(ts) == 0 {
		return nil, why
	}
	return ts, nil
}

// withoutNAPTR asks for the SRV records of every transport a URI may use
// (RFC 3263 §4.1: "_sips" only for sips:) and keeps all that exist; with
// none, the host's addresses at the default port of UDP (TLS for sips).
func (l *lookup) withoutNAPTR(ctx context.Context, p plan) ([]Target, error) {
	transports := []string{"udp", "tcp", "tls"}
	if p.secure {
		transports = []string{"tls"}
	}
	var ts []Target
	var why error
	anyFound := false
	for _, transport := range transports {
		got, found, err := l.srv(ctx, srvName(transport, p.host), transport)
		if err != nil && !found {
			return nil, err
		}
		anyFound = anyFound || found
		why = worse(why, err)
		ts = append(ts, got...)
	}
	switch {
	case len(ts) > 0:
		return ts, nil
	case anyFound:
		return nil, why
	}
	return l.addresses(ctx, p.host, p.fallback, DefaultPort(p.fallback), 0, 0)
}
