package locate

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TTL is the smallest TTL of the records that made the result: here the
// NAPTR (300), SRV (60) and A (30) records give 30 s.
func TestTTLIsTheSmallestUsed(t *testing.T) {
	_, r := start(t, zone...)
	if res := locate(t, r, Query{Host: "example.test"}); res.TTL != 30*time.Second {
		t.Errorf("TTL %v, want 30s", res.TTL)
	}
	_, r = start(t, append(zone, "_sip._tcp.example.test. 7 IN SRV 10 1 5070 a.example.test.")...)
	if res := locate(t, r, Query{Host: "example.test", Transport: "tcp"}); res.TTL != 7*time.Second {
		t.Errorf("TTL %v, want 7s", res.TTL)
	}
}

// A negative answer that decided a fallback counts with its SOA's
// minimum (RFC 2308): an SRV record added later would change the result.
func TestTTLOfNegativeAnswer(t *testing.T) {
	_, r := start(t,
		"example.test. 3600 IN SOA ns.example.test. admin.example.test. 1 60 60 600 5",
		"example.test. 300 IN A 192.0.2.10",
		"example.test. 300 IN AAAA 2001:db8::10",
	)
	if res := locate(t, r, Query{Host: "example.test", Transport: "udp"}); res.TTL != 5*time.Second {
		t.Errorf("TTL %v, want 5s (the SOA minimum of the missing SRV)", res.TTL)
	}
	// With a port there is no negative answer to count.
	if res := locate(t, r, Query{Host: "example.test", Port: 5060}); res.TTL != 300*time.Second {
		t.Errorf("TTL %v, want 300s", res.TTL)
	}
}

// No cache here: a record changed with TTL 1 s is seen by the Locate the
// caller makes after the reported TTL.
func TestChangedRecordSeenAfterTTL(t *testing.T) {
	s, r := start(t,
		"_sip._udp.example.test. 60 IN SRV 10 1 5060 a.example.test.",
		"a.example.test. 1 IN A 192.0.2.1",
	)
	q := Query{Host: "example.test", Transport: "udp"}
	res := locate(t, r, q)
	expect(t, "before", res, "udp 192.0.2.1:5060 a.example.test 10/1")
	if res.TTL != time.Second {
		t.Fatalf("TTL %v, want 1s", res.TTL)
	}
	s.Zone("a.example.test. 1 IN A 192.0.2.2")
	time.Sleep(res.TTL)
	expect(t, "after the TTL", locate(t, r, q), "udp 192.0.2.2:5060 a.example.test 10/1")
	if n := s.Queries("a.example.test", dns.TypeA); n != 2 {
		t.Errorf("%d A queries, want 2", n)
	}
}
