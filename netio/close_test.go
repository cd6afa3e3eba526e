package netio

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// closingPeer is a registrar that answers one SIP message, then tells
// events how the client ended the connection, in order:
//   - "close 1000": a WebSocket Close frame with its status (echoed, after
//     checking the client waits: "waits");
//   - "close_notify, waits": TLS ended (close_notify) while the TCP
//     connection stayed open, the client waiting for the peer to close;
//   - "EOF": a FIN; "reset": an RST (ECONNRESET); else the error.
//
// The peer then closes its side.
func closingPeer(t *testing.T, network string, srv *tls.Config, events chan<- string) string {
	return streamPeer(t, func(raw net.Conn) {
		c := raw
		defer c.Close()
		if network == "tls" || network == "wss" {
			c = tls.Server(raw, srv)
		}
		isWS := network == "ws" || network == "wss"
		if isWS {
			u := ws.Upgrader{Protocol: func(p []byte) bool { return string(p) == "sip" }}
			if _, err := u.Upgrade(c); err != nil {
				events <- "upgrade: " + err.Error()
				return
			}
		}
		const answer = "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"
		if isWS {
			f, err := ws.ReadFrame(c)
			if err != nil {
				events <- "request: " + err.Error()
				return
			}
			_ = ws.WriteFrame(c, ws.NewTextFrame([]byte(answer)))
			h, err := ws.ReadHeader(c)
			if err != nil {
				events <- endOf(err)
				return
			}
			p := make([]byte, h.Length)
			if _, err := io.ReadFull(c, p); err != nil {
				events <- endOf(err)
				return
			}
			ws.Cipher(p, h.Mask, 0)
			if h.OpCode != ws.OpClose || len(p) < 2 {
				events <- fmt.Sprintf("frame %v %q after %q", h.OpCode, p, f.Payload)
				return
			}
			events <- fmt.Sprintf("close %d", binary.BigEndian.Uint16(p))
			events <- waits(c)
			_ = ws.WriteFrame(c, ws.NewCloseFrame(p[:2])) // then close first
			return
		}
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				events <- "request: " + err.Error()
				return
			}
			if line == "\r\n" {
				break
			}
		}
		_, _ = io.WriteString(c, answer)
		_, err := br.ReadByte()
		events <- endOf(err)
		if network == "tls" && err == io.EOF {
			events <- waits(raw) // close_notify came, not (yet) the FIN
		}
	})
}

// endOf names how a read ended.
func endOf(err error) string {
	switch {
	case err == nil:
		return "more data"
	case errors.Is(err, io.EOF):
		return "EOF"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	}
	return err.Error()
}

// waits: c stays open, nothing more arriving, for a while.
func waits(c net.Conn) string {
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	var b [16]byte
	_, err := c.Read(b[:])
	_ = c.SetReadDeadline(time.Time{})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return "waits"
	}
	return "did not wait: " + endOf(err)
}

// A connection closed with Conn.Close or at the end of the run
// (Loops.Stop) ends as a well-behaved client's does: after the last
// answer, a WebSocket says Close (1000) and waits for the peer to close
// first, TLS says close_notify and waits the same way, TCP sends a FIN.
// No reset. Abort resets, saying nothing.
func TestCloseIsOrderly(t *testing.T) {
	cert, pool := testCert(t, "127.0.0.1")
	srv := &tls.Config{Certificates: []tls.Certificate{cert}}
	want := map[string][]string{
		"tcp": {"EOF"},
		"tls": {"EOF", "waits"},
		"ws":  {"close 1000", "waits"},
		"wss": {"close 1000", "waits"},
	}
	for _, network := range []string{"tcp", "tls", "ws", "wss"} {
		for _, how := range []string{"Close", "Stop", "Abort"} {
			t.Run(network+"/"+how, func(t *testing.T) {
				events := make(chan string, 4)
				addr := closingPeer(t, network, srv, events)
				l, r := startStreams(t, StreamOptions{TLS: &tls.Config{RootCAs: pool}})
				c, err := l.Dial(transport(network), netip.AddrPort{}, addr, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := c.Send([]byte(sipMsg)); err != nil {
					t.Fatal(err)
				}
				if m := r.next(t); !strings.HasPrefix(m, "SIP/2.0 200 OK") {
					t.Fatalf("got %q", m)
				}
				start := time.Now()
				switch how {
				case "Close":
					_ = c.Close()
				case "Stop":
					_ = l.Stop()
				case "Abort":
					_ = c.Abort()
				}
				expect := want[network]
				if how == "Abort" {
					expect = []string{"reset"}
				}
				for _, w := range expect {
					select {
					case e := <-events:
						if e != w {
							t.Fatalf("the peer saw %q, want %q (all: %q)", e, w, expect)
						}
					case <-time.After(5 * time.Second):
						t.Fatalf("the peer saw nothing, want %q", w)
					}
				}
				select {
				case err := <-r.closed:
					if network != "tcp" && !errors.Is(err, ErrClosed) {
						t.Fatalf("OnClosed(%v), want ErrClosed", err)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("OnClosed not called")
				}
				if took := time.Since(start); took >= closeWait {
					t.Fatalf("closing took %v: the peer's close was not seen", took)
				}
				if !c.Closed() || c.Send([]byte(sipMsg)) == nil {
					t.Fatal("a closed connection still sends")
				}
			})
		}
	}
}
