package capacity

import (
	"fmt"
	"time"
)

// Generator is regstorm's check of itself over one trial: what it
// measured and whether it was, by Thresholds, the limit. A limited trial
// says nothing of the registrar: it neither passes nor fails.
type Generator struct {
	Limited bool     `json:"limited"`
	Reasons []string `json:"reasons,omitempty"`
	// The rate asked and the rate offered: REGISTERs started over the
	// time the trial sent (the search fills them in when left 0).
	AskedPerS   float64 `json:"asked_per_s"`
	OfferedPerS float64 `json:"offered_per_s"`
	// Timer lag: how late REGISTERs were sent after they were due (the
	// rate's slot, a retransmission's timer), ms.
	TimerLagP99MS float64 `json:"timer_lag_p99_ms"`
	TimerLagMaxMS float64 `json:"timer_lag_max_ms"`
	// Datagrams the kernel dropped on regstorm's own sockets for want of
	// receive buffer (/proc/net/udp's drops of those sockets), and sends
	// that failed (ENOBUFS, EAGAIN, a full TCP buffer).
	RcvbufDrops int64 `json:"rcvbuf_drops"`
	SendErrors  int64 `json:"send_errors"`
	// CPUBusyPct: how busy the CPUs regstorm may run on were over the
	// trial, % (0: not measured).
	CPUBusyPct float64 `json:"cpu_busy_pct"`
}

// Thresholds say when a trial's generator is limited. A zero threshold
// is not checked; docs/capacity.md argues for the defaults.
type Thresholds struct {
	// MinOffered: the offered rate below this share of the asked one.
	// Judged only on trials that sent for at least MinJudgedRun: the
	// first milliseconds of a ramp are no rate.
	MinOffered   float64
	MinJudgedRun time.Duration
	// MaxTimerLagP99, MaxTimerLagMax: the loops fell behind their timers.
	MaxTimerLagP99 time.Duration
	MaxTimerLagMax time.Duration
	// Any dropped datagram or failed send limits, unless ignored.
	IgnoreDrops      bool
	IgnoreSendErrors bool
	// MaxCPUBusyPct: the CPUs regstorm may run on were busier than this.
	MaxCPUBusyPct float64
}

// DefaultThresholds are those docs/capacity.md proposes.
func DefaultThresholds() Thresholds {
	return Thresholds{
		MinOffered:     0.97,
		MinJudgedRun:   time.Second,
		MaxTimerLagP99: 10 * time.Millisecond,
		MaxTimerLagMax: 100 * time.Millisecond,
		MaxCPUBusyPct:  90,
	}
}

// Judge returns g with Limited and Reasons set by t, for a trial that
// sent for ran. A Limited already set (a cause the caller found) stays,
// with its reasons.
func (t Thresholds) Judge(g Generator, ran time.Duration) Generator {
	reasons := append([]string(nil), g.Reasons...)
	add := func(f string, a ...any) { reasons = append(reasons, fmt.Sprintf(f, a...)) }
	if t.MinOffered > 0 && ran >= t.MinJudgedRun && g.AskedPerS > 0 && g.OfferedPerS < t.MinOffered*g.AskedPerS {
		add("offered %s/s, %s %% of the %s/s asked", rate(g.OfferedPerS), pct(100*g.OfferedPerS/g.AskedPerS), rate(g.AskedPerS))
	}
	if t.MaxTimerLagP99 > 0 && g.TimerLagP99MS > ms(t.MaxTimerLagP99) {
		add("timer lag p99 %s ms > %s ms", msText(g.TimerLagP99MS), msText(ms(t.MaxTimerLagP99)))
	}
	if t.MaxTimerLagMax > 0 && g.TimerLagMaxMS > ms(t.MaxTimerLagMax) {
		add("timer lag max %s ms > %s ms", msText(g.TimerLagMaxMS), msText(ms(t.MaxTimerLagMax)))
	}
	if !t.IgnoreDrops && g.RcvbufDrops > 0 {
		add("%s datagrams dropped on regstorm's sockets", count(g.RcvbufDrops))
	}
	if !t.IgnoreSendErrors && g.SendErrors > 0 {
		add("%s sends failed", count(g.SendErrors))
	}
	if t.MaxCPUBusyPct > 0 && g.CPUBusyPct > t.MaxCPUBusyPct {
		add("CPU %s %% busy > %s %%", pct(g.CPUBusyPct), pct(t.MaxCPUBusyPct))
	}
	g.Reasons = reasons
	g.Limited = g.Limited || len(reasons) > 0
	return g
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// thresholdsJSON is Thresholds in the result's units.
type thresholdsJSON struct {
	MinOffered       float64 `json:"min_offered_ratio"`
	MinJudgedRunS    float64 `json:"min_judged_run_s"`
	MaxTimerLagP99MS float64 `json:"max_timer_lag_p99_ms"`
	MaxTimerLagMaxMS float64 `json:"max_timer_lag_max_ms"`
	IgnoreDrops      bool    `json:"ignore_drops"`
	IgnoreSendErrors bool    `json:"ignore_send_errors"`
	MaxCPUBusyPct    float64 `json:"max_cpu_busy_pct"`
}

func (t Thresholds) toJSON() thresholdsJSON {
	return thresholdsJSON{
		MinOffered: t.MinOffered, MinJudgedRunS: t.MinJudgedRun.Seconds(),
		MaxTimerLagP99MS: ms(t.MaxTimerLagP99), MaxTimerLagMaxMS: ms(t.MaxTimerLagMax),
		IgnoreDrops: t.IgnoreDrops, IgnoreSendErrors: t.IgnoreSendErrors, MaxCPUBusyPct: t.MaxCPUBusyPct,
	}
}

func (j thresholdsJSON) fromJSON() Thresholds {
	return Thresholds{
		MinOffered: j.MinOffered, MinJudgedRun: seconds(j.MinJudgedRunS),
		MaxTimerLagP99: seconds(j.MaxTimerLagP99MS / 1000), MaxTimerLagMax: seconds(j.MaxTimerLagMaxMS / 1000),
		IgnoreDrops: j.IgnoreDrops, IgnoreSendErrors: j.IgnoreSendErrors, MaxCPUBusyPct: j.MaxCPUBusyPct,
	}
}
