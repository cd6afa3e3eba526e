package capacity

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// The generator's self-check reads the kernel's counters before and after
// each trial; these read the files' text, which the caller reads.

// CPUTimes are one line of /proc/stat, in clock ticks.
type CPUTimes struct {
	Busy, Total uint64
}

// AllCPUs is the key of /proc/stat's first line, all CPUs together.
const AllCPUs = -1

// ParseProcStat reads /proc/stat's cpu lines: AllCPUs, then each CPU by
// number. Busy is all but idle and iowait (guest time is inside user).
func ParseProcStat(b []byte) (map[int]CPUTimes, error) {
	out := map[int]CPUTimes{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		cpu := AllCPUs
		if f[0] != "cpu" {
			n, err := strconv.Atoi(f[0][3:])
			if err != nil {
				return nil, fmt.Errorf("/proc/stat: %q", f[0])
			}
			cpu = n
		}
		var t CPUTimes
		for i, s := range f[1:min(len(f), 9)] { // user … steal; guest is in user
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("/proc/stat %s: %q", f[0], s)
			}
			t.Total += v
			if i != 3 && i != 4 { // idle, iowait
				t.Busy += v
			}
		}
		out[cpu] = t
	}
	if _, ok := out[AllCPUs]; !ok {
		return nil, fmt.Errorf("/proc/stat: no cpu line")
	}
	return out, nil
}

// CPUBusyPct is how busy cpus were between two readings of /proc/stat, %:
// the CPUs regstorm may run on (its affinity), or all of them when cpus is
// empty. 0 when nothing was counted.
func CPUBusyPct(before, after map[int]CPUTimes, cpus []int) float64 {
	if len(cpus) == 0 {
		cpus = []int{AllCPUs}
	}
	var busy, total uint64
	for _, c := range cpus {
		a, b := before[c], after[c]
		if b.Total < a.Total || b.Busy < a.Busy {
			continue // a CPU that went offline and came back
		}
		busy += b.Busy - a.Busy
		total += b.Total - a.Total
	}
	if total == 0 {
		return 0
	}
	return 100 * float64(busy) / float64(total)
}

// UDPDrops adds up the drops column of /proc/net/udp (or udp6) over the
// sockets whose inodes are given (regstorm's own: fstat of each socket's
// descriptor gives its inode), and says how many of them it found. The
// column counts datagrams the kernel dropped on that socket, a full
// receive buffer above all.
func UDPDrops(procNetUDP []byte, inodes map[uint64]bool) (drops int64, found int, err error) {
	sc := bufio.NewScanner(bytes.NewReader(procNetUDP))
	for first := true; sc.Scan(); first = false {
		f := strings.Fields(sc.Text())
		if first || len(f) < 13 {
			continue // the header
		}
		inode, err := strconv.ParseUint(f[9], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/net/udp inode %q", f[9])
		}
		if !inodes[inode] {
			continue
		}
		d, err := strconv.ParseInt(f[12], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/net/udp drops %q", f[12])
		}
		drops += d
		found++
	}
	return drops, found, nil
}

// SNMPCounters reads one protocol's counters from /proc/net/snmp (a line
// of names, then one of values), e.g. "Udp" gives RcvbufErrors and
// SndbufErrors. These count for the whole host: the registrar's sockets
// too, when it runs on the same machine.
func SNMPCounters(procNetSNMP []byte, proto string) (map[string]int64, error) {
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(procNetSNMP))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != proto+":" {
			continue
		}
		if names == nil {
			names = f[1:]
			continue
		}
		if len(f)-1 != len(names) {
			return nil, fmt.Errorf("/proc/net/snmp %s: %d names, %d values", proto, len(names), len(f)-1)
		}
		out := make(map[string]int64, len(names))
		for i, n := range names {
			v, err := strconv.ParseInt(f[i+1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("/proc/net/snmp %s %s: %q", proto, n, f[i+1])
			}
			out[n] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("/proc/net/snmp: no %s lines", proto)
}
