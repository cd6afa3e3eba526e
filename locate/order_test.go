package locate

import (
	"net/netip"
	"slices"
	"testing"
)

func target(transport, addr, name string, prio, weight uint16) Target {
	return Target{Transport: transport, Addr: netip.MustParseAddrPort(addr), Name: name, Priority: prio, Weight: weight}
}

// firsts counts, over NAPs 0..naps-1, which name each NAP tries first,
// and checks that every order is a permutation of the targets.
func firsts(t *testing.T, res Result, naps uint64) map[string]int {
	t.Helper()
	count := map[string]int{}
	for n := range naps {
		o := Order(res, n)
		sorted := slices.Sorted(slices.Values(o))
		for i, v := range sorted {
			if i != v {
				t.Fatalf("NAP %d: order %v is not a permutation of %d targets", n, o, len(res.Targets))
			}
		}
		if len(o) != len(res.Targets) {
			t.Fatalf("NAP %d: order %v, %d targets", n, o, len(res.Targets))
		}
		count[res.Targets[o[0]].Name]++
	}
	return count
}

// SRV weights 3:1 at the best priority: of 400 NAPs exactly 300 start at
// a and 100 at b, each then tries the other, and the lower priority
// target c always comes last. End to end, from the DNS records.
func TestOrderWeights3To1(t *testing.T) {
	_, r := start(t,
		"_sip._udp.example.test. 60 IN SRV 20 5 5060 c.example.test.",
		"_sip._udp.example.test. 60 IN SRV 10 1 5060 b.example.test.",
		"_sip._udp.example.test. 60 IN SRV 10 3 5060 a.example.test.",
		"a.example.test. 30 IN A 192.0.2.1",
		"b.example.test. 30 IN A 192.0.2.2",
		"c.example.test. 30 IN A 192.0.2.3",
	)
	res := locate(t, r, Query{Host: "example.test", Transport: "udp"})
	if got := firsts(t, res, 400); got["a.example.test"] != 300 || got["b.example.test"] != 100 || len(got) != 2 {
		t.Errorf("first targets %v, want a 300, b 100", got)
	}
	for n := range uint64(400) {
		o := Order(res, n)
		if res.Targets[o[2]].Name != "c.example.test" {
			t.Fatalf("NAP %d: %v, c not last", n, o)
		}
	}
	// Consecutive NAPs are interleaved, not in blocks of three a's.
	var run []string
	for n := range uint64(4) {
		run = append(run, res.Targets[Order(res, n)[0]].Name)
	}
	if !slices.Contains(run, "b.example.test") {
		t.Errorf("NAPs 0-3 start at %v", run)
	}
	// The same records give the same order: a NAP stays where it was.
	again := locate(t, r, Query{Host: "example.test", Transport: "udp"})
	for n := range uint64(50) {
		if !slices.Equal(Order(res, n), Order(again, n)) {
			t.Fatalf("NAP %d moved between two resolutions", n)
		}
	}
}

// Any total weight: every W consecutive NAPs follow the weights exactly,
// wherever the run of NAPs starts.
func TestOrderExactOverAnyWindow(t *testing.T) {
	res := Result{Targets: []Target{
		target("udp", "192.0.2.1:5060", "a", 10, 60),
		target("udp", "192.0.2.2:5060", "b", 10, 30),
		target("udp", "192.0.2.3:5060", "c", 10, 7),
	}}
	for _, from := range []uint64{0, 1, 12345} {
		count := map[string]int{}
		for n := from; n < from+97*3; n++ {
			count[res.Targets[Order(res, n)[0]].Name]++
		}
		if count["a"] != 180 || count["b"] != 90 || count["c"] != 21 {
			t.Errorf("from %d: %v, want a 180, b 90, c 21", from, count)
		}
	}
}

// All weights 0: the records share the NAPs equally. A weight 0 among
// others is never first (RFC 2782 gives it "a very small chance").
func TestOrderZeroWeights(t *testing.T) {
	res := Result{Targets: []Target{
		target("udp", "192.0.2.1:5060", "a", 10, 0),
		target("udp", "192.0.2.2:5060", "b", 10, 0),
		target("udp", "192.0.2.3:5060", "c", 10, 0),
	}}
	if got := firsts(t, res, 300); got["a"] != 100 || got["b"] != 100 || got["c"] != 100 {
		t.Errorf("equal zero weights: %v", got)
	}
	res.Targets[0].Weight = 1
	if got := firsts(t, res, 30); got["a"] != 30 {
		t.Errorf("one weight 1 among zeros: %v", got)
	}
}

// The addresses of one name: NAPs spread over its IPv4 addresses (as
// resolvers rotating A records would spread gateways), and its IPv6 ones
// always come after them.
func TestOrderSpreadsOverAddresses(t *testing.T) {
	res := Result{Targets: []Target{
		target("udp", "192.0.2.1:5060", "h", 0, 0),
		target("udp", "192.0.2.2:5060", "h", 0, 0),
		target("udp", "[2001:db8::1]:5060", "h", 0, 0),
	}}
	count := map[int]int{}
	for n := range uint64(100) {
		o := Order(res, n)
		count[o[0]]++
		if o[2] != 2 {
			t.Fatalf("NAP %d: %v, IPv6 not last", n, o)
		}
	}
	if count[0] != 50 || count[1] != 50 {
		t.Errorf("first addresses %v, want 50/50", count)
	}
}

// Tiers follow the Result: a NAPTR's UDP targets all come before its TCP
// ones, though their SRV priorities are equal.
func TestOrderKeepsTiers(t *testing.T) {
	res := Result{Targets: []Target{
		target("udp", "192.0.2.1:5060", "a", 10, 1),
		target("udp", "192.0.2.2:5060", "b", 10, 1),
		target("tcp", "192.0.2.1:5060", "a", 10, 1),
		target("tcp", "192.0.2.2:5060", "b", 10, 1),
	}}
	for n := range uint64(10) {
		o := Order(res, n)
		if o[0] > 1 || o[1] > 1 || o[2] < 2 || o[3] < 2 || o[2] != o[0]+2 {
			t.Errorf("NAP %d: %v", n, o)
		}
	}
	if got := Order(Result{}, 7); len(got) != 0 {
		t.Errorf("no targets: %v", got)
	}
}
