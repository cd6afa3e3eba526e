// Command gso measures what the kernel charges per UDP datagram on
// loopback (issue 17): a sender thread sends -n datagrams of -size bytes
// to one address, -k per sendmmsg, either as k datagrams or (-gso) as one
// UDP_SEGMENT message of k segments; a receiver thread drains them with
// recvmmsg (-gro: with UDP_GRO, whole segmented messages at a time). Each
// thread reads its own CPU (RUSAGE_THREAD). On loopback the sender's
// system call also runs the receive side's network stack, up to the
// receiving socket's queue, in its softirq: its figure is the cost of a
// datagram from sendmmsg to the peer's queue, the receiver's the cost of
// taking it out.
//
//	gso -size 500 -k 16 -n 200000 [-gso] [-gro]
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

func threadCPU() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "gso:", err)
		os.Exit(1)
	}
}

func socket(bufOpt int) int {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	check(err)
	check(unix.SetsockoptInt(fd, unix.SOL_SOCKET, bufOpt, 8<<20))
	check(unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	return fd
}

func main() {
	size := flag.Int("size", 500, "datagram size, bytes")
	k := flag.Int("k", 16, "datagrams per sendmmsg")
	n := flag.Int("n", 200000, "datagrams")
	gso := flag.Bool("gso", false, "send each k as one UDP_SEGMENT message")
	gro := flag.Bool("gro", false, "receiver: UDP_GRO")
	flag.Parse()
	rounds := *n / *k
	total := rounds * *k

	rfd := socket(unix.SO_RCVBUF)
	if *gro {
		check(unix.SetsockoptInt(rfd, unix.SOL_UDP, unix.UDP_GRO, 1))
	}
	sa, err := unix.Getsockname(rfd)
	check(err)
	port := sa.(*unix.SockaddrInet4).Port
	sfd := socket(unix.SO_SNDBUF)
	if _, err := unix.GetsockoptInt(sfd, unix.SOL_UDP, unix.UDP_SEGMENT); *gso && err != nil {
		check(fmt.Errorf("no UDP_SEGMENT here: %w", err))
	}
	var peer unix.RawSockaddrInet4
	peer.Family = unix.AF_INET
	peer.Addr = [4]byte{127, 0, 0, 1}
	p := (*[2]byte)(unsafe.Pointer(&peer.Port))
	p[0], p[1] = byte(port>>8), byte(port)

	iov := make([]unix.Iovec, *k)
	msgs := make([]mmsghdr, *k)
	for i := range iov {
		b := make([]byte, *size)
		iov[i].Base = &b[0]
		iov[i].SetLen(*size)
		msgs[i].hdr.Iov = &iov[i]
		msgs[i].hdr.SetIovlen(1)
		msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&peer))
		msgs[i].hdr.Namelen = unix.SizeofSockaddrInet4
	}
	var ctrl [4]uint64 // 8-byte aligned
	cb := (*[32]byte)(unsafe.Pointer(&ctrl))
	h := (*unix.Cmsghdr)(unsafe.Pointer(cb))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	*(*uint16)(unsafe.Pointer(&cb[unix.CmsgLen(0)])) = uint16(*size)
	var seg mmsghdr
	seg.hdr.Iov = &iov[0]
	seg.hdr.SetIovlen(*k)
	seg.hdr.Name = (*byte)(unsafe.Pointer(&peer))
	seg.hdr.Namelen = unix.SizeofSockaddrInet4
	seg.hdr.Control = &cb[0]
	seg.hdr.SetControllen(unix.CmsgSpace(2))

	done := make(chan time.Duration)
	go func() {
		runtime.LockOSThread()
		const batch = 16
		bufs := make([][]byte, batch)
		riov := make([]unix.Iovec, batch)
		rm := make([]mmsghdr, batch)
		for i := range rm {
			bufs[i] = make([]byte, 64<<10)
			riov[i].Base = &bufs[i][0]
			riov[i].SetLen(len(bufs[i]))
			rm[i].hdr.Iov = &riov[i]
			rm[i].hdr.SetIovlen(1)
		}
		c0 := threadCPU()
		got := 0
		for got < total {
			m, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(rfd), uintptr(unsafe.Pointer(&rm[0])), batch, unix.MSG_WAITFORONE, 0, 0)
			if errno != 0 {
				continue
			}
			for i := 0; i < int(m); i++ {
				got += (int(rm[i].len) + *size - 1) / *size // a GRO buffer holds several
			}
		}
		done <- threadCPU() - c0
	}()
	runtime.LockOSThread()
	time.Sleep(50 * time.Millisecond)
	c0, t0 := threadCPU(), time.Now()
	for r := 0; r < rounds; r++ {
		if *gso {
			if m, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(sfd), uintptr(unsafe.Pointer(&seg)), 1, 0, 0, 0); errno != 0 || m != 1 {
				check(fmt.Errorf("segmented sendmmsg: %d %v", m, errno))
			}
		} else {
			for off := 0; off < *k; {
				m, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(sfd), uintptr(unsafe.Pointer(&msgs[off])), uintptr(*k-off), 0, 0, 0)
				if errno != 0 {
					check(errno)
				}
				off += int(m)
			}
		}
		if r%8 == 7 {
			time.Sleep(20 * time.Microsecond) // let the receiver keep up: no drops
		}
	}
	sent := threadCPU() - c0
	recv := <-done
	fmt.Printf("size=%d k=%d gso=%v gro=%v: sender %.2f us per datagram, receiver %.2f us per datagram (%d datagrams, %.2f s)\n",
		*size, *k, *gso, *gro, float64(sent.Nanoseconds())/1e3/float64(total), float64(recv.Nanoseconds())/1e3/float64(total),
		total, time.Since(t0).Seconds())
}
