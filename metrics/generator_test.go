package metrics

import (
	"strings"
	"testing"
)

// Each threshold of the self-check, on its own, makes a run
// generator-limited and says why; a run within them all is not.
func TestGeneratorVerdicts(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	ok := Percentiles{P50: 0.5, P99: 2, Max: 30, Count: 1000}
	late := Percentiles{P50: 0.5, P99: 25, Max: 300, Count: 1000}
	for _, c := range []struct {
		name    string
		g       *GeneratorSummary
		limited bool
		why     string
	}{
		{"kept up", Generator(1000, f(995), ok, 0, f(0.4)), false, ""},
		{"window-paced, nothing asked", Generator(0, nil, ok, 0, nil), false, ""},
		{"offered short", Generator(1000, f(900), ok, 0, f(0.4)), true, "offered 900 REGISTER/s of the 1000/s asked"},
		{"late timers", Generator(1000, f(1000), late, 0, f(0.4)), true, "timers fired late (p99 25.0 ms)"},
		{"socket drops", Generator(1000, f(1000), ok, 12, f(0.4)), true, "12 answers dropped in its own sockets"},
		{"busy host", Generator(1000, f(1000), ok, 0, f(0.95)), true, "CPUs were 95 % busy"},
	} {
		if c.g.Limited != c.limited || (c.why != "" && !strings.Contains(strings.Join(c.g.Reasons, "; "), c.why)) || (!c.limited && len(c.g.Reasons) > 0) {
			t.Errorf("%s: limited %v, reasons %q", c.name, c.g.Limited, c.g.Reasons)
		}
	}
}

// The host's CPU: busy is all but idle and iowait, over the time between
// two readings.
func TestCPUTimesBusySince(t *testing.T) {
	a, b := CPUTimes{Busy: 100, Total: 1000}, CPUTimes{Busy: 400, Total: 2000}
	if got := b.BusySince(a); got == nil || *got != 0.3 {
		t.Errorf("busy %v, want 0.3", got)
	}
	if got := b.BusySince(CPUTimes{}); got != nil {
		t.Errorf("busy %v from a missing reading", *got)
	}
	if now := ReadCPUTimes(); now.Total == 0 || now.Busy > now.Total {
		t.Errorf("/proc/stat read as %+v", now)
	}
}
