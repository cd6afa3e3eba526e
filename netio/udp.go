package netio

import (
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/regstorm/regstorm/sipwire"
)

// UDP sockets are neither on gnet nor on Go's netpoller.
//
//   - A gnet client connection closes itself on the first EPOLLERR, and a
//     connected UDP socket gets one for every ICMP port unreachable, that
//     is whenever the registrar is down for a moment: the NAPs would then
//     write into a closed descriptor forever.
//   - Waking a goroutine per datagram through Go's netpoller and timers
//     costs 20–40 µs of CPU per wake-up on this 2-core machine (scheduler
//     spinning and futex hand-offs): at 2 000 REGISTER/s that alone is
//     more than SIPp spends per transaction (bench/RESULTS.md).
//
// Instead one OS thread runs an epoll loop over every UDP socket: it
// sleeps in epoll_wait until a datagram arrives or the next timer is due
// (the timeout comes from the step function the engine sets), reads with
// recvmmsg, and calls the step, which fires due timers and sends with
// sendmmsg. The sockets are bound, not connected (dialUDP says why), so
// they take answers from any address and see no ICMP errors: to a NAP a
// dead registrar is a lost datagram, which retransmissions and Timer F
// already handle.

// recvBatch is how many datagrams one recvmmsg may return.
const recvBatch = 16

type recvBufs struct {
	bufs [recvBatch][sipwire.MaxMessageSize]byte
	iov  [recvBatch]unix.Iovec
	msgs [recvBatch]mmsghdr
	ctrl [recvBatch][64]byte              // SO_TIMESTAMPNS control messages
	from [recvBatch]unix.RawSockaddrInet6 // each datagram's source (IPv4 fits too)
}

func newRecvBufs() *recvBufs {
	rb := new(recvBufs)
	for i := range rb.msgs {
		rb.iov[i].Base = &rb.bufs[i][0]
		rb.iov[i].SetLen(len(rb.bufs[i]))
		rb.msgs[i].hdr.Iov = &rb.iov[i]
		rb.msgs[i].hdr.SetIovlen(1)
		rb.msgs[i].hdr.Control = &rb.ctrl[i][0]
		rb.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&rb.from[i]))
	}
	return rb
}

// arrival reads the kernel's receive time of message i from its
// SO_TIMESTAMPNS control message (zero time if there is none).
func (rb *recvBufs) arrival(i int) time.Time {
	c := rb.ctrl[i][:rb.msgs[i].hdr.Controllen]
	for len(c) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&c[0]))
		if h.Len < unix.SizeofCmsghdr || int(h.Len) > len(c) {
			break
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SO_TIMESTAMPNS && int(h.Len) >= unix.CmsgLen(int(unsafe.Sizeof(unix.Timespec{}))) {
			ts := (*unix.Timespec)(unsafe.Pointer(&c[unix.CmsgLen(0)]))
			return time.Unix(ts.Sec, ts.Nsec)
		}
		c = c[min(unix.CmsgSpace(int(h.Len)-unix.CmsgLen(0)), len(c)):]
	}
	return time.Time{}
}

// maxSleep bounds an epoll_wait when no timer is due sooner, so a step
// function set late or a stop is noticed.
const maxSleep = 5 * time.Millisecond

// udpLoop is the epoll loop of a Loops' UDP sockets.
type udpLoop struct {
	epfd, evfd int
	mu         sync.Mutex
	conns      map[int32]*udpConn
	stopped    bool
	stop       atomic.Bool
	done       chan struct{}
	step       atomic.Pointer[func() time.Duration]
	quantum    atomic.Int64   // ns; 0: wake on every datagram
	noGSO      atomic.Bool    // batches of sockets dialled from now on do not segment
	routeFor   netip.AddrPort // the last target routeSource looked up, under mu
	route      netip.Addr
}

func (l *Loops) startUDP() error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return err
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return err
	}
	l.udp = &udpLoop{epfd: epfd, evfd: evfd, conns: map[int32]*udpConn{}, done: make(chan struct{})}
	go l.udp.run(l.recv)
	return nil
}

