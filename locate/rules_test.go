package locate

import (
	"testing"

	"github.com/miekg/dns"
)

// An IP literal is used as it is (RFC 3263 §4.1, §4.2): no DNS at all,
// which a Resolver pointed at a dead server proves.
func TestIPLiteralAsksNoDNS(t *testing.T) {
	r := &Resolver{Server: "127.0.0.1:1"}
	for _, c := range []struct {
		q    Query
		want string
	}{
		{Query{Host: "192.0.2.1"}, "udp 192.0.2.1:5060 192.0.2.1 0/0"},
		{Query{Host: "192.0.2.1", Secure: true}, "tls 192.0.2.1:5061 192.0.2.1 0/0"},
		{Query{Host: "192.0.2.1", Transport: "TCP"}, "tcp 192.0.2.1:5060 192.0.2.1 0/0"},
		{Query{Host: "192.0.2.1", Transport: "tls"}, "tls 192.0.2.1:5061 192.0.2.1 0/0"},
		{Query{Host: "192.0.2.1", Transport: "tcp", Secure: true}, "tls 192.0.2.1:5061 192.0.2.1 0/0"},
		{Query{Host: "192.0.2.1", Transport: "ws"}, "ws 192.0.2.1:80 192.0.2.1 0/0"},
		{Query{Host: "192.0.2.1", Transport: "wss"}, "wss 192.0.2.1:443 192.0.2.1 0/0"},
		{Query{Host: "192.0.2.1", Transport: "ws", Secure: true}, "wss 192.0.2.1:443 192.0.2.1 0/0"},
		{Query{Host: "[2001:db8::1]", Port: 5080, Transport: "tcp"}, "tcp [2001:db8::1]:5080 2001:db8::1 0/0"},
		{Query{Host: "2001:db8::1", Port: 5080}, "udp [2001:db8::1]:5080 2001:db8::1 0/0"},
	} {
		res := locate(t, r, c.q)
		expect(t, c.q.Host, res, c.want)
		if res.TTL != 0 {
			t.Errorf("%+v: TTL %v for a literal", c.q, res.TTL)
		}
	}
}

// A port in the URI means A and AAAA only (§4.2): no NAPTR, no SRV, even
// where they exist; the transport is the given one or UDP (TLS for sips).
func TestPortGivenAsksOnlyAddresses(t *testing.T) {
	s, r := start(t, zone...)
	for _, c := range []struct {
		q    Query
		want []string
	}{
		{Query{Host: "example.test", Port: 5080}, []string{"udp 192.0.2.10:5080 example.test 0/0", "udp [2001:db8::10]:5080 example.test 0/0"}},
		{Query{Host: "example.test", Port: 5080, Transport: "tcp"}, []string{"tcp 192.0.2.10:5080 example.test 0/0", "tcp [2001:db8::10]:5080 example.test 0/0"}},
		{Query{Host: "Example.Test.", Port: 5081, Secure: true}, []string{"tls 192.0.2.10:5081 example.test 0/0", "tls [2001:db8::10]:5081 example.test 0/0"}},
	} {
		expect(t, c.q.Host, locate(t, r, c.q), c.want...)
	}
	if n := s.Queries("example.test", dns.TypeNAPTR) + s.Queries("_sip._udp.example.test", 0) + s.Queries("_sip._tcp.example.test", 0); n != 0 {
		t.Errorf("%d NAPTR/SRV queries with a port given", n)
	}
}

// A transport without a port means that transport's SRV records (§4.2),
// "_sips._tcp" for TLS, and no NAPTR: here the NAPTR would say UDP first.
func TestTransportGivenAsksItsSRV(t *testing.T) {
	s, r := start(t, zone...)
	expect(t, "tcp", locate(t, r, Query{Host: "example.test", Transport: "tcp"}), "tcp 192.0.2.1:5070 a.example.test 10/1")
	expect(t, "tls", locate(t, r, Query{Host: "example.test", Transport: "tls"}), "tls 192.0.2.1:5071 a.example.test 10/1")
	expect(t, "sips tcp", locate(t, r, Query{Host: "example.test", Transport: "tcp", Secure: true}), "tls 192.0.2.1:5071 a.example.test 10/1")
	if n := s.Queries("example.test", dns.TypeNAPTR); n != 0 {
		t.Errorf("%d NAPTR queries with a transport given", n)
	}
}

