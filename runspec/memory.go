package runspec

import (
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
)

// memoryUse says what a run holds for each NAP.
type memoryUse struct {
	ownSocket bool // --sockets per-nap: a socket per NAP
	tcp       bool
	goroutine bool // tls, ws, wss: a goroutine per connection, and crypto/tls's state
	embedded  bool // the embedded registrar holds each NAP's binding in this process
}

// Memory per NAP, conservatively: about 110 B of Go heap per NAP was
// measured at 10^6 NAPs on shared UDP sockets (bench/RESULTS.md); the
// rest is the garbage collector's headroom.
const (
	baseBytes    = 64 << 20 // the process itself
	napBytes     = 250
	socketBytes  = 4 << 10 // a socket of its own: kernel structures and buffers, the connection's state
	bindingBytes = 200     // the embedded registrar's binding: 128-139 B of RSS measured at 10^6-10^7 (bench/RESULTS.md), with headroom
	// A tls, ws or wss connection's goroutine (its stack), read buffer and
	// crypto/tls state, on each side: ~18 KiB measured at the registrar's
	// end of 10^4 TLS connections (bench/RESULTS.md), with headroom.
	streamBytes = 24 << 10
)

// memoryNeeded estimates the memory a run of naps NAPs needs.
func memoryNeeded(naps int, u memoryUse) uint64 {
	per := uint64(napBytes)
	if u.ownSocket {
		per += socketBytes
		if u.goroutine {
			per += streamBytes
		}
	}
	if u.embedded {
		per += bindingBytes
		if u.tcp && u.ownSocket {
			per += socketBytes // the registrar's end of each connection
			if u.goroutine {
				per += streamBytes
			}
		}
	}
	if uint64(naps) > (math.MaxUint64-baseBytes)/per {
		return math.MaxUint64
	}
	return baseBytes + uint64(naps)*per
}

// checkMemory refuses a run that cannot fit in avail bytes (0: unknown,
// not checked), before it dies of it half-way through its ramp.
func checkMemory(naps int, u memoryUse, avail uint64, from string) error {
	need := memoryNeeded(naps, u)
	if avail == 0 || need <= avail {
		return nil
	}
	return usagef("--naps: %d NAPs in this process need about %s of memory, and %s is available (%s); run fewer, or spread them over processes with --shard k/N",
		naps, gib(need), gib(avail), from)
}

func gib(n uint64) string {
	if n == math.MaxUint64 {
		return "more than any machine has"
	}
	return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + " GiB"
}

// availableMemory is the lower of MemAvailable and the memory limit of the
// process's cgroup (v2 memory.max or v1 memory.limit_in_bytes), with where
// it came from; 0 when neither can be read.
func availableMemory(read func(string) ([]byte, error)) (uint64, string) {
	var best uint64
	var from string
	take := func(n uint64, src string) {
		if n > 0 && (best == 0 || n < best) {
			best, from = n, src
		}
	}
	if b, err := read("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
				if f := strings.Fields(rest); len(f) > 0 {
					if kb, err := strconv.ParseUint(f[0], 10, 64); err == nil {
						take(kb*1024, "MemAvailable in /proc/meminfo")
					}
				}
			}
		}
	}
	b, err := read("/proc/self/cgroup")
	if err != nil {
		return best, from
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var files []string
		switch {
		case parts[0] == "0" && parts[1] == "": // v2
			files = []string{path.Join("/sys/fs/cgroup", parts[2], "memory.max"), "/sys/fs/cgroup/memory.max"}
		case slices.Contains(strings.Split(parts[1], ","), "memory"): // v1
			files = []string{path.Join("/sys/fs/cgroup/memory", parts[2], "memory.limit_in_bytes"), "/sys/fs/cgroup/memory/memory.limit_in_bytes"}
		}
		// The cgroup's own file, or, in a cgroup namespace, the root's.
		for _, f := range files {
			b, err := read(f)
			if err != nil {
				continue
			}
			// "max" (v2) or a huge number (v1): no limit.
			if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && n < 1<<60 {
				take(n, "cgroup limit in "+f)
			}
			break
		}
	}
	return best, from
}