// SetStep installs the function the UDP loop calls after every wake-up,
// on its own thread: it fires what is due and says how long the loop may
// sleep before it must be called again.
func (l *Loops) SetStep(step func() time.Duration) {
	l.udp.step.Store(&step)
	l.Wake()
}

// Wake makes the UDP loop call its step soon (something became due
// earlier than it planned to sleep). Safe from any goroutine.
func (l *Loops) Wake() {
	var one = [8]byte{1}
	_, _ = unix.Write(l.udp.evfd, one[:])
}

// SetQuantum makes the UDP loop wake at most once per q: after a wake-up
// it sleeps the rest of q before it looks at its sockets again, so the
// datagrams of that time are read with one recvmmsg and answered with one
// sendmmsg. On this machine every thread wake-up costs 10–15 µs of CPU;
// batching them is what takes the CPU per transaction below the
// datagram-per-wake-up floor. Timers fire up to q late; latency is
// measured from the kernel's arrival timestamp, so it does not grow.
func (l *Loops) SetQuantum(q time.Duration) { l.udp.quantum.Store(int64(q)) }

// SetGSO says whether the batches (NewBatch) of UDP sockets dialled from
// now on send datagrams of one size as one segmented message where the
// kernel can (the default; batch.go).
func (l *Loops) SetGSO(on bool) { l.udp.noGSO.Store(!on) }

func (u *udpLoop) run(recv Receiver) {
	// The loop blocks in epoll_wait on its own thread: no goroutine hand-off
	// between a datagram's arrival and its processing.
	runtime.LockOSThread()
	defer close(u.done)
	events := make([]unix.EpollEvent, 256)
	rb := newRecvBufs()
	wait := maxSleep
	var evbuf [8]byte
	for !u.stop.Load() {
		n, err := epollWaitRaw(u.epfd, events, int(wait/time.Millisecond))
		if err != 0 && err != unix.EINTR {
			return
		}
		woke := time.Now()
		for i := 0; i < n; i++ {
			fd := events[i].Fd
			if int(fd) == u.evfd {
				_, _ = unix.Read(u.evfd, evbuf[:])
				continue
			}
			u.mu.Lock()
			c := u.conns[fd]
			u.mu.Unlock()
			if c != nil {
				u.read(c, rb, recv)
			}
		}
		wait = maxSleep
		if t := u.step.Load(); t != nil {
			wait = min(max((*t)(), 0), maxSleep)
		}
		if q := time.Duration(u.quantum.Load()); q > 0 {
			// Nap the rest of the quantum (a thread sleep, not a Go timer),
			// then look again: whatever arrived meanwhile is read at once.
			if rest := q - time.Since(woke); rest > 0 && !u.stop.Load() {
				ts := unix.NsecToTimespec(int64(rest))
				_, _, _ = unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
				wait -= rest
			}
		}
		// epoll_wait counts whole milliseconds: round up, or the loop would
		// spin until a sub-millisecond deadline.
		wait = max((wait+time.Millisecond-1)/time.Millisecond*time.Millisecond, 0)
	}
}

// epollWaitRaw is epoll_wait without telling the Go scheduler: as a
// normal syscall, every wait parked the P in "syscall" state and kept the
// runtime's sysmon thread polling every 20 µs (tens of thousands of
// wake-ups a second, measured with strace). Waits are short (maxSleep),
// and a preemption or GC signal interrupts them with EINTR.
func epollWaitRaw(epfd int, events []unix.EpollEvent, msec int) (int, unix.Errno) {
	n, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(msec), 0, 0)
	return int(n), errno
}