// Without SRV for the given transport, the host's addresses at the
// transport's default port (§4.2).
func TestTransportGivenWithoutSRVFallsBackToAddresses(t *testing.T) {
	_, r := start(t, "b.example.test. 30 IN A 192.0.2.2", "b.example.test. 30 IN AAAA 2001:db8::2")
	expect(t, "udp", locate(t, r, Query{Host: "b.example.test", Transport: "udp"}), "udp 192.0.2.2:5060 b.example.test 0/0", "udp [2001:db8::2]:5060 b.example.test 0/0")
	expect(t, "tls", locate(t, r, Query{Host: "b.example.test", Transport: "tls"}), "tls 192.0.2.2:5061 b.example.test 0/0", "tls [2001:db8::2]:5061 b.example.test 0/0")
}

// ws and wss have no NAPTR or SRV: the host's addresses at 80 and 443, or
// at the port given, and no SRV query.
func TestWebSocketAsksOnlyAddresses(t *testing.T) {
	s, r := start(t, zone...)
	expect(t, "ws", locate(t, r, Query{Host: "example.test", Transport: "ws"}), "ws 192.0.2.10:80 example.test 0/0", "ws [2001:db8::10]:80 example.test 0/0")
	expect(t, "wss", locate(t, r, Query{Host: "example.test", Transport: "wss"}), "wss 192.0.2.10:443 example.test 0/0", "wss [2001:db8::10]:443 example.test 0/0")
	expect(t, "ws port", locate(t, r, Query{Host: "example.test", Transport: "ws", Port: 8080}), "ws 192.0.2.10:8080 example.test 0/0", "ws [2001:db8::10]:8080 example.test 0/0")
	expect(t, "sips ws", locate(t, r, Query{Host: "example.test", Transport: "ws", Secure: true}), "wss 192.0.2.10:443 example.test 0/0", "wss [2001:db8::10]:443 example.test 0/0")
	if n := s.Queries("example.test", dns.TypeNAPTR) + s.Queries("_sip._tcp.example.test", 0) + s.Queries("_sips._tcp.example.test", 0); n != 0 {
		t.Errorf("%d NAPTR/SRV queries for WebSocket", n)
	}
}

// Neither port nor transport: NAPTR decides (§4.1), in order then
// preference whatever order the server sends them in.
func TestNAPTROrdersTransports(t *testing.T) {
	_, r := start(t, zone...)
	expect(t, "sip:", locate(t, r, Query{Host: "example.test"}),
		"udp 192.0.2.1:5060 a.example.test 10/1",
		"tcp 192.0.2.1:5070 a.example.test 10/1",
		"tls 192.0.2.1:5071 a.example.test 10/1")
}

// A NAPTR that prefers TCP gives TCP targets first, and a preference
// decides between records of one order.
func TestNAPTRPicksTCP(t *testing.T) {
	_, r := start(t,
		`example.test. 300 IN NAPTR 10 20 "S" "SIP+D2U" "" _sip._udp.example.test.`,
		`example.test. 300 IN NAPTR 10 10 "S" "SIP+D2T" "" _sip._tcp.example.test.`,
		"_sip._udp.example.test. 60 IN SRV 10 1 5060 a.example.test.",
		"_sip._tcp.example.test. 60 IN SRV 10 1 5070 b.example.test.",
		"a.example.test. 30 IN A 192.0.2.1",
		"b.example.test. 30 IN A 192.0.2.2",
	)
	res := locate(t, r, Query{Host: "example.test"})
	expect(t, "tcp first", res, "tcp 192.0.2.2:5070 b.example.test 10/1", "udp 192.0.2.1:5060 a.example.test 10/1")
}

