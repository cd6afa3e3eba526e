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

// UDP generic segmentation offload (UDP_SEGMENT, Linux 4.18): one
// sendmsg carries several datagrams of one size to one address (the last
// may be shorter), and the kernel's network stack runs once for all of
// them, not once per datagram; they are cut apart where a NIC would cut
// them, or on loopback just before the receiving socket. Measured on
// loopback with 500-byte datagrams, the sender's CPU per datagram falls
// from 2.4 to 1.0 µs at 16 per flush, and from 2.1 to 0.7 µs at 64
// (bench/gso.sh, bench/RESULTS.md, issue 17).
const (
	// gsoMaxSegments is the kernel's UDP_MAX_SEGMENTS before 6.10 (128
	// since); BatchSize is no more anyway.
	gsoMaxSegments = 64
	// gsoMaxBytes bounds one super-datagram: an IP packet's 65 535 bytes
	// less the IPv4 and UDP headers, and some room.
	gsoMaxBytes = 65000
)

var gsoCmsgSpace = unix.CmsgSpace(2) // a uint16: the segment size

// Batch collects datagrams for one UDP socket's target and sends them
// with sendmmsg: one syscall for up to BatchSize messages. Where the
// kernel offers UDP_SEGMENT, datagrams of equal size go out as one
// segmented message each (several to a sendmmsg, one per size), in
// order within a size. Its buffers are allocated once; Add copies, so the
// caller may reuse its slice.
type Batch struct {
	c    *udpConn
	bufs [BatchSize][2048]byte
	iov  [BatchSize]unix.Iovec
	msgs [BatchSize]mmsghdr
	n    int
	Sent int64 // datagrams the kernel took
	Lost int64 // datagrams dropped (socket buffer full, too large)

	// Segmentation offload: gso while the kernel takes it.
	gso  bool
	giov [BatchSize]unix.Iovec // the datagrams' iovecs grouped by size
	out  [BatchSize]mmsghdr    // one per size group (or lone datagram), over giov
	segs [BatchSize]uint8      // datagrams in out[k]
	ctrl [BatchSize][4]uint64  // out[k]'s UDP_SEGMENT control message (8-byte aligned)
	one  [BatchSize]mmsghdr    // one per datagram of giov: the fallback
	used [BatchSize]bool       // grouping scratch
	// GSOSends counts the segmented messages sent and GSODatagrams the
	// datagrams they carried; GSORefused the segmented messages the
	// kernel refused (EIO: the route's device cannot; EINVAL or EMSGSIZE:
	// a segment larger than the path's MTU, a socket without checksums): each was
	// sent again one datagram at a time, and the batch sends so from then on.
	GSOSends, GSODatagrams, GSORefused int64
}

// NewBatch makes a batch for the socket's sends.
func (c *udpConn) NewBatch() Batcher { return newBatch(c) }

func newBatch(c *udpConn) *Batch {
	b := &Batch{c: c, gso: c.gso}
	for i := range b.msgs {
		b.iov[i].Base = &b.bufs[i][0]
		b.msgs[i].hdr.Iov = &b.iov[i]
		b.msgs[i].hdr.SetIovlen(1)
		b.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&c.peer)) // the socket is not connected
		b.msgs[i].hdr.Namelen = c.peerLen
		b.out[i].hdr.Name = (*byte)(unsafe.Pointer(&c.peer))
		b.out[i].hdr.Namelen = c.peerLen
		b.one[i].hdr.Iov = &b.giov[i]
		b.one[i].hdr.SetIovlen(1)
		b.one[i].hdr.Name = (*byte)(unsafe.Pointer(&c.peer))
		b.one[i].hdr.Namelen = c.peerLen
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b.ctrl[i]))
		h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
		h.SetLen(unix.CmsgLen(2))
	}
	return b
}

// gsoAvailable asks the socket for UDP_SEGMENT: a kernel that does not
// know it says ENOPROTOOPT. (Such a kernel ignores the control message on
// send and would send the concatenation as one datagram, so asking first
// is not optional.)
func gsoAvailable(fd int) bool {
	_, err := unix.GetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT)
	return err == nil
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

// GSO is how many segmented messages were sent, with how many datagrams,
// and how many the kernel refused, so far.
func (b *Batch) GSO() (sends, datagrams, refused int64) {
	return b.GSOSends, b.GSODatagrams, b.GSORefused
}

// Flush sends what is queued.
func (b *Batch) Flush() {
	if b.gso && b.n > 1 {
		b.flushGSO()
	} else {
		b.sendEach(b.msgs[:b.n])
	}
	b.n = 0
}

// sendEach sends one datagram per message header, with as few sendmmsg
// as the kernel lets it.
func (b *Batch) sendEach(msgs []mmsghdr) {
	for off := 0; off < len(msgs); {
		got, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(b.c.fd), uintptr(unsafe.Pointer(&msgs[off])), uintptr(len(msgs)-off), 0, 0, 0)
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
}

// flushGSO groups the queued datagrams by size (in the order each size
// first appears, each group in queue order) into segmented messages, and
// sends them with one sendmmsg.
func (b *Batch) flushGSO() {
	n, k, g := b.n, 0, 0 // datagrams, messages, iovecs placed
	b.used = [BatchSize]bool{}
	for i := 0; i < n; i++ {
		if b.used[i] {
			continue
		}
		size := b.iov[i].Len
		limit := min(gsoMaxSegments, gsoMaxBytes/int(size))
		first, segs := g, 0
		for j := i; j < n && segs < limit; j++ {
			if !b.used[j] && b.iov[j].Len == size {
				b.used[j] = true
				b.giov[g] = b.iov[j]
				g++
				segs++
			}
		}
		m := &b.out[k].hdr
		m.Iov = &b.giov[first]
		m.SetIovlen(segs)
		if segs > 1 {
			ctrl := (*[32]byte)(unsafe.Pointer(&b.ctrl[k]))
			*(*uint16)(unsafe.Pointer(&ctrl[unix.CmsgLen(0)])) = uint16(size)
			m.Control = &ctrl[0]
			m.SetControllen(gsoCmsgSpace)
		} else {
			m.Control = nil
			m.SetControllen(0)
		}
		b.segs[k] = uint8(segs) // more of this size than a message holds start the next group
		k++
	}
	for off, first := 0, 0; off < k; {
		got, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(b.c.fd), uintptr(unsafe.Pointer(&b.out[off])), uintptr(k-off), 0, 0, 0)
		if errno == 0 && got > 0 {
			for _, s := range b.segs[off : off+int(got)] {
				b.Sent += int64(s)
				if s > 1 {
					b.GSOSends++
					b.GSODatagrams += int64(s)
				}
				first += int(s)
			}
			off += int(got)
			continue
		}
		s := int(b.segs[off])
		if s > 1 && (errno == unix.EIO || errno == unix.EINVAL || errno == unix.EMSGSIZE) {
			// The kernel does not segment for this socket or route: what is
			// left goes one datagram at a time, now and from now on.
			b.GSORefused++
			b.gso = false
			b.sendEach(b.one[first:g])
			return
		}
		// EAGAIN (buffer full) or another error on this message: its
		// datagrams are lost, as on a lossy network.
		b.Lost += int64(s)
		first += s
		off++
	}
}

// GSOAvailable tells whether UDP sockets segment (UDP_SEGMENT) here.
func GSOAvailable() bool {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return gsoAvailable(fd)
}
