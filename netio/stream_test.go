package netio

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/regstorm/regstorm/sipwire"
)

// testCert makes a CA-less self-signed certificate for the given names,
// and a pool that trusts it.
func testCert(t testing.TB, names ...string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// streamPeer accepts connections and runs serve on each: its address.
func streamPeer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	return tcpListener(t, serve).Addr().String()
}

// answerSIP answers every SIP message on a byte stream with "SIP/2.0 200 OK".
func answerSIP(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		var msg strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			msg.WriteString(line)
			if line == "\r\n" {
				break
			}
		}
		if _, err := io.WriteString(c, "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"); err != nil {
			return
		}
	}
}

const sipMsg = "REGISTER sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n"

type streamRecv struct {
	msgs   chan string
	closed chan error
}

func newStreamRecv() *streamRecv {
	return &streamRecv{msgs: make(chan string, 16), closed: make(chan error, 16)}
}
func (r *streamRecv) OnMessageAt(_ any, msg []byte, _ time.Time, _ netip.AddrPort) {
	r.msgs <- string(msg)
}
func (r *streamRecv) OnClosed(_ any, err error) { r.closed <- err }
func (r *streamRecv) OnPong(any)                {}

func (r *streamRecv) next(t *testing.T) string {
	t.Helper()
	select {
	case m := <-r.msgs:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received")
		return ""
	}
}

func startStreams(t *testing.T, o StreamOptions) (*Loops, *streamRecv) {
	t.Helper()
	r := newStreamRecv()
	l, err := Start(r, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Stop() })
	l.SetStreamOptions(o)
	return l, r
}

// onceCache holds one session: one NAP's cache.
type onceCache struct{ s *tls.ClientSessionState }

func (c *onceCache) Get(string) (*tls.ClientSessionState, bool) { return c.s, c.s != nil }
func (c *onceCache) Put(_ string, s *tls.ClientSessionState)    { c.s = s }

func TestTLSExchangeAndResumption(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cert, pool := testCert(t, "127.0.0.1")
		srvCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: version, MaxVersion: version}
		addr := streamPeer(t, func(c net.Conn) { answerSIP(tls.Server(c, srvCfg)) })
		cache := &onceCache{}
		l, r := startStreams(t, StreamOptions{TLS: &tls.Config{RootCAs: pool, MinVersion: version, MaxVersion: version},
			Sessions: func(any) tls.ClientSessionCache { return cache }})
		for round, resumed := range []bool{false, true} {
			c, err := l.Dial(sipwire.TLS, netip.AddrPort{}, addr, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !c.Handshake().TLS || c.Handshake().Resumed != resumed || c.Handshake().Version != version || c.Handshake().Took <= 0 {
				t.Fatalf("version %x round %d: %+v", version, round, c.Handshake())
			}
			if err := c.Send([]byte(sipMsg)); err != nil {
				t.Fatal(err)
			}
			if m := r.next(t); !strings.HasPrefix(m, "SIP/2.0 200 OK") {
				t.Fatalf("got %q", m)
			}
			c.Close()
			<-r.closed
		}
	}
}

func TestStreamDialFailureReasons(t *testing.T) {
	cert, pool := testCert(t, "127.0.0.1")
	other, otherPool := testCert(t, "sbc.example.test")
	tlsPeer := func(cfg *tls.Config) string {
		return streamPeer(t, func(c net.Conn) { answerSIP(tls.Server(c, cfg)) })
	}
	closer := streamPeer(t, func(c net.Conn) { c.Close() })
	silent := streamPeer(t, func(c net.Conn) { time.Sleep(2 * time.Second); c.Close() })
	wsPeer := func(u ws.Upgrader) string {
		return streamPeer(t, func(c net.Conn) {
			defer c.Close()
			if _, err := u.Upgrade(c); err != nil {
				return
			}
			time.Sleep(time.Second)
		})
	}
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	clientCA := x509.NewCertPool()
	clientCA.AddCert(other.Leaf)

	cases := []struct {
		name, network, addr string
		o                   StreamOptions
		want                Reason
	}{
		{"untrusted certificate", "tls", tlsPeer(&tls.Config{Certificates: []tls.Certificate{cert}}), StreamOptions{}, ReasonCertUntrusted},
		{"wrong name (SNI)", "tls", tlsPeer(&tls.Config{Certificates: []tls.Certificate{other}}), StreamOptions{TLS: &tls.Config{RootCAs: otherPool}}, ReasonCertName},
		{"client certificate required", "tls", tlsPeer(&tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCA, MaxVersion: tls.VersionTLS12}),
			StreamOptions{TLS: &tls.Config{RootCAs: pool}}, ReasonTLSAlert},
		{"closed during the handshake", "tls", closer, StreamOptions{TLS: &tls.Config{RootCAs: pool}}, ReasonClosed},
		{"silent during the handshake", "tls", silent, StreamOptions{TLS: &tls.Config{RootCAs: pool}, HandshakeTimeout: 200 * time.Millisecond}, ReasonTimeout},
		{"nothing listening", "tls", deadAddr, StreamOptions{}, ReasonRefused},
		{"no sip subprotocol", "ws", wsPeer(ws.Upgrader{}), StreamOptions{}, ReasonWSSubprotocol},
		{"upgrade refused", "ws", wsPeer(ws.Upgrader{OnRequest: func([]byte) error {
			return ws.RejectConnectionError(ws.RejectionStatus(403))
		}}), StreamOptions{}, ReasonWSStatus},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := startStreams(t, tc.o)
			c, err := l.Dial(transport(tc.network), netip.AddrPort{}, tc.addr, nil)
			if err == nil {
				c.Close()
				t.Fatal("dial succeeded")
			}
			if got := ReasonOf(err); got != tc.want {
				t.Fatalf("reason %s, want %s (%v)", got, tc.want, err)
			}
		})
	}
}

