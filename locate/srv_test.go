package locate

import (
	"errors"
	"testing"

	"github.com/miekg/dns"
	"github.com/regstorm/regstorm/locate/dnstest"
)

// SRV records come out by priority, then weight, then name, whatever
// order the server sends them in; every address of a target is a Target
// with the record's priority and weight, IPv4 first.
func TestSRVPriorityAndFamilies(t *testing.T) {
	_, r := start(t,
		"_sip._udp.example.test. 60 IN SRV 20 0 5062 c.example.test.",
		"_sip._udp.example.test. 60 IN SRV 10 1 5061 b.example.test.",
		"_sip._udp.example.test. 60 IN SRV 10 3 5060 a.example.test.",
		"a.example.test. 30 IN AAAA 2001:db8::1",
		"a.example.test. 30 IN A 192.0.2.1",
		"b.example.test. 30 IN A 192.0.2.2",
		"c.example.test. 30 IN AAAA 2001:db8::3",
	)
	expect(t, "udp", locate(t, r, Query{Host: "example.test", Transport: "udp"}),
		"udp 192.0.2.1:5060 a.example.test 10/3",
		"udp [2001:db8::1]:5060 a.example.test 10/3",
		"udp 192.0.2.2:5061 b.example.test 10/1",
		"udp [2001:db8::3]:5062 c.example.test 20/0")
}

// A single SRV record whose target is "." says the service is not there
// (RFC 2782): no fallback to the host's addresses.
func TestSRVDotMeansNotAvailable(t *testing.T) {
	_, r := start(t,
		"_sip._udp.example.test. 60 IN SRV 0 0 0 .",
		"_sip._tcp.example.test. 60 IN SRV 10 1 5070 a.example.test.",
		"a.example.test. 30 IN A 192.0.2.1",
		"example.test. 30 IN A 192.0.2.10",
	)
	_, err := r.Locate(t.Context(), Query{Host: "example.test", Transport: "udp"})
	if !errors.Is(err, ErrNoAnswer) {
		t.Errorf("udp: %v, want ErrNoAnswer", err)
	}
	// Without NAPTR, the transports that are there are used.
	expect(t, "sip:", locate(t, r, Query{Host: "example.test"}), "tcp 192.0.2.1:5070 a.example.test 10/1")
}

// A target without addresses is dropped while others have some.
func TestSRVTargetWithoutAddressIsDropped(t *testing.T) {
	_, r := start(t,
		"_sip._udp.example.test. 60 IN SRV 10 1 5060 gone.example.test.",
		"_sip._udp.example.test. 60 IN SRV 20 1 5060 a.example.test.",
		"a.example.test. 30 IN A 192.0.2.1",
	)
	expect(t, "udp", locate(t, r, Query{Host: "example.test", Transport: "udp"}), "udp 192.0.2.1:5060 a.example.test 20/1")
}

// A target whose address query fails is dropped too when another target
// answers; alone, its failure is the error.
func TestSRVTargetFailureIsDroppedUnlessAlone(t *testing.T) {
	s, r := start(t,
		"_sip._udp.example.test. 60 IN SRV 10 1 5060 a.example.test.",
		"_sip._udp.example.test. 60 IN SRV 20 1 5060 b.example.test.",
		"a.example.test. 30 IN A 192.0.2.1",
		"b.example.test. 30 IN A 192.0.2.2",
	)
	s.Fail("a.example.test", 0, dnstest.ServFail)
	expect(t, "udp", locate(t, r, Query{Host: "example.test", Transport: "udp"}), "udp 192.0.2.2:5060 b.example.test 20/1")
	s.Fail("b.example.test", 0, dnstest.ServFail)
	if _, err := r.Locate(t.Context(), Query{Host: "example.test", Transport: "udp"}); !errors.Is(err, ErrServFail) {
		t.Errorf("both targets failing: %v, want ErrServFail", err)
	}
}

// The additional section, when the server fills it, saves the SRV and
// address queries (RFC 3263 §4.1, RFC 2782) and gives the same result.
func TestAdditionalSectionIsUsed(t *testing.T) {
	s, r := start(t, zone...)
	s.Zone("a.example.test. 30 IN AAAA 2001:db8::1")
	want := brief(locate(t, r, Query{Host: "example.test"}))
	s2, r2 := start(t, zone...)
	s2.Zone("a.example.test. 30 IN AAAA 2001:db8::1")
	s2.Additional(true)
	expect(t, "with additional records", locate(t, r2, Query{Host: "example.test"}), want...)
	if n := s2.Queries("_sip._udp.example.test", 0) + s2.Queries("_sip._tcp.example.test", 0) + s2.Queries("a.example.test", 0); n != 0 {
		t.Errorf("%d SRV/address queries although the NAPTR answer held them", n)
	}
	if n := s2.Queries("example.test", dns.TypeNAPTR); n != 1 {
		t.Errorf("%d NAPTR queries, want 1", n)
	}
}

// A truncated UDP answer is asked again over TCP.
func TestTruncatedAnswerRetriedOverTCP(t *testing.T) {
	s, r := start(t, zone...)
	s.Truncate(true)
	expect(t, "over TCP", locate(t, r, Query{Host: "example.test", Transport: "tcp"}), "tcp 192.0.2.1:5070 a.example.test 10/1")
}

// IPv6-only targets: AAAA records alone give targets, with the SRV port.
func TestIPv6Targets(t *testing.T) {
	_, r := start(t,
		"_sips._tcp.example.test. 60 IN SRV 10 1 5061 v6.example.test.",
		"v6.example.test. 30 IN AAAA 2001:db8::6",
		"v6.example.test. 30 IN AAAA 2001:db8::5",
	)
	expect(t, "sips:", locate(t, r, Query{Host: "example.test", Secure: true}),
		"tls [2001:db8::5]:5061 v6.example.test 10/1",
		"tls [2001:db8::6]:5061 v6.example.test 10/1")
	expect(t, "port", locate(t, r, Query{Host: "v6.example.test", Port: 5080}),
		"udp [2001:db8::5]:5080 v6.example.test 0/0",
		"udp [2001:db8::6]:5080 v6.example.test 0/0")
}
