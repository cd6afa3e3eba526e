package runspec

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/locate"
)

// Finding the next hop as a gateway does (RFC 3263): a name becomes a list
// of servers through NAPTR, SRV and A/AAAA, spread over the NAPs by SRV
// weight, each NAP failing over along its own order.

// dnsTimeout bounds one resolution at start (every query of it).
const dnsTimeout = 5 * time.Second

// DNSUnavailable is a resolver that failed or did not answer at start:
// reported and retried (a name that does not exist is a usage error).
type DNSUnavailable struct {
	Flag, Host string
	Err        error
	Retry      time.Duration // when to try again
}

func (e *DNSUnavailable) Error() string {
	return fmt.Sprintf("%s: resolving %s: %v", e.Flag, e.Host, e.Err)
}

// located is where the NAPs send, as DNS gave it.
type located struct {
	targets   []engine.Target
	order     func(n uint64) []int
	transport string // the first target's: a NAPTR may have chosen it
	ttl       time.Duration
	again     engine.Resolver
}

// locateHop resolves hop (a name) with the transport given (or "", for
// NAPTR to choose), keeping the targets of the first one's transport and
// of the local address family fam (0: any). The result can resolve the
// name again while the run goes on (engine.Group.Resolve).
func locateHop(server string, retry time.Duration, flag string, hop locate.URI, transport string, fam int) (*located, error) {
	r := &locate.Resolver{Server: server}
	q := locate.Query{Host: hop.Host, Transport: transport, Secure: hop.Secure}
	if !hop.NoPort {
		q.Port = hop.Port
	}
	ctx, cancel := context.WithTimeout(context.Background(), dnsTimeout)
	defer cancel()
	loc, err := resolveHop(ctx, r, q, "", fam)
	switch {
	case errors.Is(err, locate.ErrNXDomain):
		return nil, usagef("%s: %s does not exist (DNS: NXDOMAIN)", flag, hop.Host)
	case errors.Is(err, locate.ErrNoAnswer):
		return nil, usagef("%s: %s has no SIP server (NAPTR, SRV) nor address records", flag, hop.Host)
	case errors.Is(err, locate.ErrServFail), errors.Is(err, locate.ErrTimeout):
		return nil, &DNSUnavailable{Flag: flag, Host: hop.Host, Err: err, Retry: retry}
	case errors.Is(err, errNoFamily):
		return nil, usagef("%s: %s has no IPv%d address, the family of --local-ip", flag, hop.Host, fam)
	case err != nil:
		return nil, usagef("%s: %v", flag, err)
	}
	chosen := loc.transport
	loc.again = func(ctx context.Context) ([]engine.Target, func(uint64) []int, time.Duration, error) {
		l, err := resolveHop(ctx, r, q, chosen, fam)
		if err != nil {
			return nil, nil, 0, err
		}
		return l.targets, l.order, l.ttl, nil
	}
	return loc, nil
}

var errNoFamily = errors.New("no address of the local family")

// resolveHop runs one resolution: the targets of one transport (keep, or
// the first target's) and family.
func resolveHop(ctx context.Context, r *locate.Resolver, q locate.Query, keep string, fam int) (*located, error) {
	res, err := r.Locate(ctx, q)
	if err != nil {
		return nil, err
	}
	var kept []locate.Target
	for _, t := range res.Targets {
		if keep == "" && len(kept) > 0 {
			keep = kept[0].Transport
		}
		if keep != "" && t.Transport != keep {
			continue // one transport per group: the first one's
		}
		if fam != 0 && family(t.Addr.Addr()) != fam {
			continue
		}
		kept = append(kept, t)
	}
	if len(kept) == 0 {
		if fam != 0 {
			return nil, errNoFamily
		}
		return nil, locate.ErrNoAnswer
	}
	res.Targets = kept
	l := &located{transport: kept[0].Transport, ttl: res.TTL, order: func(n uint64) []int { return locate.Order(res, n) }}
	for _, t := range kept {
		l.targets = append(l.targets, engine.Target{Addr: t.Addr.String(), Name: targetName(t)})
	}
	return l, nil
}

// targetName names a target in the counts: its SRV target (or host) and
// address, e.g. "sip1.example.test 10.0.0.1:5060".
func targetName(t locate.Target) string {
	name := strings.TrimSuffix(t.Name, ".")
	if name == "" || name == t.Addr.Addr().String() {
		return t.Addr.String()
	}
	return name + " " + t.Addr.String()
}

// isName tells a host name from an IP literal.
func isName(host string) bool {
	_, err := netip.ParseAddr(host)
	return err != nil
}