// read delivers what c's socket holds, a recvmmsg at a time.
func (u *udpLoop) read(c *udpConn, rb *recvBufs, recv Receiver) {
	for errs := 0; errs < 4; {
		for i := range rb.msgs {
			rb.msgs[i].hdr.SetControllen(len(rb.ctrl[i]))
			rb.msgs[i].hdr.Namelen = unix.SizeofSockaddrInet6
		}
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(c.fd), uintptr(unsafe.Pointer(&rb.msgs[0])), recvBatch, unix.MSG_DONTWAIT, 0, 0)
		switch {
		case errno == unix.EAGAIN:
			return
		case errno == unix.EINTR:
			continue
		case errno != 0:
			// ECONNREFUSED and the like: an ICMP error for an earlier
			// datagram, reported once and cleared. The socket lives on.
			errs++
			continue
		}
		for i := 0; i < int(n); i++ {
			recv.OnMessageAt(c.tag, rb.bufs[i][:rb.msgs[i].len], rb.arrival(i), rawAddrPort(&rb.from[i]))
		}
		if int(n) < recvBatch {
			return // level-triggered: anything newer is reported again
		}
	}
}

// udpConn is a bound UDP socket (dialUDP says why not connected): its
// datagrams go to its target (Send, a Batch) or to another (SendTo).
type udpConn struct {
	conn
	fd      int
	peer    unix.RawSockaddrInet6 // the target, for sendto
	peerLen uint32
	gso     bool // its batches may segment (SetGSO, and the kernel can)
}

// Send writes one datagram to the target; EAGAIN drops it, as a lossy
// network would.
func (c *udpConn) Send(b []byte) error {
	if c.closed.Load() {
		return ErrClosed
	}
	return c.sendTo(b)
}

// Ping: a datagram socket has no keep-alive ping.
func (c *udpConn) Ping() error { return ErrNotStream }

// Handshake is zero: a datagram socket has none.
func (c *udpConn) Handshake() Handshake { return Handshake{} }

// Close and Abort refuse: UDP sockets live as long as their Loops, and
// close with Loops.Stop, after the loop reading them has ended.
func (c *udpConn) Close() error { return errUDPClose }
func (c *udpConn) Abort() error { return errUDPClose }

func (l *Loops) dialUDP(local netip.AddrPort, remote string, tag any) (*udpConn, error) {
	ra, err := net.ResolveUDPAddr("udp", remote)
	if err != nil {
		return nil, err
	}
	rap := ra.AddrPort()
	family := unix.AF_INET6
	if rap.Addr().Unmap().Is4() && (!local.IsValid() || !local.Addr().IsValid() || local.Addr().Unmap().Is4()) {
		family = unix.AF_INET
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*udpConn, error) { unix.Close(fd); return nil, err }
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1) // arrival times (TimedReceiver)
	// The socket is bound, never connected: a connected UDP socket takes
	// datagrams from its peer's address and port only, and some registrars
	// answer from another port or address (separate send sockets, a
	// cluster behind one name). Responses are matched by branch and CSeq
	// (RFC 3261 §17.1.3), never by source. Without a chosen address, bind
	// to the one the route to the target uses: it goes into Via and Contact.
	if !local.IsValid() || !local.Addr().IsValid() || local.Addr().IsUnspecified() {
		src, err := l.udp.routeSource(family, rap)
		if err != nil {
			return fail(err)
		}
		local = netip.AddrPortFrom(src, local.Port())
	}
	if err := unix.Bind(fd, sockaddrOf(family, local)); err != nil {
		return fail(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return fail(err)
	}
	c := &udpConn{conn: conn{tag: tag, local: addrPortOf(sa)}, fd: fd, gso: !l.udp.noGSO.Load() && gsoAvailable(fd)}
	c.setPeer(family, rap)
	u := l.udp
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.stopped {
		return fail(ErrClosed)
	}
	if err := unix.EpollCtl(u.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
		return fail(err)
	}
	u.conns[int32(fd)] = c
	return c, nil
}

