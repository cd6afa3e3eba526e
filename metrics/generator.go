package metrics

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// The generator's self-check: whether regstorm itself kept up, so that
// nobody reads regstorm's limit as the registrar's. The same check judges
// every run (the summary's generator section) and every trial of a
// capacity search.

// GeneratorSummary is what regstorm measured of itself over a run or a
// trial, and the verdict.
type GeneratorSummary struct {
	Limited bool     `json:"limited"`
	Reasons []string `json:"reasons"`
	// RateAskedPerS: the rate it was to offer (absent without one: the
	// window paces); RateOfferedPerS: the first REGISTERs it sent per
	// second (absent when it cannot tell).
	RateAskedPerS   *float64 `json:"rate_asked_per_s,omitempty"`
	RateOfferedPerS *float64 `json:"rate_offered_per_s"`
	// TimerLagMS: how late scheduled sends left (paced starts, refreshes,
	// retries): the wheel falling behind its timers.
	TimerLagMS Percentiles `json:"timer_lag_ms"`
	// SocketDrops: datagrams the kernel dropped in regstorm's own UDP
	// sockets, their receive buffers full; SendFailures: sends its
	// sockets refused (a full buffer, a dead connection).
	SocketDrops  int64 `json:"socket_drops"`
	SendFailures int64 `json:"send_failures"`
	// CPU: the host's CPUs busy meanwhile, 0..1 (absent where /proc/stat
	// is missing): the registrar may share them.
	CPU *float64 `json:"cpu"`
}

// Thresholds say when the generator was the limit; a zero threshold is
// not checked. docs/capacity.md argues for the defaults.
type Thresholds struct {
	// MinOffered: it offered less than this share of the rate asked,
	// judged when it sent for at least MinJudgedRun (the first
	// milliseconds of a ramp are no rate).
	MinOffered   float64
	MinJudgedRun time.Duration
	// MaxTimerLagP99, MaxTimerLagMax: its loops fell behind their timers.
	MaxTimerLagP99 time.Duration
	MaxTimerLagMax time.Duration
	// Any dropped datagram or refused send limits, unless ignored.
	IgnoreDrops        bool
	IgnoreSendFailures bool
	// MaxCPUBusy: the host's CPUs were busier than this share.
	MaxCPUBusy float64
}

// DefaultThresholds are those docs/capacity.md states.
func DefaultThresholds() Thresholds {
	return Thresholds{MinOffered: 0.97, MinJudgedRun: time.Second, MaxTimerLagP99: 10 * time.Millisecond,
		MaxTimerLagMax: 100 * time.Millisecond, MaxCPUBusy: 0.90}
}

// Judge returns g with Limited and Reasons set by t, for a run or trial
// that sent for ran. Reasons already there (a cause the caller found)
// stay, and limit.
func (t Thresholds) Judge(g GeneratorSummary, ran time.Duration) GeneratorSummary {
	reasons := append([]string{}, g.Reasons...)
	add := func(f string, a ...any) { reasons = append(reasons, fmt.Sprintf(f, a...)) }
	if a, o := g.RateAskedPerS, g.RateOfferedPerS; t.MinOffered > 0 && ran >= t.MinJudgedRun && a != nil && o != nil && *a > 0 && *o < t.MinOffered**a {
		add("offered %s/s, %s %% of the %s/s asked", Thousands(*o), OneDecimal(100**o / *a), Thousands(*a))
	}
	lag := g.TimerLagMS
	if p99 := msOf(t.MaxTimerLagP99); t.MaxTimerLagP99 > 0 && lag.Count > 0 && lag.P99 > p99 {
		add("timer lag p99 %s ms > %s ms", OneDecimal(lag.P99), OneDecimal(p99))
	}
	if mx := msOf(t.MaxTimerLagMax); t.MaxTimerLagMax > 0 && lag.Count > 0 && lag.Max > mx {
		add("timer lag max %s ms > %s ms", OneDecimal(lag.Max), OneDecimal(mx))
	}
	if !t.IgnoreDrops && g.SocketDrops > 0 {
		add("%s datagrams dropped on regstorm's sockets", Thousands(float64(g.SocketDrops)))
	}
	if !t.IgnoreSendFailures && g.SendFailures > 0 {
		add("%s sends failed", Thousands(float64(g.SendFailures)))
	}
	if t.MaxCPUBusy > 0 && g.CPU != nil && *g.CPU > t.MaxCPUBusy {
		add("CPU %s %% busy > %s %%", OneDecimal(100**g.CPU), OneDecimal(100*t.MaxCPUBusy))
	}
	g.Reasons = reasons
	g.Limited = g.Limited || len(reasons) > 0
	return g
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// OneDecimal writes v with one decimal, none when it is whole (93.3, 90).
func OneDecimal(v float64) string {
	s := strconv.FormatFloat(v, 'f', 1, 64)
	return strings.TrimSuffix(s, ".0")
}

// Thousands writes a count or rate rounded to a whole number, with a
// space between thousands (2 310).
func Thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	if v < 0 {
		s = strconv.FormatInt(int64(v-0.5), 10)
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
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
	return ParseCPUTimes(b)
}

// ParseCPUTimes reads the "cpu" line of /proc/stat's text: busy is all
// but idle and iowait (user … steal: guest time is in user already).
func ParseCPUTimes(stat []byte) CPUTimes {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 5 || string(f[0]) != "cpu" {
		return CPUTimes{}
	}
	var t CPUTimes
	for i, v := range f[1:min(len(f), 9)] {
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

// merged adds a shard's self-check into into (nil: the first): limited
// when any shard was, with each reason said with its shard; rates,
// drops and refused sends add (shards run side by side); the worst
// shard's timer lag, percentile by percentile; the busiest host's CPU.
func (g *GeneratorSummary) merged(into *GeneratorSummary, shard *ShardInfo) *GeneratorSummary {
	if into == nil {
		into = &GeneratorSummary{Reasons: []string{}}
	}
	into.Limited = into.Limited || g.Limited
	for _, r := range g.Reasons {
		if shard != nil {
			r = fmt.Sprintf("shard %d/%d: %s", shard.K, shard.N, r)
		}
		into.Reasons = append(into.Reasons, r)
	}
	add := func(into **float64, v *float64) {
		if v == nil {
			return
		}
		if *into == nil {
			*into = new(float64)
		}
		**into += *v
	}
	add(&into.RateAskedPerS, g.RateAskedPerS)
	add(&into.RateOfferedPerS, g.RateOfferedPerS)
	into.SocketDrops += g.SocketDrops
	into.SendFailures += g.SendFailures
	worst(&into.TimerLagMS, g.TimerLagMS)
	if g.CPU != nil && (into.CPU == nil || *g.CPU > *into.CPU) {
		v := *g.CPU
		into.CPU = &v
	}
	return into
}
