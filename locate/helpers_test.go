package locate

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/locate/dnstest"
)

// zone is a domain with every kind of record a SIP provider publishes:
// NAPTR for UDP, TCP and TLS, their SRV records, and the hosts.
var zone = []string{
	`example.test. 300 IN NAPTR 30 10 "S" "SIPS+D2T" "" _sips._tcp.example.test.`,
	`example.test. 300 IN NAPTR 10 10 "S" "SIP+D2U" "" _sip._udp.example.test.`,
	`example.test. 300 IN NAPTR 20 10 "S" "SIP+D2T" "" _sip._tcp.example.test.`,
	"_sip._udp.example.test. 60 IN SRV 10 1 5060 a.example.test.",
	"_sip._tcp.example.test. 60 IN SRV 10 1 5070 a.example.test.",
	"_sips._tcp.example.test. 60 IN SRV 10 1 5071 a.example.test.",
	"example.test. 30 IN A 192.0.2.10",
	"example.test. 30 IN AAAA 2001:db8::10",
	"a.example.test. 30 IN A 192.0.2.1",
}

func start(t *testing.T, records ...string) (*dnstest.Server, *Resolver) {
	t.Helper()
	s := dnstest.Start(t)
	if len(records) > 0 {
		s.Zone(records...)
	}
	return s, &Resolver{Server: s.Addr, Timeout: 300 * time.Millisecond}
}

func locate(t *testing.T, r *Resolver, q Query) Result {
	t.Helper()
	res, err := r.Locate(context.Background(), q)
	if err != nil {
		t.Fatalf("%+v: %v", q, err)
	}
	return res
}

// brief is a Result's targets as "transport addr name priority/weight",
// one string each, for comparing with a list.
func brief(res Result) []string {
	var out []string
	for _, t := range res.Targets {
		out = append(out, fmt.Sprintf("%s %s %s %d/%d", t.Transport, t.Addr, t.Name, t.Priority, t.Weight))
	}
	return out
}

func expect(t *testing.T, what string, res Result, want ...string) {
	t.Helper()
	if got := brief(res); !slices.Equal(got, want) {
		t.Errorf("%s:\n got  %s\n want %s", what, strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
}