// routeSource is the local address the kernel picks to reach remote: a
// throwaway connected socket asks the routing table, once per target
// (per-nap mode dials 10^5 sockets to one target).
func (u *udpLoop) routeSource(family int, remote netip.AddrPort) (netip.Addr, error) {
	u.mu.Lock()
	if u.routeFor == remote && u.route.IsValid() {
		defer u.mu.Unlock()
		return u.route, nil
	}
	u.mu.Unlock()
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return netip.Addr{}, err
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, sockaddrOf(family, remote)); err != nil {
		return netip.Addr{}, err
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.Addr{}, err
	}
	src := addrPortOf(sa).Addr()
	u.mu.Lock()
	u.routeFor, u.route = remote, src
	u.mu.Unlock()
	return src, nil
}

// setPeer stores the target as a raw socket address, for sendto and
// sendmmsg without an allocation per datagram.
func (c *udpConn) setPeer(family int, ap netip.AddrPort) {
	c.peerLen = fillRaw(&c.peer, family, ap)
}

// fillRaw writes ap into sa as family's socket address; it returns the
// address's length.
func fillRaw(sa *unix.RawSockaddrInet6, family int, ap netip.AddrPort) uint32 {
	if family == unix.AF_INET {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		sa4.Family = unix.AF_INET
		sa4.Addr = ap.Addr().Unmap().As4()
		p := (*[2]byte)(unsafe.Pointer(&sa4.Port))
		p[0], p[1] = byte(ap.Port()>>8), byte(ap.Port())
		return unix.SizeofSockaddrInet4
	}
	sa.Family = unix.AF_INET6
	sa.Addr = ap.Addr().As16()
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = byte(ap.Port()>>8), byte(ap.Port())
	return unix.SizeofSockaddrInet6
}

// sendTo writes one datagram to the socket's peer.
func (c *udpConn) sendTo(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	_, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(c.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0,
		uintptr(unsafe.Pointer(&c.peer)), uintptr(c.peerLen))
	if errno != 0 {
		return errno
	}
	return nil
}

// SendTo writes one datagram to another address than the socket's
// target: a NAP that failed over to the next server (RFC 3263 §4.3)
// keeps its socket, and so its Contact. to must be of the socket's
// family.
func (c *udpConn) SendTo(b []byte, to netip.AddrPort) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if len(b) == 0 {
		return nil
	}
	family := unix.AF_INET6
	if c.peerLen == unix.SizeofSockaddrInet4 {
		family = unix.AF_INET
	}
	var sa unix.RawSockaddrInet6
	n := fillRaw(&sa, family, to)
	_, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(c.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0,
		uintptr(unsafe.Pointer(&sa)), uintptr(n))
	if errno != 0 {
		return errno
	}
	return nil
}

// rawAddrPort reads a source address recvmmsg wrote (IPv4 or IPv6).
func rawAddrPort(sa *unix.RawSockaddrInet6) netip.AddrPort {
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	port := uint16(p[0])<<8 | uint16(p[1])
	if sa.Family == unix.AF_INET {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port)
	}
	return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port)
}

// Sockaddr is ap as a socket address: IPv4 (also for a v4-mapped
// address) or IPv6.
func Sockaddr(ap netip.AddrPort) unix.Sockaddr {
	if ap.Addr().Unmap().Is4() {
		return sockaddrOf(unix.AF_INET, ap)
	}
	return sockaddrOf(unix.AF_INET6, ap)
}

func sockaddrOf(family int, ap netip.AddrPort) unix.Sockaddr {
	if family == unix.AF_INET {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().Unmap().As4()}
	}
	a := ap.Addr()
	if !a.IsValid() {
		a = netip.IPv6Unspecified()
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
}

func addrPortOf(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port))
	}
	return netip.AddrPort{}
}

// stopUDP ends the loop, then closes every UDP socket.
func (l *Loops) stopUDP() {
	u := l.udp
	u.stop.Store(true)
	l.Wake()
	<-u.done
	u.mu.Lock()
	u.stopped = true
	conns := u.conns
	u.conns = nil
	u.mu.Unlock()
	for _, c := range conns {
		if !c.closed.Swap(true) {
			unix.Close(c.fd)
		}
	}
	unix.Close(u.evfd)
	unix.Close(u.epfd)
}

var errUDPClose = errors.New("netio: UDP sockets close with Loops.Stop")
