package netio

import (
	"crypto/tls"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gobwas/ws"

	"github.com/regstorm/regstorm/sipwire"
)

// The sends of a run, through the Conn a NAP holds: a UDP datagram (Send,
// SendTo), a step's batch of them, and one message on each kind of
// stream. UDP sends and batches and TCP writes are the hot path: 0
// allocs/op.
//
//	go test ./netio -run '^$' -bench . -benchmem

// benchMsg is a REGISTER's size.
var benchMsg = []byte(strings.Repeat("x", 500))

// benchLoops starts a network for the benchmark's life.
func benchLoops(b *testing.B) *Loops {
	b.Helper()
	l, err := Start(sink{}, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Stop() })
	return l
}

// udpTarget is a UDP socket nobody reads: the kernel drops what its
// buffer cannot hold, after the send has been paid for.
func udpTarget(b *testing.B) string {
	b.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

func benchDial(b *testing.B, l *Loops, t sipwire.Transport, remote string) Conn {
	b.Helper()
	c, err := l.Dial(t, netip.AddrPort{}, remote, nil)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func BenchmarkUDPSend(b *testing.B) {
	c := benchDial(b, benchLoops(b), sipwire.UDP, udpTarget(b))
	b.ReportAllocs()
	for b.Loop() {
		_ = c.Send(benchMsg)
	}
}

func BenchmarkUDPSendTo(b *testing.B) {
	c := benchDial(b, benchLoops(b), sipwire.UDP, udpTarget(b))
	to := netip.MustParseAddrPort(udpTarget(b))
	b.ReportAllocs()
	for b.Loop() {
		_ = c.SendTo(benchMsg, to)
	}
}

// BenchmarkUDPBatch: one op is a step's 16 datagrams and their flush.
func BenchmarkUDPBatch(b *testing.B) {
	for _, gso := range []bool{true, false} {
		name := "gso"
		if !gso {
			name = "nogso"
		}
		b.Run(name, func(b *testing.B) {
			l := benchLoops(b)
			l.SetGSO(gso)
			bt := benchDial(b, l, sipwire.UDP, udpTarget(b)).NewBatch()
			b.ReportAllocs()
			for b.Loop() {
				for range 16 {
					bt.Add(benchMsg)
				}
				bt.Flush()
			}
		})
	}
}

// discardPeer accepts connections, wraps each with wrap (nil: none) and
// reads all that comes; read counts the bytes.
func discardPeer(b *testing.B, wrap func(net.Conn) net.Conn, read *atomic.Int64) string {
	return tcpListener(b, func(c net.Conn) {
		defer c.Close()
		if wrap != nil {
			if c = wrap(c); c == nil {
				return
			}
		}
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			read.Add(int64(n))
			if err != nil {
				return
			}
		}
	}).Addr().String()
}

// BenchmarkStreamSend: one message on a connection whose peer keeps up,
// as a registrar does. Every 64 sends the clock stops until the peer has
// read them: a sender faster than its peer fills the socket and measures
// TCP's queue (AsyncWrite), not the send.

func BenchmarkStreamSend(b *testing.B) {
	cert, _ := testCert(b, "127.0.0.1")
	srv := &tls.Config{Certificates: []tls.Certificate{cert}}
	wsUp := func(c net.Conn) net.Conn {
		u := ws.Upgrader{Protocol: func(p []byte) bool { return string(p) == "sip" }}
		if _, err := u.Upgrade(c); err != nil {
			return nil
		}
		return c
	}
	for _, tc := range []struct {
		t    sipwire.Transport
		wrap func(net.Conn) net.Conn
	}{
		{sipwire.TCP, nil},
		{sipwire.TLS, func(c net.Conn) net.Conn { return tls.Server(c, srv) }},
		{sipwire.WS, wsUp},
		{sipwire.WSS, func(c net.Conn) net.Conn { return wsUp(tls.Server(c, srv)) }},
	} {
		b.Run(tc.t.String(), func(b *testing.B) {
			l := benchLoops(b)
			l.SetStreamOptions(StreamOptions{TLS: &tls.Config{InsecureSkipVerify: true}})
			var read atomic.Int64
			c := benchDial(b, l, tc.t, discardPeer(b, tc.wrap, &read))
			b.ReportAllocs()
			sent := int64(0)
			for b.Loop() {
				if err := c.Send(benchMsg); err != nil {
					b.Fatal(err)
				}
				if sent += int64(len(benchMsg)); sent%(64*int64(len(benchMsg))) == 0 {
					b.StopTimer()
					for read.Load() < sent {
						runtime.Gosched()
					}
					b.StartTimer()
				}
			}
		})
	}
}
