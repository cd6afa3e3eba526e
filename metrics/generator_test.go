package metrics

import (
	"strings"
	"testing"
	"time"
)

// Each threshold of the self-check, on its own, makes a run or trial
// generator-limited and says why; one within them all is not.
func TestJudge(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	th := DefaultThresholds()
	lag := func(p99, mx float64) Percentiles { return Percentiles{P50: 0.5, P99: p99, Max: mx, Count: 1000} }
	ok := GeneratorSummary{RateAskedPerS: f(2000), RateOfferedPerS: f(1950), TimerLagMS: lag(9.9, 99), CPU: f(0.89)}
	if g := th.Judge(ok, 10*time.Second); g.Limited || len(g.Reasons) != 0 {
		t.Errorf("within the thresholds: %+v", g)
	}
	for _, c := range []struct {
		name string
		g    GeneratorSummary
		ran  time.Duration
		why  string
	}{
		{"offered", GeneratorSummary{RateAskedPerS: f(2000), RateOfferedPerS: f(1930)}, 10 * time.Second, "offered 1 930/s, 96.5 % of the 2 000/s asked"},
		{"lag p99", GeneratorSummary{TimerLagMS: lag(10.5, 20)}, time.Second, "timer lag p99 10.5 ms > 10 ms"},
		{"lag max", GeneratorSummary{TimerLagMS: lag(2, 140)}, time.Second, "timer lag max 140 ms > 100 ms"},
		{"drops", GeneratorSummary{SocketDrops: 1200}, time.Second, "1 200 datagrams dropped on regstorm's sockets"},
		{"sends", GeneratorSummary{SendFailures: 3}, time.Second, "3 sends failed"},
		{"cpu", GeneratorSummary{CPU: f(0.9326)}, time.Second, "CPU 93.3 % busy > 90 %"},
		{"caller", GeneratorSummary{Reasons: []string{"the ramp fell behind"}}, time.Second, "the ramp fell behind"},
	} {
		g := th.Judge(c.g, c.ran)
		if !g.Limited || !strings.Contains(strings.Join(g.Reasons, "; "), c.why) {
			t.Errorf("%s: limited %v, reasons %q, want %q", c.name, g.Limited, g.Reasons, c.why)
		}
	}
	// A run too short to have a rate is not judged on it.
	if g := th.Judge(GeneratorSummary{RateAskedPerS: f(2000), RateOfferedPerS: f(1000)}, 500*time.Millisecond); g.Limited {
		t.Errorf("judged on 0.5 s of sending: %v", g.Reasons)
	}
	// Thresholds at zero check nothing.
	off := Thresholds{IgnoreDrops: true, IgnoreSendFailures: true}
	if g := off.Judge(GeneratorSummary{RateAskedPerS: f(2000), RateOfferedPerS: f(10), TimerLagMS: lag(1e6, 1e6), SocketDrops: 5, SendFailures: 5, CPU: f(1)}, time.Minute); g.Limited {
		t.Errorf("nothing to check, yet limited: %v", g.Reasons)
	}
}

// The host's CPU: busy is all but idle and iowait, over the time between
// two readings; guest time is not counted twice.
func TestCPUTimesBusySince(t *testing.T) {
	a, b := CPUTimes{Busy: 100, Total: 1000}, CPUTimes{Busy: 400, Total: 2000}
	if got := b.BusySince(a); got == nil || *got != 0.3 {
		t.Errorf("busy %v, want 0.3", got)
	}
	if got := b.BusySince(CPUTimes{}); got != nil {
		t.Errorf("busy %v from a missing reading", *got)
	}
	if got := ParseCPUTimes([]byte("cpu  10 0 5 80 5 0 0 0 7 0\ncpu0 1 2 3\n")); got != (CPUTimes{Busy: 15, Total: 100}) {
		t.Errorf("parsed %+v, want busy 15 of 100 (guest 7 is in user)", got)
	}
	if now := ReadCPUTimes(); now.Total == 0 || now.Busy > now.Total {
		t.Errorf("/proc/stat read as %+v", now)
	}
}

// A merge of shards is generator-limited when any shard was, and says
// which; rates and drops add, the worst lag and the busiest CPU stand.
func TestGeneratorMerged(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	a := &GeneratorSummary{RateAskedPerS: f(1000), RateOfferedPerS: f(999), TimerLagMS: Percentiles{P99: 1, Max: 3, Count: 10}, CPU: f(0.4), Reasons: []string{}}
	b := &GeneratorSummary{Limited: true, Reasons: []string{"timer lag p99 25 ms > 10 ms"}, RateAskedPerS: f(1000), RateOfferedPerS: f(900),
		TimerLagMS: Percentiles{P99: 25, Max: 40, Count: 10}, SocketDrops: 3, CPU: f(0.95)}
	m := b.merged(a.merged(nil, &ShardInfo{K: 0, N: 2}), &ShardInfo{K: 1, N: 2})
	if !m.Limited || len(m.Reasons) != 1 || m.Reasons[0] != "shard 1/2: timer lag p99 25 ms > 10 ms" || *m.RateAskedPerS != 2000 ||
		*m.RateOfferedPerS != 1899 || m.SocketDrops != 3 || m.TimerLagMS.P99 != 25 || m.TimerLagMS.Count != 20 || *m.CPU != 0.95 {
		t.Errorf("merged %+v", m)
	}
}
