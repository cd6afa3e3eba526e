package netio

import (
	"net"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// A UDP socket that is sent more than its receive buffer holds, and not
// read, counts the datagrams the kernel dropped.
func TestDropsCountsAFullReceiveBuffer(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4096)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	port := sa.(*unix.SockaddrInet4).Port
	c := &udpConn{fd: fd}
	if d := c.Drops(); d != 0 {
		t.Fatalf("%d drops before any datagram", d)
	}
	out, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	msg := make([]byte, 1000)
	for range 200 { // 200 kB into a few kB of buffer
		_, _ = out.Write(msg)
	}
	// Loopback delivers each datagram within its send: no wait needed.
	if d := c.Drops(); d < 100 {
		t.Errorf("%d drops, want most of 200", d)
	}
}
