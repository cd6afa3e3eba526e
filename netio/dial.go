package netio

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// dialTCP connects a TCP connection (tcp, and under tls, ws and wss) from
// local. From port 0 it picks the port itself, at random in the kernel's
// ephemeral range, and binds it (SO_REUSEADDR, reuseAddr); a port that
// cannot be had (EADDRINUSE: bound by another socket; EADDRNOTAVAIL: its
// 4-tuple toward remote is taken) is followed by another, and after
// portTries by connect()'s own choice.
//
// Why not leave the port to connect() (IP_BIND_ADDRESS_NO_PORT): a
// connection that regstorm closed first (close.go: every TCP one at the
// end of a run) stays 60 s in TIME-WAIT, and connect() skips every port
// whose 4-tuple toward remote such a socket holds, probing them one by
// one, unless the target is on loopback (net.ipv4.tcp_tw_reuse 2, the
// default). A port bound explicitly may take over a TIME-WAIT 4-tuple
// (the kernel checks the timestamps, as for a reconnect from the same
// port). With 10^4 sockets in TIME-WAIT toward one non-loopback address,
// 10^4 connects took 13 s from port 0, 0.73 s with ports picked here
// (12 291 tries); bench/RESULTS.md, 2026-12-07.
func dialTCP(ctx context.Context, local netip.AddrPort, remote string) (net.Conn, error) {
	if r := portRange(); local.Port() == 0 && r.lo != 0 {
		for range portTries {
			p := r.pick()
			d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(local.Addr(), p)), Control: reuseAddr}
			c, err := d.DialContext(ctx, "tcp", remote)
			if err == nil || !(errors.Is(err, unix.EADDRINUSE) || errors.Is(err, unix.EADDRNOTAVAIL)) {
				return c, err
			}
		}
	}
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(local), Control: reuseAddr}
	c, err := d.DialContext(ctx, "tcp", remote)
	// A reconnect from the port of a connection just closed in order,
	// toward a peer that has not closed its side (frozen, or slow): the
	// old socket keeps the 4-tuple for some ms more (FIN-WAIT-2; 27 ms on
	// loopback), until the kernel turns it into a TIME-WAIT socket, which
	// a bound port may take over. Failing at once, the caller would take
	// another port, and the NAP's Contact would change.
	for wait := 5 * time.Millisecond; err != nil && local.Port() != 0 && errors.Is(err, unix.EADDRNOTAVAIL) && wait <= sameportWait; wait *= 2 {
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
		c, err = d.DialContext(ctx, "tcp", remote)
	}
	return c, err
}

// sameportWait is the longest of the waits (5, 10, … ms; 315 ms in all)
// before a reconnect from a port whose 4-tuple is still taken gives up,
// and its caller takes another port.
const sameportWait = 160 * time.Millisecond

// portTries bounds the ports a dial from port 0 tries before it leaves
// the choice to connect(): even with three quarters of the range taken
// toward the target, 32 tries all fail one time in 10^4.
const portTries = 32

// ports is the kernel's ephemeral range, less its reserved ports; lo 0:
// none to pick from.
type ports struct {
	lo, hi   uint16
	reserved map[uint16]bool
}

// pick is a port of the range, at random, not reserved.
func (r *ports) pick() uint16 {
	for {
		p := r.lo + uint16(rand.IntN(int(r.hi-r.lo)+1))
		if !r.reserved[p] {
			return p
		}
	}
}

// portRange reads net.ipv4.ip_local_port_range and ip_local_reserved_ports
// once (they apply to IPv6 too); 32768–60999 if unreadable.
var portRange = sync.OnceValue(func() *ports {
	r := &ports{lo: 32768, hi: 60999}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			lo, err1 := strconv.ParseUint(f[0], 10, 16)
			hi, err2 := strconv.ParseUint(f[1], 10, 16)
			if err1 == nil && err2 == nil && 0 < lo && lo <= hi {
				r.lo, r.hi = uint16(lo), uint16(hi)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_reserved_ports"); err == nil {
		r.reserved = parseReserved(strings.TrimSpace(string(b)), r.lo, r.hi)
	}
	if len(r.reserved) > int(r.hi-r.lo) {
		r.lo = 0 // all of it reserved: leave the port to connect()
	}
	return r
})

// parseReserved reads a list like "8080,9000-9100": the ports of it
// within lo–hi.
func parseReserved(s string, lo, hi uint16) map[uint16]bool {
	var m map[uint16]bool
	for _, part := range strings.Split(s, ",") {
		a, b, ok := strings.Cut(strings.TrimSpace(part), "-")
		from, err1 := strconv.ParseUint(a, 10, 16)
		to := from
		var err2 error
		if ok {
			to, err2 = strconv.ParseUint(b, 10, 16)
		}
		if err1 != nil || err2 != nil {
			continue
		}
		for p := max(from, uint64(lo)); p <= min(to, uint64(hi)); p++ {
			if m == nil {
				m = make(map[uint16]bool)
			}
			m[uint16(p)] = true
		}
	}
	return m
}

// reuseAddr lets a reconnect bind the port its closed connection had
// (the peer may still hold that one in TIME-WAIT, or regstorm: a port
// bound explicitly may take over a TIME-WAIT 4-tuple), and dialTCP bind
// the ports it picks. It also sets IP_BIND_ADDRESS_NO_PORT, so that a
// bind to port 0 (dialTCP's last resort) leaves the choice of the port to
// connect(): bind(0) looks for a port no socket is bound to, a search
// that grows with the sockets already bound (10^4 per-nap connections
// spent 30 % of the tester's CPU in it, bench/RESULTS.md), while
// connect() only needs the 4-tuple to be unique. An explicit port is
// unaffected; a kernel without the option (before 4.2) binds as before.
func reuseAddr(_, _ string, rc syscall.RawConn) error {
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	}); err != nil {
		return err
	}
	return serr
}
