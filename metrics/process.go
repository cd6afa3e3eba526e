package metrics

import (
	"bytes"
	"encoding/binary"
	"os"
	"runtime/metrics"
	"strconv"
	"syscall"
)

// Process is the tester's own footprint at one moment: what a soak must
// show flat (issue 8) and what sizes a NAP (heap per registered NAP).
type Process struct {
	HeapBytes  uint64 `json:"heap_bytes"` // live and not-yet-swept heap objects
	RSSBytes   uint64 `json:"rss_bytes"`  // resident set, from /proc/self/statm
	Goroutines uint64 `json:"goroutines"`
	OpenFDs    int    `json:"open_fds"` // entries of /proc/self/fd
	// GC so far: cycles, and the CPU they took (runtime estimate).
	GCCycles     uint64  `json:"gc_cycles"`
	GCCPUSeconds float64 `json:"gc_cpu_seconds"`
}

var processSamples = []metrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/sched/goroutines:goroutines"},
	{Name: "/gc/cycles/total:gc-cycles"},
	{Name: "/cpu/classes/gc/total:cpu-seconds"},
}

// SampleProcess reads Process without stopping the world (runtime/metrics,
// not ReadMemStats); RSS and fds are 0 where /proc is missing.
func SampleProcess() Process {
	s := make([]metrics.Sample, len(processSamples))
	copy(s, processSamples)
	metrics.Read(s)
	p := Process{HeapBytes: s[0].Value.Uint64(), Goroutines: s[1].Value.Uint64(),
		GCCycles: s[2].Value.Uint64(), GCCPUSeconds: s[3].Value.Float64()}
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := bytes.Fields(b); len(f) > 1 {
			pages, _ := strconv.ParseUint(string(f[1]), 10, 64)
			p.RSSBytes = pages * uint64(os.Getpagesize())
		}
	}
	p.OpenFDs = openFDs()
	return p
}

// openFDs counts the entries of /proc/self/fd, less the directory's own
// descriptor, without making a string of each name: Readdirnames made
// 0.7 MB of garbage a second at 10^4 per-nap connections, which an idle
// hold then kept as RSS until the next GC (bench/RESULTS.md, issue 15).
// 0 where /proc is missing.
func openFDs() int {
	fd, err := syscall.Open("/proc/self/fd", syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer syscall.Close(fd)
	var buf [4096]byte
	n := 0
	for {
		k, err := syscall.Getdents(fd, buf[:])
		if err != nil || k <= 0 {
			break
		}
		// struct linux_dirent64: d_ino u64, d_off s64, d_reclen u16,
		// d_type u8, d_name.
		for off := 0; off+19 < k; {
			reclen := int(binary.NativeEndian.Uint16(buf[off+16:]))
			if reclen == 0 {
				break
			}
			if buf[off+19] != '.' { // not . nor ..
				n++
			}
			off += reclen
		}
	}
	return max(n-1, 0) // the directory's own fd
}
