package netio

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// BatchSize is how many datagrams one sendmmsg carries.
const BatchSize = 64

// mmsghdr is struct mmsghdr (x/sys/unix has the syscall number, no wrapper).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// Batch collects datagrams for one UDP socket's target and sends them
// with sendmmsg: one syscall for up to BatchSize messages. Its buffers
// are allocated once; Add copies, so the caller may reuse its slice.
type Batch struct {
	c    *Conn
	bufs [BatchSize][2048]byte
	iov  [BatchSize]unix.Iovec
	msgs [BatchSize]mmsghdr
	n    int
	Sent int64 // datagrams the kernel took
	Lost int64 // datagrams dropped (socket buffer full, too large)
}

// NewBatch makes a batch for c, which must be a UDP connection.
func NewBatch(c *Conn) *Batch {
	b := &Batch{c: c}
	for i := range b.msgs {
		b.iov[i].Base = &b.bufs[i][0]
		b.msgs[i].hdr.Iov = &b.iov[i]
		b.msgs[i].hdr.SetIovlen(1)
		b.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&c.peer)) // the socket is not connected
		b.msgs[i].hdr.Namelen = c.peerLen
	}
	return b
}

// Add queues one datagram, flushing first when the batch is full.
// A datagram larger than a buffer goes out on its own.
func (b *Batch) Add(p []byte) {
	if len(p) > len(b.bufs[0]) {
		b.Flush()
		if b.c.sendTo(p) != nil {
			b.Lost++
		} else {
			b.Sent++
		}
		return
	}
	if b.n == BatchSize {
		b.Flush()
	}
	copy(b.bufs[b.n][:], p)
	b.iov[b.n].SetLen(len(p))
	b.n++
}

// Losses is how many datagrams the kernel did not take, so far.
func (b *Batch) Losses() int64 { return b.Lost }

// Flush sends what is queued.
func (b *Batch) Flush() {
	for off := 0; off < b.n; {
		got, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(b.c.fd), uintptr(unsafe.Pointer(&b.msgs[off])), uintptr(b.n-off), 0, 0, 0)
		if errno != 0 || got == 0 {
			// EAGAIN (buffer full) or an error on the first message: drop
			// it, as a lossy network would; retransmissions cover it.
			b.Lost++
			off++
			continue
		}
		b.Sent += int64(got)
		off += int(got)
	}
	b.n = 0
}
