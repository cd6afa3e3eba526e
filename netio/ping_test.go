package netio

import (
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/regstorm/regstorm/sipwire"
)

type pongRecv struct {
	*streamRecv
	pongs chan any
}

func (r *pongRecv) OnPong(tag any) { r.pongs <- tag }

// A CRLF ping over TLS is answered by a CRLF, and a WebSocket ping frame
// by a pong: each is told to the receiver as a pong of its connection.
func TestPingPong(t *testing.T) {
	cert, pool := testCert(t, "127.0.0.1")
	srv := &tls.Config{Certificates: []tls.Certificate{cert}}
	crlf := streamPeer(t, func(c net.Conn) {
		c = tls.Server(c, srv)
		defer c.Close()
		buf := make([]byte, 4)
		for {
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "\r\n\r\n" {
				return
			}
			if _, err := c.Write([]byte("\r\n")); err != nil {
				return
			}
		}
	})
	wsPeer := streamPeer(t, func(c net.Conn) {
		defer c.Close()
		if _, err := (&ws.Upgrader{Protocol: func(p []byte) bool { return string(p) == "sip" }}).Upgrade(c); err != nil {
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
			if h.OpCode == ws.OpPing {
				ws.Cipher(payload, h.Mask, 0)
				_ = ws.WriteFrame(c, ws.NewPongFrame(payload))
			}
			if h.OpCode == ws.OpClose {
				return // and close first, as a server does
			}
		}
	})
	r := &pongRecv{streamRecv: newStreamRecv(), pongs: make(chan any, 4)}
	l, err := Start(r, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	l.SetStreamOptions(StreamOptions{TLS: &tls.Config{RootCAs: pool}})
	for _, tc := range []struct{ network, addr string }{{"tls", crlf}, {"ws", wsPeer}} {
		c, err := l.Dial(transport(tc.network), netip.AddrPort{}, tc.addr, tc.network)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Ping(); err != nil {
			t.Fatal(err)
		}
		select {
		case tag := <-r.pongs:
			if tag != tc.network {
				t.Errorf("%s: pong for %v", tc.network, tag)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no pong", tc.network)
		}
		c.Close()
	}
	u, err := l.Dial(sipwire.UDP, netip.AddrPort{}, crlf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if u.Ping() == nil {
		t.Error("a UDP socket pinged")
	}
}
