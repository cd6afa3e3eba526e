package metrics

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// The generator's self-check: whether regstorm itself kept up, so that
// nobody reads regstorm's limit as the registrar's.

// Thresholds past which a run is generator-limited (docs/design.md).
const (
	// OfferedShortfall: the ramp offered less than this share of --rate.
	OfferedShortfall = 0.97
	// TimerLagP99MS: scheduled sends left later than this at p99 (ms).
	TimerLagP99MS = 10.0
	// HostCPUBusy: the host's CPUs (all cores: the registrar may share
	// them) were busier than this share over the load.
	HostCPUBusy = 0.90
)

// GeneratorSummary is the summary's generator section.
type GeneratorSummary struct {
	Limited bool     `json:"limited"`
	Reasons []string `json:"reasons"`
	// RateAskedPerS: --rate (absent without one: the window paces);
	// RateOfferedPerS: first REGISTERs the ramp sent per second, from its
	// first to its last (absent with fewer than two).
	RateAskedPerS   *float64 `json:"rate_asked_per_s,omitempty"`
	RateOfferedPerS *float64 `json:"rate_offered_per_s"`
	// TimerLagMS: how late scheduled sends left (paced starts, refreshes,
	// retries): the wheel falling behind its timers.
	TimerLagMS Percentiles `json:"timer_lag_ms"`
	// SocketDrops: datagrams the kernel dropped in regstorm's own UDP
	// sockets, their receive buffers full.
	SocketDrops int64 `json:"socket_drops"`
	// CPU: the host's CPUs busy over the load, 0..1 (absent where
	// /proc/stat is missing).
	CPU *float64 `json:"cpu"`
}

// Generator judges the self-check's figures against the thresholds.
func Generator(asked float64, offered *float64, lag Percentiles, drops int64, cpu *float64) *GeneratorSummary {
	g := &GeneratorSummary{RateOfferedPerS: offered, TimerLagMS: lag, SocketDrops: drops, CPU: cpu, Reasons: []string{}}
	if asked > 0 {
		g.RateAskedPerS = &asked
		if offered != nil && *offered < OfferedShortfall*asked {
			g.Reasons = append(g.Reasons, fmt.Sprintf("offered %.0f REGISTER/s of the %.0f/s asked", *offered, asked))
		}
	}
	if lag.Count > 0 && lag.P99 > TimerLagP99MS {
		g.Reasons = append(g.Reasons, fmt.Sprintf("its timers fired late (p99 %.1f ms)", lag.P99))
	}
	if drops > 0 {
		g.Reasons = append(g.Reasons, fmt.Sprintf("%d answers dropped in its own sockets (receive buffers full)", drops))
	}
	if cpu != nil && *cpu > HostCPUBusy {
		g.Reasons = append(g.Reasons, fmt.Sprintf("the host's CPUs were %.0f %% busy", 100**cpu))
	}
	g.Limited = len(g.Reasons) > 0
	return g
}

// CPUTimes is a reading of the host's CPU time (all cores, in clock
// ticks): busy and total.
type CPUTimes struct{ Busy, Total uint64 }

// ReadCPUTimes reads /proc/stat's first line; zero where it is missing.
func ReadCPUTimes() CPUTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return CPUTimes{}
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 5 || string(f[0]) != "cpu" {
		return CPUTimes{}
	}
	var t CPUTimes
	for i, v := range f[1:min(len(f), 9)] { // user … steal: guest time is in user already
		n, _ := strconv.ParseUint(string(v), 10, 64)
		t.Total += n
		if i != 3 && i != 4 { // idle, iowait
			t.Busy += n
		}
	}
	return t
}

// BusySince is the share of CPU time busy between two readings (nil if
// either is missing or no time passed).
func (t CPUTimes) BusySince(earlier CPUTimes) *float64 {
	if t.Total == 0 || earlier.Total == 0 || t.Total <= earlier.Total {
		return nil
	}
	v := float64(t.Busy-earlier.Busy) / float64(t.Total-earlier.Total)
	return &v
}
