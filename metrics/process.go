package metrics

import (
	"bytes"
	"os"
	"runtime/metrics"
	"strconv"
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
	if d, err := os.Open("/proc/self/fd"); err == nil {
		names, _ := d.Readdirnames(-1)
		d.Close()
		p.OpenFDs = len(names) - 1 // the directory's own fd
	}
	return p
}
