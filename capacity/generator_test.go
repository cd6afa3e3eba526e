package capacity

import (
	"reflect"
	"testing"
	"time"
)

func TestJudge(t *testing.T) {
	th := DefaultThresholds()
	ok := Generator{AskedPerS: 2000, OfferedPerS: 1950, TimerLagP99MS: 9.9, TimerLagMaxMS: 99, CPUBusyPct: 89}
	if g := th.Judge(ok, 10*time.Second); g.Limited || len(g.Reasons) != 0 {
		t.Fatalf("clean trial judged %+v", g)
	}
	for _, c := range []struct {
		name string
		g    Generator
		ran  time.Duration
		want string
	}{
		{"offered", Generator{AskedPerS: 2000, OfferedPerS: 1930}, 10 * time.Second, "offered 1 930/s, 96.5 % of the 2 000/s asked"},
		{"lag p99", Generator{TimerLagP99MS: 10.5}, time.Second, "timer lag p99 10.5 ms > 10 ms"},
		{"lag max", Generator{TimerLagMaxMS: 140}, time.Second, "timer lag max 140 ms > 100 ms"},
		{"drops", Generator{RcvbufDrops: 1200}, time.Second, "1 200 datagrams dropped on regstorm's sockets"},
		{"sends", Generator{SendErrors: 3}, time.Second, "3 sends failed"},
		{"cpu", Generator{CPUBusyPct: 93.26}, time.Second, "CPU 93.3 % busy > 90 %"},
		{"caller", Generator{Limited: true, Reasons: []string{"the ramp fell behind"}}, time.Second, "the ramp fell behind"},
	} {
		g := th.Judge(c.g, c.ran)
		if !g.Limited || !reflect.DeepEqual(g.Reasons, []string{c.want}) {
			t.Errorf("%s: %+v, want the reason %q", c.name, g, c.want)
		}
	}
	// The offered rate of a trial that ended in its first half second says
	// nothing: not judged.
	if g := th.Judge(Generator{AskedPerS: 2000, OfferedPerS: 1000}, 500*time.Millisecond); g.Limited {
		t.Errorf("short trial judged %+v", g)
	}
	// Thresholds at zero are not checked.
	off := Thresholds{IgnoreDrops: true, IgnoreSendErrors: true}
	if g := off.Judge(Generator{AskedPerS: 2000, OfferedPerS: 10, TimerLagP99MS: 1e6, RcvbufDrops: 5, SendErrors: 5, CPUBusyPct: 100}, time.Minute); g.Limited {
		t.Errorf("nothing checked, yet %+v", g)
	}
}
