package sipwire

import (
	"strings"
	"testing"
)

func sampleRegister() *Register {
	return &Register{
		Transport: UDP,
		LocalHost: []byte("127.0.0.1"), LocalPort: 5070,
		BranchSalt: 0x5a17c0de12345678, Branch: 0x100000007,
		User: []byte("nap000001"), Domain: []byte("example.com"),
		FromTag: []byte("1a2b3c4d"), CallID: []byte("0000000100000001@regstorm"),
		CSeq: 7, Expires: 3600,
		UserAgent: []byte("regstorm"),
	}
}

func TestAppendRegisterExact(t *testing.T) {
	got := string(AppendRegister(nil, sampleRegister()))
	want := strings.ReplaceAll(`REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5070;rport;branch=z9hG4bKrs5a17c0de123456780000000100000007
Max-Forwards: 70
From: <sip:nap000001@example.com>;tag=1a2b3c4d
To: <sip:nap000001@example.com>
Call-ID: 0000000100000001@regstorm
CSeq: 7 REGISTER
Contact: <sip:nap000001@127.0.0.1:5070;transport=udp>;expires=3600
User-Agent: regstorm
Content-Length: 0

`, "\n", "\r\n")
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// Through an outbound proxy: the Route names it (loose routing), the
// Request-URI and the AOR still name the registrar's domain.
func TestAppendRegisterRoute(t *testing.T) {
	r := sampleRegister()
	r.Route = []byte("<sip:192.0.2.7:5080;lr>")
	got := string(AppendRegister(nil, r))
	if !strings.Contains(got, "Max-Forwards: 70\r\nRoute: <sip:192.0.2.7:5080;lr>\r\nFrom: ") || !strings.HasPrefix(got, "REGISTER sip:example.com SIP/2.0\r\n") {
		t.Fatalf("got\n%s", got)
	}
	var m Msg
	if err := m.Parse([]byte(got)); err != nil {
		t.Fatal(err)
	}
}

func TestAppendRegisterVariantsRoundTrip(t *testing.T) {
	auth := `Authorization: Digest username="nap000001", realm="example.com", nonce="n", uri="sip:example.com", response="00", algorithm=MD5`
	cases := []struct {
		name string
		mod  func(r *Register)
		chk  func(t *testing.T, m *Msg)
	}{
		{"tcp", func(r *Register) { r.Transport = TCP }, func(t *testing.T, m *Msg) {
			eq(t, "via transport", m.Via.Transport, "TCP")
			eq(t, "contact", m.Contacts[0].URI, "sip:nap000001@127.0.0.1:5070;transport=tcp")
		}},
		{"tls", func(r *Register) { r.Transport = TLS }, func(t *testing.T, m *Msg) {
			eq(t, "via transport", m.Via.Transport, "TLS")
			eq(t, "contact", m.Contacts[0].URI, "sip:nap000001@127.0.0.1:5070;transport=tls")
		}},
		// RFC 7118 §5: Via SIP/2.0/WS(S), Contact ;transport=ws(s).
		{"ws", func(r *Register) { r.Transport = WS }, func(t *testing.T, m *Msg) {
			eq(t, "via transport", m.Via.Transport, "WS")
			eq(t, "contact", m.Contacts[0].URI, "sip:nap000001@127.0.0.1:5070;transport=ws")
		}},
		{"wss", func(r *Register) { r.Transport = WSS }, func(t *testing.T, m *Msg) {
			eq(t, "via transport", m.Via.Transport, "WSS")
			eq(t, "contact", m.Contacts[0].URI, "sip:nap000001@127.0.0.1:5070;transport=wss")
		}},
		{"expires header", func(r *Register) { r.ExpiresHeader = true; r.Expires = 120 }, func(t *testing.T, m *Msg) {
			if m.Expires != 120 || m.Contacts[0].Expires != 120 {
				t.Errorf("expires %d/%d", m.Expires, m.Contacts[0].Expires)
			}
		}},
		{"unregister", func(r *Register) { r.Expires = 0 }, func(t *testing.T, m *Msg) {
			if m.Expires != 0 || m.Contacts[0].Expires != 0 {
				t.Errorf("expires %d/%d", m.Expires, m.Contacts[0].Expires)
			}
		}},
		{"auth", func(r *Register) { r.Auth = []byte(auth) }, func(t *testing.T, m *Msg) {
			if m.NumAuthorization != 1 {
				t.Fatal("no Authorization")
			}
			eq(t, "authorization", m.Authorization[0], auth[len("Authorization: "):])
		}},
		{"proxy auth", func(r *Register) { r.Auth = []byte("Proxy-" + auth) }, func(t *testing.T, m *Msg) {
			if m.NumProxyAuthorization != 1 {
				t.Fatal("no Proxy-Authorization")
			}
		}},
		// RFC 3261 §22.3: the registrar's credentials and a proxy's, one
		// field each, in one request.
		{"proxy and registrar auth", func(r *Register) { r.Auth = []byte("Proxy-" + auth + "\r\n" + auth) }, func(t *testing.T, m *Msg) {
			if m.NumProxyAuthorization != 1 || m.NumAuthorization != 1 {
				t.Fatalf("%d Proxy-Authorization, %d Authorization", m.NumProxyAuthorization, m.NumAuthorization)
			}
			eq(t, "proxy-authorization", m.ProxyAuthorization[0], auth[len("Authorization: "):])
			eq(t, "authorization", m.Authorization[0], auth[len("Authorization: "):])
		}},
		{"ipv6", func(r *Register) { r.LocalHost = []byte("::1"); r.Domain = []byte("[::1]") }, func(t *testing.T, m *Msg) {
			eq(t, "via host", m.Via.Host, "::1")
			eq(t, "ruri", m.RequestURI, "sip:[::1]")
			eq(t, "contact", m.Contacts[0].URI, "sip:nap000001@[::1]:5070;transport=udp")
		}},
		{"ruri", func(r *Register) { r.RequestURI = []byte("sip:registrar.example.com:5080") }, func(t *testing.T, m *Msg) {
			eq(t, "ruri", m.RequestURI, "sip:registrar.example.com:5080")
			eq(t, "to", m.To.URI, "sip:nap000001@example.com")
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := sampleRegister()
			c.mod(r)
			var m Msg
			b := AppendRegister(nil, r)
			if err := parseFull(&m, b); err != nil {
				t.Fatalf("%v\n%s", err, b)
			}
			if m.CSeq != 7 || string(m.CallID) != string(r.CallID) || string(m.From.Tag) != "1a2b3c4d" {
				t.Errorf("identity lost: %d %q %q", m.CSeq, m.CallID, m.From.Tag)
			}
			c.chk(t, &m)
		})
	}
}

func TestBranch(t *testing.T) {
	for _, v := range [][2]uint64{{0, 0}, {1, 1}, {0x5a17c0de12345678, 0xdeadbeef}, {1<<64 - 1, 1<<64 - 1}} {
		b := AppendBranch(nil, v[0], v[1])
		salt, id, ok := ParseBranch(b)
		if !ok || salt != v[0] || id != v[1] {
			t.Errorf("%x %x -> %s -> %x %x %v", v[0], v[1], b, salt, id, ok)
		}
	}
	for _, bad := range []string{"z9hG4bK", "z9hG4bKrs000000000000000000000000000000ag", "z9hG4bKrs0000000000000000000000000000000",
		"z9hG4bKxx00000000000000000000000000000000", "z9hG4bKrs0000000000000001", "z9hG4bKrs0000000000000000000000000000000A"} {
		if _, _, ok := ParseBranch([]byte(bad)); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestAppendRegisterAllocs(t *testing.T) {
	r := sampleRegister()
	r.Auth = []byte(`Authorization: Digest username="nap000001", realm="example.com"`)
	buf := make([]byte, 0, 2048)
	if n := testing.AllocsPerRun(100, func() { buf = AppendRegister(buf[:0], r) }); n != 0 {
		t.Errorf("AppendRegister allocates %v times", n)
	}
}

func TestParseTransport(t *testing.T) {
	for _, name := range []string{"udp", "tcp", "tls", "ws", "wss"} {
		tr, ok := ParseTransport(name)
		if !ok || tr.String() != name {
			t.Errorf("%s: %v %v", name, tr, ok)
		}
		if tr.Stream() != (name != "udp") || tr.Secure() != (name == "tls" || name == "wss") {
			t.Errorf("%s: stream %v secure %v", name, tr.Stream(), tr.Secure())
		}
	}
	if _, ok := ParseTransport("sctp"); ok {
		t.Error("sctp accepted")
	}
}

func TestAppendOptions(t *testing.T) {
	r := sampleRegister()
	r.Transport = TCP
	got := string(AppendOptions(nil, r))
	want := strings.ReplaceAll(`OPTIONS sip:example.com SIP/2.0
Via: SIP/2.0/TCP 127.0.0.1:5070;rport;branch=z9hG4bKrs5a17c0de123456780000000100000007
Max-Forwards: 70
From: <sip:nap000001@example.com>;tag=1a2b3c4d
To: <sip:nap000001@example.com>
Call-ID: ka-0000000100000001@regstorm
CSeq: 7 OPTIONS
Accept: application/sdp
User-Agent: regstorm
Content-Length: 0

`, "\n", "\r\n")
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	var m Msg
	if err := m.Parse([]byte(got)); err != nil || !m.IsRequest {
		t.Fatalf("parse: %v", err)
	}
}
