package registrar

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/regstorm/regstorm/sipwire"
)

// rootOf trusts the server's own certificate, as a client given it would.
func rootOf(s *Server) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(s.cert.Leaf)
	return &tls.Config{RootCAs: pool}
}

// registerOn sends one REGISTER on a stream and returns the answer's code.
func registerOn(t *testing.T, c net.Conn, user string) int {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(reqBytes(user, 1, sipwire.TCP)); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(c)
	sc.Split(sipwire.SplitMessage)
	if !sc.Scan() {
		t.Fatalf("no answer: %v", sc.Err())
	}
	var m sipwire.Msg
	if err := m.Parse(sc.Bytes()); err != nil {
		t.Fatal(err)
	}
	return m.StatusCode
}

func TestParseTransports(t *testing.T) {
	got := func(eps []Endpoint) string {
		var b []string
		for _, ep := range eps {
			b = append(b, ep.Transport+":"+strconv.Itoa(ep.Port))
		}
		return strings.Join(b, ",")
	}
	for _, c := range []struct {
		in   string
		port int
		want string // or the error's text
	}{
		{"udp,tcp", 5060, "udp:5060,tcp:5060"},
		{"udp,tcp,tls,ws,wss", 5060, "udp:5060,tcp:5060,tls:5061,ws:5062,wss:5063"},
		{"tls:5071,wss:8443", 5060, "tls:5071,wss:8443"},
		{"tls,ws,wss", 0, "tls:0,ws:0,wss:0"},
		{"udp,tls:5060", 5060, "udp:5060,tls:5060"}, // UDP and TLS may share a number
		{"tls:abc", 5060, "want tls:PORT"},
		{"tls:70000", 5060, "want tls:PORT"},
		{"sctp", 5060, "unknown transport"},
		{"udp:5000", 5060, "listen port"},
		{"tls,tls:5071", 5060, "twice"},
		{"wss", 65535, "out of range"},
		{"tcp,tls:5060", 5060, "both on TCP port 5060"},
		{"tls:5062,ws", 5060, "both on TCP port 5062"},
	} {
		eps, err := ParseTransports(strings.Split(c.in, ","), c.port)
		if err != nil {
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s on %d: %v, want %q", c.in, c.port, err, c.want)
			}
			continue
		}
		if got(eps) != c.want {
			t.Errorf("%s on %d: %s, want %s", c.in, c.port, got(eps), c.want)
		}
	}
}

