package sipwire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func mustParse(t *testing.T, b []byte) *Msg {
	t.Helper()
	var m Msg
	if err := parseFull(&m, b); err != nil {
		t.Fatalf("Parse: %v\n%s", err, b)
	}
	return &m
}

// parseFull is what the registrar does: Parse, then decode From and To.
func parseFull(m *Msg, b []byte) error {
	if err := m.Parse(b); err != nil {
		return err
	}
	return m.ParseAddresses()
}

func eq(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	if string(got) != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func TestParse200OK(t *testing.T) {
	m := mustParse(t, ok200)
	if m.IsRequest || m.StatusCode != 200 {
		t.Fatalf("status %d request %v", m.StatusCode, m.IsRequest)
	}
	eq(t, "reason", m.Reason, "OK")
	eq(t, "via transport", m.Via.Transport, "UDP")
	eq(t, "via host", m.Via.Host, "127.0.0.1")
	if m.Via.Port != 5070 || m.Via.RPort != 5070 {
		t.Errorf("via port %d rport %d", m.Via.Port, m.Via.RPort)
	}
	eq(t, "branch", m.Via.Branch, "z9hG4bKrs5a17c0de123456780000000100000007")
	eq(t, "received", m.Via.Received, "127.0.0.1")
	eq(t, "from uri", m.From.URI, "sip:nap000001@example.com")
	eq(t, "from tag", m.From.Tag, "1a2b3c4d")
	eq(t, "to tag", m.To.Tag, "d1c9f7ab2b71c0bb6a1e1e4ba1a2b3c4")
	eq(t, "call-id", m.CallID, "0000000100000001@regstorm")
	if m.CSeq != 7 {
		t.Errorf("cseq %d", m.CSeq)
	}
	eq(t, "cseq method", m.CSeqMethod, "REGISTER")
	if m.NumContacts != 1 || m.Contacts[0].Expires != 600 {
		t.Fatalf("contacts %d expires %d", m.NumContacts, m.Contacts[0].Expires)
	}
	eq(t, "contact uri", m.Contacts[0].URI, "sip:nap000001@127.0.0.1:5070;transport=udp")
	if m.Expires != 3600 || m.ContentLength != 0 || len(m.Body) != 0 {
		t.Errorf("expires %d cl %d body %q", m.Expires, m.ContentLength, m.Body)
	}
	eq(t, "server", m.Server, "kamailio (5.6.3 (x86_64/linux))")
	salt, id, ok := ParseBranch(m.Via.Branch)
	if !ok || salt != 0x5a17c0de12345678 || id != 0x100000007 {
		t.Errorf("branch salt %x id %x %v", salt, id, ok)
	}
}

func TestParse401(t *testing.T) {
	m := mustParse(t, challenge401)
	if m.StatusCode != 401 || m.NumWWWAuthenticate != 1 {
		t.Fatalf("status %d www-auth %d", m.StatusCode, m.NumWWWAuthenticate)
	}
	eq(t, "www-authenticate", m.WWWAuthenticate[0],
		`Digest realm="example.com", nonce="ZvHfA2bx3sQBbw+pHhkKkK0rXyD5iKHh", qop="auth", algorithm=MD5`)
}

func TestParseRegisterRequest(t *testing.T) {
	m := mustParse(t, register)
	if !m.IsRequest {
		t.Fatal("not a request")
	}
	eq(t, "method", m.Method, "REGISTER")
	eq(t, "ruri", m.RequestURI, "sip:example.com")
	if m.MaxForwards != 70 || m.NumAuthorization != 1 || m.Via.RPort != 0 {
		t.Errorf("max-forwards %d auth %d rport %d", m.MaxForwards, m.NumAuthorization, m.Via.RPort)
	}
	eq(t, "user-agent", m.UserAgent, "regstorm")
	if m.Contacts[0].Expires != 3600 {
		t.Errorf("contact expires %d", m.Contacts[0].Expires)
	}
}

func TestParseCompactFoldedMultiContact(t *testing.T) {
	m := mustParse(t, compactFolded)
	eq(t, "via host", m.Via.Host, "2001:db8::9")
	if m.Via.Port != 5070 || m.NumVia != 2 {
		t.Errorf("via port %d, %d via fields", m.Via.Port, m.NumVia)
	}
	eq(t, "second via", m.ViaHeaders[1], "SIP/2.0/TCP proxy.example.com;branch=z9hG4bKproxy1")
	eq(t, "from display", m.From.Display, `Bob, \"the; gateway\" >`)
	// ;expires=99 is inside <>: a URI parameter, not the From's.
	eq(t, "from uri", m.From.URI, "sip:bob@example.com;expires=99")
	eq(t, "from tag", m.From.Tag, "ab")
	eq(t, "to uri", m.To.URI, "sip:bob@example.com")
	eq(t, "call-id", m.CallID, "folded-call-id")
	if m.CSeq != 42 {
		t.Errorf("cseq %d", m.CSeq)
	}
	eq(t, "cseq method", m.CSeqMethod, "REGISTER")
	want := []struct {
		display, uri string
		expires      int64
	}{
		{"A, B", "sip:bob@[2001:db8::9]:5070;transport=udp", 300},
		{"", "sip:bob@10.0.0.9:5070;expires=77", -1}, // URI param only
		{"", "sip:bob@host.example.com", 120},        // addr-spec: header param
		{"", "sip:other@example.net", 50},
	}
	if m.NumContacts != len(want) {
		t.Fatalf("%d contacts, want %d", m.NumContacts, len(want))
	}
	for i, w := range want {
		c := m.Contacts[i]
		if string(c.Display) != w.display || string(c.URI) != w.uri || c.Expires != w.expires {
			t.Errorf("contact %d = %q %q %d, want %+v", i, c.Display, c.URI, c.Expires, w)
		}
	}
	eq(t, "q", m.Contacts[0].Q, "0.5")
	if m.Expires != 180 {
		t.Errorf("expires %d", m.Expires)
	}
	eq(t, "body", m.Body, "body")
}

func TestTortureValid(t *testing.T) {
	for name, b := range tortureValid {
		t.Run(name, func(t *testing.T) { mustParse(t, b) })
	}
	m := mustParse(t, tortureValid["wsinv"])
	eq(t, "wsinv to", m.To.URI, "sip:vivekg@chair-dnrc.example.com")
	eq(t, "wsinv to tag", m.To.Tag, "1918181833n")
	eq(t, "wsinv from tag", m.From.Tag, "98asjd8")
	eq(t, "wsinv via host", m.Via.Host, "192.0.2.2")
	eq(t, "wsinv cseq", m.CSeqMethod, "REGISTER")
	if m.CSeq != 9 || m.MaxForwards != 68 {
		t.Errorf("wsinv cseq %d max-forwards %d", m.CSeq, m.MaxForwards)
	}
	eq(t, "wsinv contact display", m.Contacts[0].Display, `Quoted string \"\"`)

	m = mustParse(t, tortureValid["scalarlg"])
	if m.Expires != MaxDelta || m.Contacts[0].Expires != MaxDelta {
		t.Errorf("scalarlg expires %d / %d, want clamped to %d", m.Expires, m.Contacts[0].Expires, int64(MaxDelta))
	}
	m = mustParse(t, tortureValid["cparam01"])
	if m.Contacts[0].Expires != 60 {
		t.Errorf("cparam01: unbracketed ;expires is a header param, got %d", m.Contacts[0].Expires)
	}
	m = mustParse(t, tortureValid["cparam02"])
	if m.Contacts[0].Expires != -1 {
		t.Errorf("cparam02: bracketed ;expires is a URI param, got %d", m.Contacts[0].Expires)
	}
	m = mustParse(t, tortureValid["star"])
	if !m.ContactStar || m.Expires != 0 {
		t.Errorf("star %v expires %d", m.ContactStar, m.Expires)
	}
	m = mustParse(t, tortureValid["noreason"])
	if m.StatusCode != 100 || m.Reason != nil {
		t.Errorf("noreason %d %q", m.StatusCode, m.Reason)
	}
}

func TestTortureInvalid(t *testing.T) {
	want := map[string]error{
		"badvers": ErrVersion, "clerr": ErrTruncatedBody, "ncl": ErrContentLength,
		"quotbal": ErrNameAddr, "lwsruri": ErrStartLine, "mcl01": ErrContentLength,
		"badaspec": ErrNameAddr, "multi01": ErrDuplicateHeader, "badcode": ErrStartLine,
		"cseqnomethod": ErrCSeq, "badvia": ErrVia, "nocallid": ErrMissingHeader,
		"unterminated": ErrIncomplete, "leadingfold": ErrHeader, "nocolon": ErrHeader,
		"badexpires": ErrNumber, "badcexpires": ErrNumber, "openangle": ErrNameAddr,
	}
	for name, b := range tortureInvalid {
		var m Msg
		err := parseFull(&m, b)
		if !errors.Is(err, want[name]) {
			t.Errorf("%s: err %v, want %v", name, err, want[name])
		}
	}
}

func TestParseLimits(t *testing.T) {
	var m Msg
	big := append(bytes.Clone(ok200[:len(ok200)-2]), bytes.Repeat([]byte("X-Pad: y\r\n"), 7000)...)
	big = append(big, "\r\n"...)
	if err := m.Parse(big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("70 KB message: %v", err)
	}
	many := append(bytes.Clone(ok200[:len(ok200)-2]), bytes.Repeat([]byte("X: y\r\n"), MaxHeaders)...)
	many = append(many, "\r\n"...)
	if err := m.Parse(many); !errors.Is(err, ErrTooManyHeaders) {
		t.Errorf("too many headers: %v", err)
	}
	var sb strings.Builder
	sb.WriteString("Contact: ")
	for i := 0; i < MaxContacts+5; i++ {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("<sip:a@b>;expires=1")
	}
	lots := bytes.Replace(ok200, []byte("Expires: 3600"), []byte(sb.String()), 1)
	if err := m.Parse(lots); err != nil || m.NumContacts != MaxContacts || !m.ContactOverflow {
		t.Errorf("contact overflow: err %v n %d overflow %v", err, m.NumContacts, m.ContactOverflow)
	}
}

func TestGrantedExpires(t *testing.T) {
	our := []byte("sip:nap000001@127.0.0.1:5070;transport=udp")
	// Case 1: our Contact's ;expires wins over the Expires header.
	m := mustParse(t, ok200)
	if v, src := m.GrantedExpires(our); v != 600 || src != ExpiresFromContact {
		t.Errorf("case 1: %d %v", v, src)
	}
	// Case 2: no ;expires on our Contact, Expires header.
	case2 := bytes.Replace(ok200, []byte(";expires=600"), nil, 1)
	case2 = bytes.Replace(case2, []byte("Expires: 3600"), []byte("Expires: 120"), 1)
	m = mustParse(t, case2)
	if v, src := m.GrantedExpires(our); v != 120 || src != ExpiresFromHeader {
		t.Errorf("case 2: %d %v", v, src)
	}
	// Another binding of the same AOR must not be taken for ours.
	other := bytes.Replace(ok200, []byte("Contact: <sip:nap000001@127.0.0.1:5070;transport=udp>;expires=600"),
		[]byte("Contact: <sip:nap000001@127.0.0.2:5070>;expires=10, <sip:nap000001@127.0.0.1:5070;transport=udp;ob>;expires=900"), 1)
	m = mustParse(t, other)
	if v, src := m.GrantedExpires(our); v != 900 || src != ExpiresFromContact {
		t.Errorf("other binding: %d %v", v, src)
	}
	// Neither.
	none := bytes.Replace(ok200, []byte(";expires=600"), nil, 1)
	none = bytes.Replace(none, []byte("Expires: 3600\r\n"), nil, 1)
	m = mustParse(t, none)
	if _, src := m.GrantedExpires(our); src != ExpiresNone {
		t.Errorf("none: %v", src)
	}
}

func TestSameURI(t *testing.T) {
	cases := []struct {
		a, b string
		same bool
	}{
		{"sip:u@Host.Example.com:5060", "sip:u@host.example.com", true},
		{"sip:u@h:5070;transport=udp", "sip:u@h:5070", true},
		{"sip:U@h", "sip:u@h", false},
		{"sip:u@h:5070", "sip:u@h:5071", false},
		{"sip:u@[::1]:5070", "sip:u@[::1]:5070;ob", true},
		{"sips:u@h", "sip:u@h:5061", false},
		{"sip:u@[::1", "sip:u@[::1", false},
	}
	for _, c := range cases {
		if got := SameURI([]byte(c.a), []byte(c.b)); got != c.same {
			t.Errorf("SameURI(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

func TestSplitMessage(t *testing.T) {
	stream := append(append(append([]byte("\r\n\r\n"), ok200...), "\r\n"...), compactFolded...)
	stream = append(stream, challenge401...)
	// Feed the stream one byte at a time through bufio.Scanner.
	sc := bufio.NewScanner(&oneByteReader{b: stream})
	sc.Split(SplitMessage)
	var got [][]byte
	for sc.Scan() {
		got = append(got, bytes.Clone(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	want := [][]byte{ok200, compactFolded, challenge401}
	if len(got) != len(want) {
		t.Fatalf("%d messages, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("message %d differs:\n%q\n%q", i, got[i], want[i])
		}
		mustParse(t, got[i])
	}

	noCL := crlf("SIP/2.0 200 OK\nVia: SIP/2.0/TCP h;branch=z9hG4bKx\n\n")
	if _, _, err := SplitMessage(noCL, false); !errors.Is(err, ErrNoContentLength) {
		t.Errorf("no Content-Length: %v", err)
	}
	huge := append(crlf("SIP/2.0 200 OK\n"), bytes.Repeat([]byte("X: y\r\n"), 12000)...)
	if _, _, err := SplitMessage(huge, false); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("endless headers: %v", err)
	}
	bigBody := crlf("SIP/2.0 200 OK\nContent-Length: 70000\n\n")
	if _, _, err := SplitMessage(bigBody, false); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("big body: %v", err)
	}
	if adv, tok, err := SplitMessage(ok200[:50], false); adv != 0 || tok != nil || err != nil {
		t.Errorf("partial: %d %q %v", adv, tok, err)
	}
	if _, _, err := SplitMessage(ok200[:50], true); !errors.Is(err, ErrIncomplete) {
		t.Errorf("partial at EOF: %v", err)
	}
}

type oneByteReader struct{ b []byte }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	p[0] = r.b[0]
	r.b = r.b[1:]
	return 1, nil
}

func TestParseAllocs(t *testing.T) {
	var m Msg
	for _, b := range [][]byte{ok200, challenge401, register, compactFolded} {
		if n := testing.AllocsPerRun(100, func() { _ = parseFull(&m, b) }); n != 0 {
			t.Errorf("Parse allocates %v times", n)
		}
	}
}