// wsSIPPeer is a WebSocket SIP peer: it selects "sip", answers each text
// frame with a 200 in two fragments, and pings first.
func wsSIPPeer(t *testing.T, cfg *tls.Config, protos chan<- string) string {
	return streamPeer(t, func(c net.Conn) {
		if cfg != nil {
			c = tls.Server(c, cfg)
		}
		defer c.Close()
		u := ws.Upgrader{Protocol: func(p []byte) bool { return string(p) == "sip" }}
		hs, err := u.Upgrade(c)
		if err != nil {
			return
		}
		protos <- hs.Protocol
		if err := ws.WriteFrame(c, ws.NewPingFrame([]byte("hi"))); err != nil {
			return
		}
		for {
			h, err := ws.ReadHeader(c)
			if err != nil {
				return
			}
			payload := make([]byte, h.Length)
			if _, err := io.ReadFull(c, payload); err != nil {
				return
			}
			if !h.Masked {
				protos <- "unmasked frame"
				return
			}
			ws.Cipher(payload, h.Mask, 0)
			switch h.OpCode {
			case ws.OpPong:
				protos <- "pong " + string(payload)
			case ws.OpText:
				if string(payload) != sipMsg {
					protos <- "bad frame " + string(payload)
					return
				}
				answer := "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"
				_ = ws.WriteFrame(c, ws.Frame{Header: ws.Header{OpCode: ws.OpText, Length: 10}, Payload: []byte(answer[:10])})
				_ = ws.WriteFrame(c, ws.Frame{Header: ws.Header{Fin: true, OpCode: ws.OpContinuation, Length: int64(len(answer) - 10)}, Payload: []byte(answer[10:])})
			case ws.OpClose:
				return
			}
		}
	})
}

