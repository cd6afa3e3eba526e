package netio

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/regstorm/regstorm/sipwire"
)

type sink struct{}

func (sink) OnMessageAt(any, []byte, time.Time, netip.AddrPort) {}
func (sink) OnClosed(any, error)                                {}
func (sink) OnPong(any)                                         {}

func TestBatchSendsEveryDatagramInOrder(t *testing.T) {
	b, srv := batchTo(t, true)
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

// batchTo is a batch to a server socket, with segmentation offload when
// gso is set and the kernel has it.
func batchTo(t *testing.T, gso bool) (*Batch, net.PacketConn) {
	t.Helper()
	srv, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	_ = srv.(*net.UDPConn).SetReadBuffer(4 << 20)
	loops, err := Start(sink{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { loops.Stop() })
	if !gso {
		loops.SetGSO(false)
	}
	c, err := loops.Dial(sipwire.UDP, netip.AddrPort{}, srv.LocalAddr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return newBatch(c.(*udpConn)), srv
}

// readAll reads n datagrams from srv.
func readAll(t *testing.T, srv net.PacketConn, n int) []string {
	t.Helper()
	var got []string
	buf := make([]byte, 4096)
	_ = srv.SetReadDeadline(time.Now().Add(3 * time.Second))
	for len(got) < n {
		k, _, err := srv.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d of %d datagrams: %v", len(got), n, err)
		}
		got = append(got, string(buf[:k]))
	}
	_ = srv.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if k, _, err := srv.ReadFrom(buf); err == nil {
		t.Fatalf("one datagram too many: %q", buf[:k])
	}
	return got
}

// mixed queues n datagrams of four sizes, interleaved, more than a
// segmented message holds of one size, and returns them in queue order.
func mixed(b *Batch, n int) []string {
	var want []string
	for i := 0; i < n; i++ {
		m := fmt.Sprintf("%d:%04d:", i%4, i) + strings.Repeat("x", 100*(i%4))
		b.Add([]byte(m))
		want = append(want, m)
	}
	return want
}

// checkSameSizeOrder checks that got holds want's datagrams, and each
// size's in want's order.
func checkSameSizeOrder(t *testing.T, got, want []string) {
	t.Helper()
	bySize := func(ms []string) map[int][]string {
		m := map[int][]string{}
		for _, s := range ms {
			m[len(s)] = append(m[len(s)], s)
		}
		return m
	}
	g, w := bySize(got), bySize(want)
	if len(g) != len(w) {
		t.Fatalf("%d sizes received, %d sent", len(g), len(w))
	}
	for size, ws := range w {
		if fmt.Sprint(g[size]) != fmt.Sprint(ws) {
			t.Fatalf("size %d: received %q\nsent %q", size, g[size], ws)
		}
	}
}

func TestBatchSegmentsDatagramsOfOneSize(t *testing.T) {
	b, srv := batchTo(t, true)
	if !b.gso {
		t.Skip("no UDP_SEGMENT on this kernel")
	}
	want := mixed(b, 4*BatchSize+10)
	b.Flush()
	checkSameSizeOrder(t, readAll(t, srv, len(want)), want)
	if b.Sent != int64(len(want)) || b.Lost != 0 || b.GSORefused != 0 {
		t.Fatalf("sent %d lost %d refused %d", b.Sent, b.Lost, b.GSORefused)
	}
	// Four sizes in each full batch of 64: 16 datagrams per segmented message.
	if b.GSOSends < 16 || b.GSODatagrams != int64(len(want)) {
		t.Fatalf("%d segmented messages carried %d datagrams", b.GSOSends, b.GSODatagrams)
	}
	if a := testing.AllocsPerRun(100, func() { b.Add([]byte("x")); b.Add([]byte("y")); b.Add([]byte("zz")); b.Flush() }); a != 0 && !raceEnabled {
		t.Errorf("Add+Flush with segmentation allocates %v", a)
	}
}

// A socket without UDP checksums (SO_NO_CHECK) makes the kernel refuse
// segmentation with EINVAL, as a device or route that cannot do it
// refuses with EIO: the batch counts it, sends the datagrams one by one,
// and does so from then on.
func TestBatchFallsBackWhenSegmentationIsRefused(t *testing.T) {
	b, srv := batchTo(t, true)
	if !b.gso {
		t.Skip("no UDP_SEGMENT on this kernel")
	}
	if err := unix.SetsockoptInt(b.c.fd, unix.SOL_SOCKET, unix.SO_NO_CHECK, 1); err != nil {
		t.Skipf("SO_NO_CHECK: %v", err)
	}
	want := mixed(b, 100)
	b.Flush()
	checkSameSizeOrder(t, readAll(t, srv, len(want)), want)
	if b.GSORefused != 1 || b.GSOSends != 0 || b.Sent != 100 || b.Lost != 0 || b.gso {
		t.Fatalf("refused %d, segmented %d, sent %d, lost %d, gso %v", b.GSORefused, b.GSOSends, b.Sent, b.Lost, b.gso)
	}
	want = mixed(b, 50)
	b.Flush()
	checkSameSizeOrder(t, readAll(t, srv, len(want)), want)
	if b.GSORefused != 1 || b.Sent != 150 {
		t.Fatalf("refused %d, sent %d", b.GSORefused, b.Sent)
	}
}

func TestBatchWithoutGSOSendsOneByOne(t *testing.T) {
	b, srv := batchTo(t, false)
	want := mixed(b, 40)
	b.Flush()
	if got := readAll(t, srv, len(want)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("received %q\nsent %q", got, want)
	}
	if b.Sent != 40 || b.GSOSends != 0 {
		t.Fatalf("sent %d, segmented messages %d", b.Sent, b.GSOSends)
	}
}
