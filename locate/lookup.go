package locate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// lookup is one Locate's conversation with DNS: the servers it asks, the
// records that additional sections already gave, and the smallest TTL
// of what it used.
type lookup struct {
	servers []string
	timeout time.Duration
	tries   int
	extra   map[rrKey][]dns.RR
	minTTL  uint32
}

type rrKey struct {
	name  string // lower case, fully qualified
	qtype uint16
}

func newLookup(servers []string, timeout time.Duration, tries int) *lookup {
	return &lookup{servers: servers, timeout: timeout, tries: tries, extra: map[rrKey][]dns.RR{}, minTTL: math.MaxUint32}
}

func (l *lookup) ttl() time.Duration {
	if l.minTTL == math.MaxUint32 {
		return 0
	}
	return time.Duration(l.minTTL) * time.Second
}

func (l *lookup) use(ttl uint32) { l.minTTL = min(l.minTTL, ttl) }

// query asks for the records of qtype at name. No records and no error is
// NODATA; a nonexistent name wraps ErrNXDomain. The TTLs of what it
// returns count towards the result's.
func (l *lookup) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	name = strings.ToLower(name)
	if rrs, ok := l.extra[rrKey{name, qtype}]; ok {
		for _, rr := range rrs {
			l.use(rr.Header().Ttl)
		}
		return rrs, nil
	}
	what := dns.TypeToString[qtype] + " " + name
	m := new(dns.Msg).SetQuestion(name, qtype)
	m.SetEdns0(1232, false) // the size that avoids fragmentation (DNS flag day 2020)
	r, err := l.exchange(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	switch r.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		l.negative(r)
		return nil, fmt.Errorf("%s: %w", what, ErrNXDomain)
	case dns.RcodeServerFailure:
		return nil, fmt.Errorf("%s: %w", what, ErrServFail)
	default:
		return nil, fmt.Errorf("%s: %w (%s)", what, ErrServFail, dns.RcodeToString[r.Rcode])
	}
	var out []dns.RR
	for _, rr := range r.Answer {
		switch h := rr.Header(); {
		case h.Rrtype == qtype:
			out = append(out, rr)
			l.use(h.Ttl)
		case h.Rrtype == dns.TypeCNAME:
			l.use(h.Ttl) // the chain is part of the answer's life
		}
	}
	if len(out) == 0 {
		l.negative(r)
	}
	l.remember(r.Extra)
	return out, nil
}

// negative counts the TTL of a negative answer (RFC 2308: the SOA's
// minimum, capped by its own TTL) when the server sends the SOA, since a
// record that appears later may change the result.
func (l *lookup) negative(r *dns.Msg) {
	for _, rr := range r.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			l.use(min(soa.Hdr.Ttl, soa.Minttl))
		}
	}
}

// remember keeps the SRV, A and AAAA records of an additional section, so
// that the queries they answer are not sent (RFC 2782, RFC 3263 §4.1).
func (l *lookup) remember(extra []dns.RR) {
	fresh := map[rrKey][]dns.RR{}
	for _, rr := range extra {
		h := rr.Header()
		switch h.Rrtype {
		case dns.TypeSRV, dns.TypeA, dns.TypeAAAA:
			k := rrKey{strings.ToLower(h.Name), h.Rrtype}
			if _, known := l.extra[k]; !known {
				fresh[k] = append(fresh[k], rr)
			}
		}
	}
	for k, rrs := range fresh {
		l.extra[k] = rrs
	}
}

// exchange sends m, over TCP again if the UDP answer was truncated, and
// tries the next server (or the same one again) when one does not answer
// or fails.
func (l *lookup) exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	var last error
	for i := range l.tries {
		server := l.servers[i%len(l.servers)]
		c := &dns.Client{Net: "udp", Timeout: l.timeout, UDPSize: 1232}
		r, _, err := c.ExchangeContext(ctx, m, server)
		if err == nil && r.Truncated {
			c.Net = "tcp"
			r, _, err = c.ExchangeContext(ctx, m, server)
		}
		if ctx.Err() != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
			}
			return nil, ctx.Err()
		}
		if err != nil {
			last = fmt.Errorf("%w (%s: %v)", ErrTimeout, server, err)
			continue
		}
		// Another server may succeed where one failed; the same one again
		// would only fail again.
		if r.Rcode == dns.RcodeServerFailure || r.Rcode == dns.RcodeRefused {
			if i+1 < len(l.servers) && i+1 < l.tries {
				continue
			}
		}
		return r, nil
	}
	return nil, last
}

// hard says whether err stops a Locate: the server failed or did not
// answer, so the records that decide the transport and the targets are
// unknown, and going on would quietly pick others.
func hard(err error) bool {
	return errors.Is(err, ErrServFail) || errors.Is(err, ErrTimeout) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// servers is where queries go: the Resolver's, or resolv.conf's.
func servers(server string) ([]string, int, error) {
	if server != "" {
		if _, _, err := net.SplitHostPort(server); err != nil {
			server = net.JoinHostPort(server, "53")
		}
		return []string{server}, 2, nil
	}
	conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return nil, 0, fmt.Errorf("locate: the system's DNS servers: %w", err)
	}
	if len(conf.Servers) == 0 {
		return nil, 0, fmt.Errorf("locate: no nameserver in /etc/resolv.conf")
	}
	var out []string
	for _, s := range conf.Servers {
		out = append(out, net.JoinHostPort(s, conf.Port))
	}
	return out, max(conf.Attempts, 1) * len(out), nil
}