// REGISTER over TLS, verified with the server's own certificate as root;
// its fingerprint is SHA-256 of the DER; TLS 1.2 works; a second
// connection resumes the session.
func TestServerTLS(t *testing.T) {
	s, err := Listen(New(Config{}), "127.0.0.1", 0, []string{"udp", "tcp", "tls", "ws", "wss"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	seen := map[string]bool{}
	for _, tr := range []string{"udp", "tcp", "tls", "ws", "wss"} {
		a := s.AddrOf(tr)
		if a == "" || (seen[a] && tr != "tcp") {
			t.Fatalf("AddrOf(%s) = %q", tr, a)
		}
		seen[a] = true
	}
	if s.AddrOf("tcp") != s.Addr || s.AddrOf("sctp") != "" {
		t.Errorf("AddrOf: tcp %q (Addr %q), sctp %q", s.AddrOf("tcp"), s.Addr, s.AddrOf("sctp"))
	}

	cfg := rootOf(s)
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	for i, maxV := range []uint16{tls.VersionTLS12, tls.VersionTLS12, 0, 0} {
		cfg.MaxVersion = maxV
		c, err := tls.Dial("tcp", s.AddrOf("tls"), cfg)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if code := registerOn(t, c, fmt.Sprintf("nap%06d", i+1)); code != 200 {
			t.Fatalf("connection %d: %d", i, code)
		}
		st := c.ConnectionState()
		if i == 0 {
			sum := sha256.Sum256(st.PeerCertificates[0].Raw)
			want := strings.ToUpper(strings.TrimSpace(fmt.Sprintf("% x", sum[:])))
			if got := s.Fingerprint(); got != strings.ReplaceAll(want, " ", ":") {
				t.Errorf("Fingerprint %s, want %s", got, want)
			}
		}
		if i%2 == 1 && !st.DidResume {
			t.Errorf("connection %d did not resume the session", i)
		}
		c.Close()
	}
	if st := s.Stats(); st.TLSHandshakes != 4 || st.TLSFailures != 0 || st.Registered != 4 {
		t.Errorf("stats: %d handshakes, %d failed, %d registered; want 4, 0, 4", st.TLSHandshakes, st.TLSFailures, st.Registered)
	}
}

// The certificate given in Config is the one presented.
func TestServerTLSConfigCert(t *testing.T) {
	ca := newCA(t)
	cert := ca.issue(t, false)
	s, err := Listen(New(Config{Cert: &cert}), "127.0.0.1", 0, []string{"tls"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Addr != s.AddrOf("tls") {
		t.Errorf("Addr %q, want the tls address %q", s.Addr, s.AddrOf("tls"))
	}
	if s.Fingerprint() != fingerprint(cert.Certificate[0]) {
		t.Errorf("Fingerprint %s is not the given certificate's", s.Fingerprint())
	}
	c, err := tls.Dial("tcp", s.AddrOf("tls"), &tls.Config{RootCAs: ca.pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if code := registerOn(t, c, "nap000001"); code != 200 {
		t.Fatal(code)
	}
}

// With ClientCAs, a client without a certificate fails the handshake and
// gets no answer; one with a certificate signed by the CA registers.
func TestServerTLSClientCertificate(t *testing.T) {
	ca := newCA(t)
	s, err := Listen(New(Config{ClientCAs: ca.pool()}), "127.0.0.1", 0, []string{"tls"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	c, err := tls.Dial("tcp", s.AddrOf("tls"), rootOf(s))
	if err == nil { // TLS 1.3: the server's refusal comes after the client's handshake
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write(reqBytes("nap000001", 1, sipwire.TCP))
		_, err = c.Read(make([]byte, 4096))
		c.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without a client certificate: %v, want a certificate alert", err)
	}
	other := newCA(t).issue(t, true) // signed by a CA the server does not trust
	for _, cert := range []tls.Certificate{other, ca.issue(t, true)} {
		cfg := rootOf(s)
		cfg.Certificates = []tls.Certificate{cert}
		c, err := tls.Dial("tcp", s.AddrOf("tls"), cfg)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err = c.Write(reqBytes("nap000002", 1, sipwire.TCP)); err == nil {
				_, err = c.Read(make([]byte, 4096))
			}
			c.Close()
		}
		if trusted := cert.Leaf.Issuer.CommonName == ca.cert.Subject.CommonName; trusted != (err == nil) {
			t.Errorf("client certificate from %s: %v", cert.Leaf.Issuer.CommonName, err)
		}
	}
	if !waitUntil(func() bool { st := s.Stats(); return st.TLSFailures == 2 && st.TLSHandshakes == 1 }) {
		st := s.Stats()
		t.Errorf("%d handshakes, %d failed; want 1, 2", st.TLSHandshakes, st.TLSFailures)
	}
}

// REGISTER over WS and WSS: the 101 names the "sip" subprotocol, the answer
// is one unmasked text frame, a fragmented request is one message, a ping
// is answered, a close frame is echoed.
func TestServerWebSocket(t *testing.T) {
	s, err := Listen(New(Config{}), "127.0.0.1", 0, []string{"ws", "wss"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	head := rawUpgrade(t, s.AddrOf("ws"), "Sec-WebSocket-Protocol: chat, sip\r\n")
	if !strings.HasPrefix(head, "HTTP/1.1 101 ") || !strings.Contains(head, "\r\nSec-WebSocket-Protocol: sip\r\n") {
		t.Errorf("upgrade offering chat, sip:\n%s", head)
	}
	for _, scheme := range []string{"ws", "wss"} {
		d := ws.Dialer{Protocols: []string{"sip"}, TLSConfig: rootOf(s), Timeout: 5 * time.Second}
		c, br, hs, err := d.Dial(context.Background(), scheme+"://"+s.AddrOf(scheme)+"/")
		if err != nil {
			t.Fatalf("%s: %v", scheme, err)
		}
		if br != nil {
			t.Fatalf("%s: data after the 101", scheme)
		}
		if hs.Protocol != "sip" {
			t.Errorf("%s: 101 with subprotocol %q", scheme, hs.Protocol)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if err := wsutil.WriteClientText(c, reqBytes("nap000001", 1, sipwire.TCP)); err != nil {
			t.Fatal(err)
		}
		wantAnswer(t, scheme, c, 200)

		// The same request in two frames.
		req := reqBytes("nap000002", 1, sipwire.TCP)
		first := ws.MaskFrameInPlace(ws.NewFrame(ws.OpText, false, append([]byte(nil), req[:50]...)))
		rest := ws.MaskFrameInPlace(ws.NewFrame(ws.OpContinuation, true, append([]byte(nil), req[50:]...)))
		for _, f := range []ws.Frame{first, rest} {
			if err := ws.WriteFrame(c, f); err != nil {
				t.Fatal(err)
			}
		}
		wantAnswer(t, scheme+" fragmented", c, 200)

		if err := wsutil.WriteClientMessage(c, ws.OpPing, []byte("hi")); err != nil {
			t.Fatal(err)
		}
		if h, p := readFrame(t, c); h.OpCode != ws.OpPong || string(p) != "hi" {
			t.Errorf("%s: ping answered with %v %q", scheme, h.OpCode, p)
		}
		if err := wsutil.WriteClientMessage(c, ws.OpClose, ws.NewCloseFrameBody(ws.StatusGoingAway, "")); err != nil {
			t.Fatal(err)
		}
		if h, p := readFrame(t, c); h.OpCode != ws.OpClose || len(p) < 2 || ws.StatusCode(binary.BigEndian.Uint16(p)) != ws.StatusGoingAway {
			t.Errorf("%s: close answered with %v %q", scheme, h.OpCode, p)
		}
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("%s: still open after the close frames", scheme)
		}
		c.Close()
	}
}

// Hostile frames end the connection with a close frame saying why: an
// unmasked one (1002), one announcing a terabyte (1009, nothing
// allocated for it), a continuation with nothing to continue (1002).
func TestServerWebSocketHostileFrames(t *testing.T) {
	s, err := Listen(New(Config{}), "127.0.0.1", 0, []string{"ws"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct {
		name string
		h    ws.Header
		want ws.StatusCode
	}{
		{"unmasked", ws.Header{Fin: true, OpCode: ws.OpText, Length: 10}, ws.StatusProtocolError},
		{"a terabyte", ws.Header{Fin: true, OpCode: ws.OpText, Length: 1 << 40, Masked: true}, ws.StatusMessageTooBig},
		{"stray continuation", ws.Header{Fin: true, OpCode: ws.OpContinuation, Length: 0, Masked: true}, ws.StatusProtocolError},
	} {
		conn, _, _, err := ws.Dialer{Protocols: []string{"sip"}}.Dial(context.Background(), "ws://"+s.AddrOf("ws"))
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if err := ws.WriteHeader(conn, c.h); err != nil {
			t.Fatal(err)
		}
		if c.h.Length == 10 {
			_, _ = conn.Write(make([]byte, 10))
		}
		if h, p := readFrame(t, conn); h.OpCode != ws.OpClose || len(p) < 2 || ws.StatusCode(binary.BigEndian.Uint16(p)) != c.want {
			t.Errorf("%s: answered with %v %q, want close %d", c.name, h.OpCode, p, c.want)
		}
		conn.Close()
	}
}

// A WebSocket client that does not offer "sip" is refused with 400.
func TestServerWebSocketWithoutSIP(t *testing.T) {
	s, err := Listen(New(Config{}), "127.0.0.1", 0, []string{"ws"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, protos := range [][]string{nil, {"chat", "xmpp"}} {
		c, _, _, err := ws.Dialer{Protocols: protos, Timeout: 5 * time.Second}.Dial(context.Background(), "ws://"+s.AddrOf("ws"))
		if err == nil {
			c.Close()
		}
		var se ws.StatusError
		if !errors.As(err, &se) || int(se) != 400 {
			t.Errorf("offering %v: %v, want a 400", protos, err)
		}
	}
	if head := rawUpgrade(t, s.AddrOf("ws"), ""); !strings.HasPrefix(head, "HTTP/1.1 400 ") {
		t.Errorf("upgrade without a subprotocol:\n%s", head)
	}
}

// rawUpgrade sends a WebSocket upgrade request with the extra header
// lines and returns the response head as it came.
func rawUpgrade(t *testing.T, addr, extra string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + extra + "\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	var head []byte
	buf := make([]byte, 1024)
	for !strings.Contains(string(head), "\r\n\r\n") {
		n, err := c.Read(buf)
		head = append(head, buf[:n]...)
		if err != nil {
			break
		}
	}
	return string(head)
}

// With CloseAfterAnswer, a TLS or WS client gets its answer, then the end
// of the connection (on WS a close frame first), for answers sent at once
// and delayed ones.
func TestCloseAfterAnswerStreams(t *testing.T) {
	for _, delay := range []time.Duration{0, 20 * time.Millisecond} {
		s, err := Listen(New(Config{CloseAfterAnswer: true, Delay: delay}), "127.0.0.1", 0, []string{"tls", "ws"})
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.Dial("tcp", s.AddrOf("tls"), rootOf(s))
		if err != nil {
			t.Fatal(err)
		}
		if code := registerOn(t, c, "nap000001"); code != 200 {
			t.Fatalf("tls, delay %v: %d", delay, code)
		}
		if n, err := c.Read(make([]byte, 100)); err != io.EOF {
			t.Errorf("tls, delay %v: after the answer %d bytes, %v; want EOF", delay, n, err)
		}
		c.Close()

		w, _, _, err := ws.Dialer{Protocols: []string{"sip"}}.Dial(context.Background(), "ws://"+s.AddrOf("ws"))
		if err != nil {
			t.Fatal(err)
		}
		_ = w.SetDeadline(time.Now().Add(5 * time.Second))
		if err := wsutil.WriteClientText(w, reqBytes("nap000002", 1, sipwire.TCP)); err != nil {
			t.Fatal(err)
		}
		wantAnswer(t, "ws", w, 200)
		if h, _ := readFrame(t, w); h.OpCode != ws.OpClose {
			t.Errorf("ws, delay %v: %v after the answer, want close", delay, h.OpCode)
		}
		if _, err := w.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("ws, delay %v: %v after the close frame, want EOF", delay, err)
		}
		w.Close()
		s.Close()
	}
}

// Close drops every stream connection, and a new server binds the same
// ports at once (a registrar restarting).
func TestCloseDropsStreamsAndPortsRebind(t *testing.T) {
	s, err := Listen(New(Config{}), "127.0.0.1", 0, []string{"tcp", "tls", "ws", "wss"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.Dial("tcp", s.AddrOf("tls"), rootOf(s))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if code := registerOn(t, c, "nap000001"); code != 200 {
		t.Fatal(code)
	}
	w, _, _, err := ws.Dialer{Protocols: []string{"sip"}, TLSConfig: rootOf(s)}.Dial(context.Background(), "wss://"+s.AddrOf("wss"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var transports []string
	var port int
	for _, tr := range []string{"tls", "ws", "wss"} {
		_, p, _ := net.SplitHostPort(s.AddrOf(tr))
		transports = append(transports, tr+":"+p)
	}
	_, p, _ := net.SplitHostPort(s.AddrOf("tcp"))
	port, _ = strconv.Atoi(p)

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for name, conn := range map[string]net.Conn{"tls": c, "wss": w} {
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := conn.Read(make([]byte, 100)); err == nil || errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			t.Errorf("%s: after Close: %v, want the connection ended", name, err)
		}
	}
	again, err := Listen(New(Config{}), "127.0.0.1", port, append([]string{"tcp"}, transports...))
	if err != nil {
		t.Fatalf("restart on the same ports: %v", err)
	}
	defer again.Close()
	c2, err := tls.Dial("tcp", again.AddrOf("tls"), rootOf(again))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if code := registerOn(t, c2, "nap000002"); code != 200 {
		t.Fatal(code)
	}
}

// A stream port held by another socket is refused, naming the transport;
// ReusePort shares it.
func TestListenRefusesAStreamPortHeld(t *testing.T) {
	first, err := Listen(New(Config{}), "127.0.0.1", 0, []string{"udp", "tcp"})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	_, p, _ := net.SplitHostPort(first.Addr)
	held, err := Listen(New(Config{}), "127.0.0.1", 0, []string{"tls:" + p})
	if err == nil {
		held.Close()
		t.Fatalf("tls listened on %s, held by TCP", first.Addr)
	}
	var pe *PortInUseError
	if !errors.As(err, &pe) || pe.Transport != "tls" || !errors.Is(err, ErrPortInUse) {
		t.Fatalf("%v, want a PortInUseError for tls", err)
	}
	shared, err := Listen(New(Config{ReusePort: true}), "127.0.0.1", 0, []string{"wss:" + p})
	if err != nil {
		t.Fatalf("with ReusePort: %v", err)
	}
	shared.Close()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// wantAnswer reads one frame: an unmasked, final text frame holding one
// SIP response with the code.
func wantAnswer(t *testing.T, what string, c net.Conn, code int) {
	t.Helper()
	h, p := readFrame(t, c)
	if h.OpCode != ws.OpText || !h.Fin || h.Masked {
		t.Fatalf("%s: frame %+v, want one unmasked text frame", what, h)
	}
	adv, tok, err := sipwire.SplitMessage(p, true)
	var m sipwire.Msg
	if err != nil || adv != len(p) || m.Parse(tok) != nil || m.StatusCode != code {
		t.Fatalf("%s: %v, %d of %d bytes, %d:\n%s", what, err, adv, len(p), m.StatusCode, p)
	}
}

func readFrame(t *testing.T, c net.Conn) (ws.Header, []byte) {
	t.Helper()
	h, err := ws.ReadHeader(c)
	if err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(c, p); err != nil {
		t.Fatal(err)
	}
	return h, p
}

// waitUntil polls cond for up to 5 s: server-side counters trail what the
// client sees by a scheduling round.
func waitUntil(cond func() bool) bool {
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// testCA signs certificates for the client certificate tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var caSerial int64

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caSerial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(caSerial), Subject: pkix.Name{CommonName: fmt.Sprintf("test CA %d", caSerial)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key}
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// issue signs a client certificate, or a server one for 127.0.0.1.
func (ca *testCA) issue(t *testing.T, client bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caSerial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(caSerial), Subject: pkix.Name{CommonName: "leaf"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// Over TLS, a header that never ends is cut off at 64 KiB by closing the
// connection, without an answer, as over TCP.
func TestServerTLSEndlessHeader(t *testing.T) {
	s, err := Listen(New(Config{}), "127.0.0.1", 0, []string{"tls"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := tls.Dial("tcp", s.AddrOf("tls"), rootOf(s))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	huge := append([]byte("REGISTER sip:example.com SIP/2.0\r\nX-Pad: "), make([]byte, 70000)...)
	go func() { _, _ = c.Write(huge) }()
	if rest, err := io.ReadAll(c); len(rest) != 0 || isTimeout(err) {
		t.Fatalf("%d bytes of answer, %v; want the connection closed", len(rest), err)
	}
}
