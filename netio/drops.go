package netio

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Linux's SO_MEMINFO and the index of the receive drops in what it
// returns (linux/sock_diag.h); golang.org/x/sys does not name them.
const (
	soMeminfo      = 55
	skMeminfoDrops = 8
	skMeminfoVars  = 9
)

// Drops is how many datagrams the kernel dropped for this UDP socket
// because its receive buffer was full: answers regstorm did not read in
// time, its own loss, not the network's or the registrar's. 0 for a
// closed socket and where the kernel cannot say.
func (c *udpConn) Drops() int64 {
	if c.closed.Load() {
		return 0
	}
	var mem [skMeminfoVars]uint32
	size := uint32(unsafe.Sizeof(mem))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(c.fd), unix.SOL_SOCKET, soMeminfo,
		uintptr(unsafe.Pointer(&mem[0])), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 || size < (skMeminfoDrops+1)*4 {
		return 0
	}
	return int64(mem[skMeminfoDrops])
}
