package netio

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// A dial from port 0 leaves the choice of the port to connect()
// (IP_BIND_ADDRESS_NO_PORT): bind(0)'s search for a free port grew with
// every per-nap connection already open. A reconnect from the port it had
// still binds that port.
func TestDialLeavesPortToConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
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
