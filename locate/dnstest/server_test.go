package dnstest

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

func ask(t *testing.T, s *Server, net, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg).SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Net: net, Timeout: 300 * time.Millisecond}
	r, _, err := c.Exchange(m, s.Addr)
	if err != nil {
		t.Fatalf("%s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return r
}

func TestRecordsChangeWhileRunning(t *testing.T) {
	s := Start(t)
	s.Zone("a.example.test. 30 IN A 192.0.2.1", "a.example.test. 30 IN A 192.0.2.2")
	for _, net := range []string{"udp", "tcp"} {
		if r := ask(t, s, net, "A.Example.Test", dns.TypeA); len(r.Answer) != 2 {
			t.Fatalf("%s: %v", net, r)
		}
	}
	s.Zone("a.example.test. 1 IN A 192.0.2.9")
	r := ask(t, s, "udp", "a.example.test", dns.TypeA)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.9" || r.Answer[0].Header().Ttl != 1 {
		t.Fatalf("after the change: %v", r.Answer)
	}
	s.Set("a.example.test", dns.TypeA)
	if r := ask(t, s, "udp", "a.example.test", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Fatalf("deleted name: %s", dns.RcodeToString[r.Rcode])
	}
	if got := s.Queries("a.example.test", dns.TypeA); got != 4 {
		t.Errorf("queries = %d, want 4", got)
	}
}

// A name with records of another type, or with records only below it, is
// NODATA; a name with nothing at or below it is NXDOMAIN.
func TestNoDataAndNXDomain(t *testing.T) {
	s := Start(t)
	s.Zone("_sip._udp.example.test. 30 IN SRV 10 1 5060 a.example.test.")
	for _, c := range []struct {
		name  string
		qtype uint16
		rcode int
	}{
		{"_sip._udp.example.test", dns.TypeA, dns.RcodeSuccess},
		{"example.test", dns.TypeNAPTR, dns.RcodeSuccess},
		{"_udp.example.test", dns.TypeSRV, dns.RcodeSuccess},
		{"nowhere.example.test", dns.TypeA, dns.RcodeNameError},
	} {
		r := ask(t, s, "udp", c.name, c.qtype)
		if r.Rcode != c.rcode || len(r.Answer) != 0 {
			t.Errorf("%s: %s %v", c.name, dns.RcodeToString[r.Rcode], r.Answer)
		}
	}
}

func TestFaults(t *testing.T) {
	s := Start(t)
	s.Zone("a.example.test. 30 IN A 192.0.2.1", "a.example.test. 30 IN AAAA 2001:db8::1")
	s.Fail("a.example.test", 0, ServFail)
	s.Fail("a.example.test", dns.TypeAAAA, NXDomain)
	if r := ask(t, s, "udp", "a.example.test", dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("A: %s", dns.RcodeToString[r.Rcode])
	}
	if r := ask(t, s, "udp", "a.example.test", dns.TypeAAAA); r.Rcode != dns.RcodeNameError {
		t.Errorf("AAAA: %s", dns.RcodeToString[r.Rcode])
	}
	s.Fail("a.example.test", 0, Refused)
	if r := ask(t, s, "tcp", "a.example.test", dns.TypeA); r.Rcode != dns.RcodeRefused {
		t.Errorf("A: %s", dns.RcodeToString[r.Rcode])
	}
	s.Fail("a.example.test", 0, Drop)
	c := &dns.Client{Timeout: 100 * time.Millisecond}
	if _, _, err := c.Exchange(new(dns.Msg).SetQuestion("a.example.test.", dns.TypeA), s.Addr); err == nil {
		t.Error("dropped query answered")
	}
	s.Fail("a.example.test", 0, Answer)
	if r := ask(t, s, "udp", "a.example.test", dns.TypeA); len(r.Answer) != 1 {
		t.Errorf("cleared: %v", r)
	}
	if got := s.Queries("a.example.test", 0); got != 5 {
		t.Errorf("queries = %d, want 5", got)
	}
}

func TestAdditionalAndTruncate(t *testing.T) {
	s := Start(t)
	s.Zone(
		`example.test. 30 IN NAPTR 10 10 "S" "SIP+D2T" "" _sip._tcp.example.test.`,
		"_sip._tcp.example.test. 30 IN SRV 10 1 5060 a.example.test.",
		"a.example.test. 30 IN A 192.0.2.1",
		"a.example.test. 30 IN AAAA 2001:db8::1",
	)
	s.Additional(true)
	r := ask(t, s, "udp", "example.test", dns.TypeNAPTR)
	if len(r.Answer) != 1 || len(r.Extra) != 3 {
		t.Fatalf("NAPTR with additional: %v", r)
	}
	s.Truncate(true)
	if r := ask(t, s, "udp", "example.test", dns.TypeNAPTR); !r.Truncated || len(r.Answer) != 0 {
		t.Fatalf("truncated over UDP: %v", r)
	}
	if r := ask(t, s, "tcp", "example.test", dns.TypeNAPTR); r.Truncated || len(r.Answer) != 1 {
		t.Fatalf("over TCP: %v", r)
	}
}

// Negative answers carry the SOA of the zone the name is in.
func TestNegativeAnswerCarriesSOA(t *testing.T) {
	s := Start(t)
	s.Zone("example.test. 60 IN SOA ns.example.test. admin.example.test. 1 60 60 600 5", "a.example.test. 30 IN A 192.0.2.1")
	for _, c := range []struct {
		name  string
		qtype uint16
	}{{"a.example.test", dns.TypeAAAA}, {"_sip._udp.a.example.test", dns.TypeSRV}} {
		if r := ask(t, s, "udp", c.name, c.qtype); len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA {
			t.Errorf("%s: authority %v", c.name, r.Ns)
		}
	}
	if r := ask(t, s, "udp", "a.example.test", dns.TypeA); len(r.Ns) != 0 {
		t.Errorf("positive answer with authority %v", r.Ns)
	}
}