// A sips: URI follows SIPS+D2T only (§4.1).
func TestNAPTRSecureFollowsOnlySIPS(t *testing.T) {
	s, r := start(t, zone...)
	expect(t, "sips:", locate(t, r, Query{Host: "example.test", Secure: true}), "tls 192.0.2.1:5071 a.example.test 10/1")
	if n := s.Queries("_sip._udp.example.test", 0) + s.Queries("_sip._tcp.example.test", 0); n != 0 {
		t.Errorf("sips: asked %d times for _sip SRV records", n)
	}
}

// NAPTR records for services a SIP client does not follow (ENUM, SCTP,
// other flags) count as no NAPTR: SRV is asked per transport.
func TestNAPTRWithoutUsableServiceFallsBackToSRV(t *testing.T) {
	_, r := start(t,
		`example.test. 300 IN NAPTR 10 10 "S" "SIP+D2S" "" _sip._sctp.example.test.`,
		`example.test. 300 IN NAPTR 10 10 "U" "E2U+sip" "!^.*$!sip:x@example.test!" .`,
		`example.test. 300 IN NAPTR 10 10 "A" "SIP+D2U" "" a.example.test.`,
		"_sip._tcp.example.test. 60 IN SRV 10 1 5070 a.example.test.",
		"a.example.test. 30 IN A 192.0.2.1",
	)
	expect(t, "sip:", locate(t, r, Query{Host: "example.test"}), "tcp 192.0.2.1:5070 a.example.test 10/1")
}

// No NAPTR: SRV for _sip._udp, _sip._tcp and _sips._tcp, in that order,
// whichever exist (§4.1); for sips: only _sips._tcp.
func TestNoNAPTRAsksSRVPerTransport(t *testing.T) {
	s, r := start(t,
		"_sip._udp.example.test. 60 IN SRV 10 1 5060 a.example.test.",
		"_sips._tcp.example.test. 60 IN SRV 10 1 5061 a.example.test.",
		"a.example.test. 30 IN A 192.0.2.1",
	)
	expect(t, "sip:", locate(t, r, Query{Host: "example.test"}), "udp 192.0.2.1:5060 a.example.test 10/1", "tls 192.0.2.1:5061 a.example.test 10/1")
	if n := s.Queries("_sip._tcp.example.test", dns.TypeSRV); n != 1 {
		t.Errorf("_sip._tcp asked %d times, want 1", n)
	}
	before := s.Queries("_sip._udp.example.test", 0)
	expect(t, "sips:", locate(t, r, Query{Host: "example.test", Secure: true}), "tls 192.0.2.1:5061 a.example.test 10/1")
	if s.Queries("_sip._udp.example.test", 0) != before {
		t.Error("sips: asked for _sip._udp")
	}
}

// Neither NAPTR nor SRV: the host's addresses, UDP at 5060 (TLS at 5061
// for sips:).
func TestNoNAPTRNoSRVUsesAddresses(t *testing.T) {
	_, r := start(t, "example.test. 30 IN A 192.0.2.10", "example.test. 30 IN AAAA 2001:db8::10")
	expect(t, "sip:", locate(t, r, Query{Host: "example.test"}), "udp 192.0.2.10:5060 example.test 0/0", "udp [2001:db8::10]:5060 example.test 0/0")
	expect(t, "sips:", locate(t, r, Query{Host: "example.test", Secure: true}), "tls 192.0.2.10:5061 example.test 0/0", "tls [2001:db8::10]:5061 example.test 0/0")
}

func TestBadQueries(t *testing.T) {
	r := &Resolver{Server: "127.0.0.1:1"}
	for _, q := range []Query{
		{Host: ""}, {Host: "example.test", Transport: "sctp"}, {Host: "example.test", Transport: "udp", Secure: true},
		{Host: "192.0.2.1", Port: 70000},
	} {
		if _, err := r.Locate(t.Context(), q); err == nil {
			t.Errorf("%+v accepted", q)
		}
	}
}