func TestWebSocketExchange(t *testing.T) {
	cert, pool := testCert(t, "127.0.0.1")
	for _, network := range []string{"ws", "wss"} {
		t.Run(network, func(t *testing.T) {
			var srv *tls.Config
			if network == "wss" {
				srv = &tls.Config{Certificates: []tls.Certificate{cert}}
			}
			protos := make(chan string, 4)
			addr := wsSIPPeer(t, srv, protos)
			l, r := startStreams(t, StreamOptions{TLS: &tls.Config{RootCAs: pool}})
			c, err := l.Dial(transport(network), netip.AddrPort{}, addr, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if p := <-protos; p != "sip" {
				t.Fatalf("subprotocol %q", p)
			}
			if p := <-protos; p != "pong hi" {
				t.Fatalf("ping answered with %q", p)
			}
			if err := c.Send([]byte(sipMsg)); err != nil {
				t.Fatal(err)
			}
			if m := r.next(t); m != "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n" {
				t.Fatalf("got %q", m)
			}
			if c.Handshake().TLS != (network == "wss") {
				t.Fatalf("handshake %+v", c.Handshake())
			}
		})
	}
}

// A peer that goes away is reported once, and Stop closes what is left.
func TestStreamLostAndStopped(t *testing.T) {
	cert, pool := testCert(t, "127.0.0.1")
	srv := &tls.Config{Certificates: []tls.Certificate{cert}}
	conns := make(chan net.Conn, 2)
	addr := streamPeer(t, func(c net.Conn) {
		tc := tls.Server(c, srv)
		if tc.Handshake() == nil {
			conns <- tc
		}
	})
	l, r := startStreams(t, StreamOptions{TLS: &tls.Config{RootCAs: pool}})
	a, err := l.Dial(sipwire.TLS, netip.AddrPort{}, addr, "a")
	if err != nil {
		t.Fatal(err)
	}
	(<-conns).Close()
	select {
	case <-r.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("loss not reported")
	}
	if !a.Closed() || a.Send([]byte(sipMsg)) == nil {
		t.Fatal("a lost connection still sends")
	}
	b, err := l.Dial(sipwire.TLS, netip.AddrPort{}, addr, "b")
	if err != nil {
		t.Fatal(err)
	}
	go func(c net.Conn) { // until Stop's close_notify, then close first
		_, _ = io.Copy(io.Discard, c)
		c.Close()
	}(<-conns)
	l.Stop()
	select {
	case <-r.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop left the connection open")
	}
	if !b.Closed() {
		t.Fatal("b open after Stop")
	}
	if _, err := l.Dial(sipwire.TLS, netip.AddrPort{}, addr, "c"); !errors.Is(err, ErrClosed) {
		t.Fatalf("dial after Stop: %v", err)
	}
}

// sipOf is a SIP response whose body makes it size bytes long.
func sipOf(size int, fill byte) string {
	head := "SIP/2.0 200 OK\r\nContent-Length: %05d\r\n\r\n"
	body := size - len(fmt.Sprintf(head, 0))
	return fmt.Sprintf(head, body) + strings.Repeat(string(fill), body)
}

// Messages that fit the idle array, that cross into a pooled buffer, that
// outgrow it, several in one write and one cut across writes all arrive
// whole and in order, and a small one after a big one too.
func TestStreamReadSizes(t *testing.T) {
	msgs := []string{sipOf(300, 'a'), sipOf(idleRead, 'b'), sipOf(idleRead+1, 'c'), sipOf(3*readChunk, 'd'),
		sipOf(200, 'e') + sipOf(300, 'f') + sipOf(900, 'g'), sipOf(100, 'h')}
	writes := append([]string(nil), msgs...)
	cut := sipOf(1500, 'i') // in two writes
	writes = append(writes, cut[:700], cut[700:], sipOf(50, 'j'))
	want := []string{msgs[0], msgs[1], msgs[2], msgs[3], sipOf(200, 'e'), sipOf(300, 'f'), sipOf(900, 'g'), msgs[5], cut, sipOf(50, 'j')}

	cert, pool := testCert(t, "127.0.0.1")
	srv := &tls.Config{Certificates: []tls.Certificate{cert}}
	for _, network := range []string{"tls", "ws", "wss"} {
		t.Run(network, func(t *testing.T) {
			addr := streamPeer(t, func(c net.Conn) {
				if network != "ws" {
					c = tls.Server(c, srv)
				}
				defer c.Close()
				if network != "tls" {
					u := ws.Upgrader{Protocol: func(p []byte) bool { return string(p) == "sip" }}
					if _, err := u.Upgrade(c); err != nil {
						return
					}
				}
				for _, w := range writes {
					if network == "tls" {
						_, _ = io.WriteString(c, w)
					} else {
						_ = ws.WriteFrame(c, ws.NewTextFrame([]byte(w)))
					}
					time.Sleep(10 * time.Millisecond) // one read each
				}
				if network == "tls" {
					_, _ = io.Copy(io.Discard, c) // until close_notify
					return
				}
				for { // until a Close frame
					f, err := ws.ReadFrame(c)
					if err != nil || f.Header.OpCode == ws.OpClose {
						return
					}
				}
			})
			l, r := startStreams(t, StreamOptions{TLS: &tls.Config{RootCAs: pool}})
			c, err := l.Dial(transport(network), netip.AddrPort{}, addr, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			expect := want
			if network != "tls" {
				expect = writes // a WebSocket frame is one message (RFC 7118 §5.1)
			}
			for i, w := range expect {
				if m := r.next(t); m != w {
					t.Fatalf("message %d: got %d bytes %.20q…, want %d bytes %.20q…", i, len(m), m, len(w), w)
				}
			}
		})
	}
}

// transport is the transport named in a test's table.
func transport(name string) sipwire.Transport {
	t, ok := sipwire.ParseTransport(name)
	if !ok {
		panic("no transport " + name)
	}
	return t
}
