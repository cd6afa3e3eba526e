// Command echo measures the floor of a UDP request/response on loopback:
// the barest round trip of a fixed 500-byte datagram, sent and received in
// batches with sendmmsg/recvmmsg (golang.org/x/sys), no parsing, no state.
// Its CPU per round trip is what regstorm's CPU per REGISTER transaction
// is compared with (bench/RESULTS.md, issue 7).
//
//	echo serve  -addr 127.0.0.1:25099
//	echo client -addr 127.0.0.1:25099 -rate 2000 -n 20000
//
// Each side prints its own CPU (getrusage) per round trip.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	size  = 500
	batch = 64
)

// mmsghdr is struct mmsghdr from <sys/socket.h> (x/sys has no wrapper).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// ring holds batch buffers, iovecs and message headers, reused forever.
type ring struct {
	bufs  [batch][size]byte
	iov   [batch]unix.Iovec
	msgs  [batch]mmsghdr
	addrs [batch]unix.RawSockaddrInet4
}

func newRing(withAddrs bool) *ring {
	r := &ring{}
	for i := range r.msgs {
		r.iov[i].Base = &r.bufs[i][0]
		r.iov[i].SetLen(size)
		r.msgs[i].hdr.Iov = &r.iov[i]
		r.msgs[i].hdr.SetIovlen(1)
		if withAddrs {
			r.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&r.addrs[i]))
			r.msgs[i].hdr.Namelen = uint32(unsafe.Sizeof(r.addrs[i]))
		}
	}
	return r
}

func mmsg(trap uintptr, fd int, r *ring, n int, flags int) (int, error) {
	for {
		got, _, errno := unix.Syscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(&r.msgs[0])), uintptr(n), uintptr(flags), 0, 0)
		if errno == unix.EINTR { // the Go runtime's preemption signal
			continue
		}
		if errno != 0 {
			return 0, errno
		}
		return int(got), nil
	}
}

func cpu() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func udpSocket(bind *unix.SockaddrInet4, connect *unix.SockaddrInet4) int {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	check(err)
	check(unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20))
	check(unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20))
	if bind != nil {
		check(unix.Bind(fd, bind))
	}
	if connect != nil {
		check(unix.Connect(fd, connect))
	}
	return fd
}

func sockaddr(s string) *unix.SockaddrInet4 {
	a, err := net.ResolveUDPAddr("udp4", s)
	check(err)
	sa := &unix.SockaddrInet4{Port: a.Port}
	copy(sa.Addr[:], a.IP.To4())
	return sa
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

// serve bounces every datagram back to its sender, a batch at a time,
// until it has been idle for idle.
func serve(addr string, idle time.Duration) {
	fd := udpSocket(sockaddr(addr), nil)
	tv := unix.NsecToTimeval(idle.Nanoseconds())
	check(unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv))
	r := newRing(true)
	start := cpu()
	total := 0
	for {
		for i := range r.msgs {
			r.msgs[i].hdr.Namelen = uint32(unsafe.Sizeof(r.addrs[i]))
		}
		n, err := mmsg(unix.SYS_RECVMMSG, fd, r, batch, unix.MSG_WAITFORONE)
		if err == unix.EAGAIN || err == unix.EWOULDBLOCK {
			if total > 0 {
				break
			}
			continue
		}
		check(err)
		for i := 0; i < n; i++ {
			r.iov[i].SetLen(int(r.msgs[i].len))
		}
		if _, err := mmsg(unix.SYS_SENDMMSG, fd, r, n, 0); err != nil {
			check(err)
		}
		for i := 0; i < n; i++ {
			r.iov[i].SetLen(size)
		}
		total += n
	}
	used := cpu() - start
	fmt.Printf("serve: %d round trips, CPU %.3f s, %.2f us per round trip\n", total, used.Seconds(), float64(used.Microseconds())/float64(total))
}

// client sends n datagrams at rate per second (0: as fast as possible,
// window in flight), in 1 ms batches, and counts the echoes.
func client(addr string, n, rate, window int) {
	fd := udpSocket(nil, sockaddr(addr))
	tx, rx := newRing(false), newRing(false)
	start, begin := cpu(), time.Now()
	sent, got := 0, 0
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(time.Duration(n/max(rate, 1)+5) * time.Second)
	for got < n && time.Now().Before(deadline) {
		want := n
		if rate > 0 {
			want = min(n, int(float64(rate)*time.Since(begin).Seconds())+1)
		} else {
			want = min(n, got+window)
		}
		for sent < want {
			k := min(batch, want-sent)
			m, err := mmsg(unix.SYS_SENDMMSG, fd, tx, k, 0)
			if err != nil {
				break
			}
			sent += m
		}
		for {
			m, err := mmsg(unix.SYS_RECVMMSG, fd, rx, batch, unix.MSG_DONTWAIT)
			if err != nil || m == 0 {
				break
			}
			got += m
		}
		if rate > 0 || got >= sent {
			<-tick.C
		}
	}
	used := cpu() - start
	el := time.Since(begin)
	fmt.Printf("client: %d sent, %d echoed in %.2f s (%.0f/s), CPU %.3f s, %.2f us per round trip\n",
		sent, got, el.Seconds(), float64(got)/el.Seconds(), used.Seconds(), float64(used.Microseconds())/float64(max(got, 1)))
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: echo serve|client [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:25099", "UDP address")
	n := fs.Int("n", 20000, "round trips (client)")
	rate := fs.Int("rate", 2000, "round trips per second; 0: as fast as possible (client)")
	window := fs.Int("window", 1000, "in flight with -rate 0 (client)")
	idle := fs.Duration("idle", 2*time.Second, "stop after this long without traffic (serve)")
	_ = fs.Parse(os.Args[2:])
	switch os.Args[1] {
	case "serve":
		serve(*addr, *idle)
	case "client":
		client(*addr, *n, *rate, *window)
	default:
		fmt.Fprintln(os.Stderr, "usage: echo serve|client [flags]")
		os.Exit(2)
	}
}
