package netio

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A dial from port 0 leaves the choice of the port to connect()
// (IP_BIND_ADDRESS_NO_PORT): bind(0)'s search for a free port grew with
// every per-nap connection already open. A reconnect from the port it had
// still binds that port.
func TestDialLeavesPortToConnect(t *testing.T) {
	ln := tcpListener(t, nil)
	dial := func(local netip.AddrPort) *net.TCPConn {
		t.Helper()
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(local), Control: reuseAddr}
		c, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("dial from %v: %v", local, err)
		}
		return c.(*net.TCPConn)
	}
	c := dial(netip.MustParseAddrPort("127.0.0.1:0"))
	rc, _ := c.SyscallConn()
	var opt int
	var oerr error
	_ = rc.Control(func(fd uintptr) {
		opt, oerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT)
	})
	if oerr != nil || opt != 1 {
		t.Fatalf("IP_BIND_ADDRESS_NO_PORT = %d, %v; want 1", opt, oerr)
	}
	local := c.LocalAddr().(*net.TCPAddr).AddrPort()
	if local.Port() == 0 {
		t.Fatal("no local port after connect")
	}
	_ = c.SetLinger(0)
	c.Close()
	again := dial(local)
	defer again.Close()
	if got := again.LocalAddr().(*net.TCPAddr).AddrPort(); got != local {
		t.Fatalf("reconnected from %v, want %v", got, local)
	}
}

// A dial from port 0 binds a port it picked in the kernel's ephemeral
// range. Once regstorm has closed that connection first (a FIN: the
// socket stays in TIME-WAIT), a dial bound to the same port toward the
// same peer takes the TIME-WAIT 4-tuple over: what lets dialTCP's picks,
// and a NAP's reconnect from its port, ignore TIME-WAIT.
func TestDialTakesOverTimeWait(t *testing.T) {
	ln := tcpListener(t, func(c net.Conn) { // close once the client has: the client keeps TIME-WAIT
		_, _ = c.Read(make([]byte, 1))
		c.Close()
	})
	c, err := dialTCP(context.Background(), netip.MustParseAddrPort("127.0.0.1:0"), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	local := c.LocalAddr().(*net.TCPAddr).AddrPort()
	if r := portRange(); local.Port() < r.lo || local.Port() > r.hi || r.reserved[local.Port()] {
		t.Fatalf("port %d outside %d–%d or reserved", local.Port(), r.lo, r.hi)
	}
	c.Close()
	for deadline := time.Now().Add(5 * time.Second); !inTimeWait(t, local, ln.Addr().(*net.TCPAddr).AddrPort()); {
		if time.Now().After(deadline) {
			t.Fatalf("%v not in TIME-WAIT after a FIN", local)
		}
		time.Sleep(10 * time.Millisecond)
	}
	again, err := dialTCP(context.Background(), local, ln.Addr().String())
	if err != nil {
		t.Fatalf("dial from %v, in TIME-WAIT: %v", local, err)
	}
	again.Close()
}

// inTimeWait: the IPv4 connection from local to remote is in TIME-WAIT
// (/proc/net/tcp).
func inTimeWait(t *testing.T, local, remote netip.AddrPort) bool {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skip(err)
	}
	hex := func(a netip.AddrPort) string { // as /proc/net/tcp writes it
		ip := a.Addr().As4()
		return fmt.Sprintf("%08X:%04X", binary.LittleEndian.Uint32(ip[:]), a.Port())
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 3 && f[1] == hex(local) && f[2] == hex(remote) && f[3] == "06" {
			return true
		}
	}
	return false
}

func TestParseReservedPorts(t *testing.T) {
	got := parseReserved("8080, 32770-32772,60999,x,61000-61005", 32768, 60999)
	want := map[uint16]bool{32770: true, 32771: true, 32772: true, 60999: true}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for p := range want {
		if !got[p] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if parseReserved("", 32768, 60999) != nil {
		t.Fatal("nothing reserved, yet a map")
	}
	r := &ports{lo: 1000, hi: 1003, reserved: map[uint16]bool{1000: true, 1001: true, 1003: true}}
	for range 20 {
		if p := r.pick(); p != 1002 {
			t.Fatalf("picked %d", p)
		}
	}
}

// A reconnect from the port of a connection that regstorm has just
// closed in order, toward a peer that has not closed its side (frozen, or
// slow), gets the port: the old socket gives up the 4-tuple once the
// peer's kernel has acknowledged the FIN, and dialTCP waits for that
// rather than failing at once (its caller would then take another port,
// and the NAP's Contact would change).
func TestDialReconnectsFromAPortJustClosed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	held := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held <- c // never closed here: a peer that does not answer the FIN
		}
	}()
	defer func() {
		for len(held) > 0 {
			(<-held).Close()
		}
	}()
	c, err := dialTCP(context.Background(), netip.MustParseAddrPort("127.0.0.1:0"), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	local := c.LocalAddr().(*net.TCPAddr).AddrPort()
	<-time.After(50 * time.Millisecond) // accepted
	c.Close()
	again, err := dialTCP(context.Background(), local, ln.Addr().String())
	if err != nil {
		t.Fatalf("reconnect from %v right after a FIN: %v", local, err)
	}
	again.Close()
}

// tcpListener listens on a loopback port for the test's life and gives
// each accepted connection to serve (nil: holds it open until the end).
func tcpListener(t testing.TB, serve func(c net.Conn)) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if serve == nil {
				t.Cleanup(func() { c.Close() })
				continue
			}
			go serve(c)
		}
	}()
	return ln
}
