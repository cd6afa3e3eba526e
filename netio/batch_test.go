package netio

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

type sink struct{}

func (sink) OnMessage(any, []byte) {}
func (sink) OnClosed(any, error)   {}

func TestBatchSendsEveryDatagramInOrder(t *testing.T) {
	srv, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	loops, err := Start(sink{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer loops.Stop()
	c, err := loops.Dial("udp", netip.AddrPort{}, srv.LocalAddr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := NewBatch(c)
	const n = 150 // more than two full batches
	for i := 0; i < n; i++ {
		b.Add([]byte(fmt.Sprintf("msg %03d", i)))
	}
	b.Add(make([]byte, 3000)) // too large for a slot: sent on its own
	b.Flush()
	if b.Sent != n+1 || b.Lost != 0 {
		t.Fatalf("sent %d lost %d", b.Sent, b.Lost)
	}
	buf := make([]byte, 4096)
	_ = srv.SetReadDeadline(time.Now().Add(3 * time.Second))
	for i := 0; i < n; i++ {
		k, _, err := srv.ReadFrom(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if want := fmt.Sprintf("msg %03d", i); string(buf[:k]) != want {
			t.Fatalf("got %q, want %q", buf[:k], want)
		}
	}
	if k, _, err := srv.ReadFrom(buf); err != nil || k != 3000 {
		t.Fatalf("large datagram: %d %v", k, err)
	}
	if a := testing.AllocsPerRun(100, func() { b.Add([]byte("x")); b.Flush() }); a != 0 && !raceEnabled {
		t.Errorf("Add+Flush allocates %v", a)
	}
}
