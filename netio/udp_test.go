package netio

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/regstorm/regstorm/sipwire"
)

type collect struct {
	mu   sync.Mutex
	msgs []string
	got  chan struct{}
}

func (c *collect) OnMessageAt(_ any, msg []byte, _ time.Time, _ netip.AddrPort) {
	c.mu.Lock()
	c.msgs = append(c.msgs, string(msg))
	c.mu.Unlock()
	select {
	case c.got <- struct{}{}:
	default:
	}
}
func (c *collect) OnClosed(any, error) {}
func (c *collect) OnPong(any)          {}

// A registrar that goes away makes the kernel answer with ICMP port
// unreachable, which a connected UDP socket reports as ECONNREFUSED. The
// socket must live on and receive once the registrar is back.
func TestUDPSocketSurvivesPortUnreachable(t *testing.T) {
	// A port with nothing behind it.
	probe, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.LocalAddr().String()
	probe.Close()

	rcv := &collect{got: make(chan struct{}, 1)}
	loops, err := Start(rcv, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer loops.Stop()
	c, err := loops.Dial(sipwire.UDP, netip.AddrPort{}, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ { // each draws an ICMP error
		_ = c.Send([]byte("into the void"))
		time.Sleep(time.Millisecond)
	}
	if c.Closed() {
		t.Fatal("the socket closed itself on port unreachable")
	}

	srv, err := net.ListenPacket("udp", addr) // the registrar is back
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	defer srv.Close()
	if err := c.Send([]byte("hello")); err != nil {
		t.Fatalf("send after the restart: %v", err)
	}
	buf := make([]byte, 100)
	_ = srv.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, from, err := srv.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("registrar read %q, %v", buf[:n], err)
	}
	if _, err := srv.WriteTo([]byte("200 OK"), from); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rcv.got:
	case <-time.After(3 * time.Second):
		t.Fatal("no answer delivered after the restart")
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.msgs) != 1 || rcv.msgs[0] != "200 OK" {
		t.Fatalf("delivered %q", rcv.msgs)
	}
}

// Stop closes UDP sockets and waits for their readers.
func TestStopClosesUDPSockets(t *testing.T) {
	srv, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	loops, err := Start(sink{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	var conns []Conn
	for i := 0; i < 10; i++ {
		c, err := loops.Dial(sipwire.UDP, netip.AddrPort{}, srv.LocalAddr().String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	if err := loops.Stop(); err != nil {
		t.Fatal(err)
	}
	for i, c := range conns {
		if !c.Closed() || c.Send([]byte("x")) != ErrClosed {
			t.Errorf("conn %d still open after Stop", i)
		}
	}
	if _, err := loops.Dial(sipwire.UDP, netip.AddrPort{}, srv.LocalAddr().String(), nil); err == nil {
		t.Error("Dial after Stop succeeded")
	}
}

type timedCollect struct {
	collect
	arrived []time.Time
	from    []netip.AddrPort
}

func (c *timedCollect) OnMessageAt(tag any, msg []byte, at time.Time, from netip.AddrPort) {
	c.mu.Lock()
	c.arrived = append(c.arrived, at)
	c.from = append(c.from, from)
	c.mu.Unlock()
	c.collect.OnMessageAt(tag, msg, at, from)
}

// With a quantum, datagrams wait in the socket until the loop wakes; a
// TimedReceiver gets each one's kernel arrival time, earlier than the
// moment it was read.
func TestQuantumDeliversKernelArrivalTimes(t *testing.T) {
	srv, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	rcv := &timedCollect{collect: collect{got: make(chan struct{}, 1)}}
	loops, err := Start(rcv, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer loops.Stop()
	loops.SetQuantum(50 * time.Millisecond)
	c, err := loops.Dial(sipwire.UDP, netip.AddrPort{}, srv.LocalAddr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	_ = srv.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, from, err := srv.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	if _, err := srv.WriteTo([]byte("pong"), from); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rcv.got:
	case <-time.After(3 * time.Second):
		t.Fatal("nothing delivered")
	}
	read := time.Now()
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.arrived) != 1 || rcv.msgs[0] != "pong" {
		t.Fatalf("delivered %q with %d times", rcv.msgs, len(rcv.arrived))
	}
	at := rcv.arrived[0]
	if at.IsZero() || at.Before(sent.Add(-time.Millisecond)) || at.After(read) {
		t.Fatalf("arrival %v: want between the send %v and the delivery %v", at, sent, read)
	}
	// The datagram's source, for traces and captures.
	if got := rcv.from[0].String(); got != srv.LocalAddr().String() {
		t.Errorf("from %s, want the sender %s", got, srv.LocalAddr())
	}
}

// A registrar may answer from another address and port than the one the
// request went to: the socket takes the answer (it is not connected).
func TestUDPAnswerFromAnotherAddress(t *testing.T) {
	srv, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	other, err := net.ListenPacket("udp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2: %v", err)
	}
	defer other.Close()
	rcv := &collect{got: make(chan struct{}, 1)}
	loops, err := Start(rcv, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer loops.Stop()
	c, err := loops.Dial(sipwire.UDP, netip.AddrPort{}, srv.LocalAddr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.LocalAddr().Addr() != netip.MustParseAddr("127.0.0.1") || c.LocalAddr().Port() == 0 {
		t.Fatalf("local address %v: want 127.0.0.1 and a port (Via and Contact carry it)", c.LocalAddr())
	}
	if err := c.Send([]byte("REGISTER")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	_ = srv.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, from, err := srv.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "REGISTER" {
		t.Fatalf("registrar read %q, %v", buf[:n], err)
	}
	if _, err := other.WriteTo([]byte("SIP/2.0 200 OK"), from); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rcv.got:
	case <-time.After(2 * time.Second):
		t.Fatal("the answer from another address never arrived")
	}
}

// SendTo reaches another address than the one dialled, from the same
// socket (the same source port: a NAP's Contact stays), without
// allocating.
func TestUDPSendToAnotherTarget(t *testing.T) {
	a, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	loops, err := Start(&collect{got: make(chan struct{}, 1)}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer loops.Stop()
	c, err := loops.Dial(sipwire.UDP, netip.AddrPort{}, a.LocalAddr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	to := b.LocalAddr().(*net.UDPAddr).AddrPort()
	if err := c.SendTo([]byte("failed over"), to); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	_ = b.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, from, err := b.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "failed over" || from.(*net.UDPAddr).AddrPort() != c.LocalAddr() {
		t.Fatalf("got %q from %v (%v); want it from %v", buf[:n], from, err, c.LocalAddr())
	}
	msg := []byte("x")
	if allocs := testing.AllocsPerRun(100, func() { _ = c.SendTo(msg, to) }); allocs != 0 && !raceEnabled {
		t.Errorf("SendTo allocates %v", allocs)
	}
}
