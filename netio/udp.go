package netio

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/regstorm/regstorm/sipwire"
)

// UDP sockets are not on gnet: a gnet client connection closes itself on
// the first EPOLLERR, and a connected UDP socket gets one for every ICMP
// port unreachable, i.e. whenever the registrar is down for a moment. The
// NAPs would then write into a closed descriptor forever. Here a reader
// goroutine per socket waits on Go's netpoller, reads with recvmmsg, and
// takes such errors for what they are: a lost datagram.

// recvBatch is how many datagrams one recvmmsg may return.
const recvBatch = 16

// recvBufs are one reader's buffers, taken from a pool only while it
// reads: 10^4 per-NAP sockets do not hold 10^4 MiB of buffers.
type recvBufs struct {
	bufs [recvBatch][sipwire.MaxMessageSize]byte
	iov  [recvBatch]unix.Iovec
	msgs [recvBatch]mmsghdr
}

var recvPool = sync.Pool{New: func() any {
	rb := new(recvBufs)
	for i := range rb.msgs {
		rb.iov[i].Base = &rb.bufs[i][0]
		rb.iov[i].SetLen(len(rb.bufs[i]))
		rb.msgs[i].hdr.Iov = &rb.iov[i]
		rb.msgs[i].hdr.SetIovlen(1)
	}
	return rb
}}

// udpSet tracks the UDP sockets of a Loops, to close them in Stop.
type udpSet struct {
	mu      sync.Mutex
	conns   map[*Conn]struct{}
	stopped bool
	readers sync.WaitGroup
}

func (l *Loops) dialUDP(local netip.AddrPort, remote string, tag any) (*Conn, error) {
	ra, err := net.ResolveUDPAddr("udp", remote)
	if err != nil {
		return nil, err
	}
	var la *net.UDPAddr
	if local.IsValid() {
		la = net.UDPAddrFromAddrPort(local)
	}
	uc, err := net.DialUDP("udp", la, ra)
	if err != nil {
		return nil, err
	}
	_ = uc.SetReadBuffer(4 << 20)
	_ = uc.SetWriteBuffer(4 << 20)
	rc, err := uc.SyscallConn()
	if err != nil {
		uc.Close()
		return nil, err
	}
	c := &Conn{udp: uc, tag: tag}
	c.Local, _ = netip.ParseAddrPort(uc.LocalAddr().String())
	_ = rc.Control(func(fd uintptr) { c.fd = int(fd) })

	u := &l.udp
	u.mu.Lock()
	if u.stopped {
		u.mu.Unlock()
		uc.Close()
		return nil, ErrClosed
	}
	if u.conns == nil {
		u.conns = map[*Conn]struct{}{}
	}
	u.conns[c] = struct{}{}
	u.readers.Add(1)
	u.mu.Unlock()
	go l.readUDP(c, rc)
	return c, nil
}

// readUDP delivers c's datagrams until c is closed.
func (l *Loops) readUDP(c *Conn, rc syscall.RawConn) {
	defer l.udp.readers.Done()
	for !c.closed.Load() {
		err := rc.Read(func(fd uintptr) bool {
			rb := recvPool.Get().(*recvBufs)
			defer recvPool.Put(rb)
			for {
				n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&rb.msgs[0])), recvBatch, unix.MSG_DONTWAIT, 0, 0)
				switch {
				case errno == unix.EAGAIN:
					return false // wait for the netpoller
				case errno == unix.EINTR:
					continue
				case errno != 0:
					// ECONNREFUSED and the like: an ICMP error for an earlier
					// datagram, reported once and cleared. The socket lives on.
					if c.closed.Load() {
						return true
					}
					continue
				}
				for i := 0; i < int(n); i++ {
					l.recv.OnMessage(c.tag, rb.bufs[i][:rb.msgs[i].len])
				}
				if int(n) < recvBatch {
					return false // drained; an arrival from now on wakes us
				}
			}
		})
		if err != nil && (errors.Is(err, net.ErrClosed) || c.closed.Load()) {
			return
		}
	}
}

// closeUDP closes every UDP socket and waits for their readers.
func (l *Loops) closeUDP() {
	u := &l.udp
	u.mu.Lock()
	u.stopped = true
	conns := u.conns
	u.conns = nil
	u.mu.Unlock()
	for c := range conns {
		_ = c.Close()
	}
	u.readers.Wait()
}
