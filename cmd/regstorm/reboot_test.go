package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/registrar"
)

// The avalanche restart: half of 10 000 NAPs reboot at once against a
// registrar that loses 10 % of what it receives: the recovery is measured
// (to 99 % and 100 % registered again, retransmissions meanwhile) and
// every NAP is registered again. In simulated time: the reboot comes at
// 2 s exactly. Retransmissions every 400 ms at most (--t2), as on a real
// network, where with the default 4 s a NAP whose REGISTER was lost six
// times running was not back by the end of the load.
func TestRebootHalfRecovers(t *testing.T) {
	t.Parallel()
	const target = "127.0.0.1:5070"
	w := newSimWorld()
	w.net.Configure(target, registrar.Config{Drop: 0.1})
	code, out, errb := w.run(t, time.Minute, "--target", "sip:"+target, "--naps", "10000", "--t1", "100ms", "--t2", "400ms", "--duration", "6s",
		"--reboot-at", "2s", "--reboot-fraction", "0.5", "--summary", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var s metrics.Summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Events) != 1 {
		t.Fatalf("events %v", s.Events)
	}
	ev := s.Events[0]
	if ev.AtS != 2 || ev.NAPs != 5000 || ev.Back != 5000 || ev.To99S == nil || ev.To100S == nil || *ev.To99S > *ev.To100S || ev.Retransmissions == 0 || ev.PeakRatePerS <= 0 {
		t.Fatalf("event %+v", ev)
	}
	t.Logf("5 000 rebooted at %.1f s: 99 %% in %.2f s, 100 %% in %.2f s, peak %.0f/s, %d retransmissions",
		ev.AtS, *ev.To99S, *ev.To100S, ev.PeakRatePerS, ev.Retransmissions)
	if s.Registered != 10000 || w.net.Bindings(target) != 0 {
		t.Errorf("registered %d at the end, %d bindings left after the drain", s.Registered, w.net.Bindings(target))
	}
	if !strings.Contains(errb.String(), "--reboot-at 2s: 5000 NAPs rebooted") || !strings.Contains(errb.String(), "reboot at 2.0 s") {
		t.Errorf("stderr: %s", errb.String())
	}
}

// Several reboots: from a profile's reboots list (each with its own
// fraction and group), its stages written as a list; and from a list of
// --reboot-at times, each with --reboot-fraction. Each reboot is an event
// of its own, its NAPs all back.
//
// In simulated time: each reboot at its time exactly.
func TestSeveralReboots(t *testing.T) {
	t.Parallel()
	const target = "127.0.0.1:5070"
	prof := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(prof, []byte(`target: sip:`+target+`
quiet: true
groups:
  - {name: a, naps: 200, user-pattern: "a%04d"}
  - {name: b, naps: 100, user-pattern: "b%04d"}
stages:
  - {duration: 1s, naps: 150}
  - {duration: 1500ms, naps: 300, rate: 1000}
reboots:
  - {at: 1.3s, fraction: 0.5, group: a}
  - {at: 2s}
`), 0o644)
	for _, c := range []struct {
		name   string
		args   []string
		naps   []int
		at     []float64
		said   []string
		stages int
	}{
		{"profile", []string{"--profile", prof}, []int{100, 300}, []float64{1.3, 2},
			[]string{"reboots: at 1.3s (" + prof + ":10): 100 NAPs rebooted", "reboots: at 2s (" + prof + ":11): 300 NAPs rebooted"}, 2},
		{"flag", []string{"--target", "sip:" + target, "--naps", "100", "--duration", "2s", "--quiet", "--reboot-at", "0.8s, 1.4s", "--reboot-fraction", "0.5"},
			[]int{50, 50}, []float64{0.8, 1.4}, []string{"--reboot-at 800ms (1 of 2): 50 NAPs rebooted", "--reboot-at 1.4s (2 of 2): 50 NAPs rebooted"}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			code, out, errb := newSimWorld(target).run(t, time.Minute, append([]string{"--summary", "-"}, c.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			var s metrics.Summary
			if err := json.Unmarshal(out.Bytes(), &s); err != nil {
				t.Fatal(err)
			}
			if len(s.Events) != len(c.naps) || len(s.Stages) != c.stages {
				t.Fatalf("events %v, stages %v", s.Events, s.Stages)
			}
			for k, ev := range s.Events {
				if ev.AtS != c.at[k] || ev.NAPs != c.naps[k] || ev.Back != int64(ev.NAPs) || ev.To100S == nil || ev.LatencyMS.Count == 0 {
					t.Errorf("event %d: %+v, want %d NAPs at %v s all back", k+1, *ev, c.naps[k], c.at[k])
				}
			}
			for _, w := range c.said {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb.String())
				}
			}
		})
	}
}

// The acceptance test of the avalanche restart: half of 10 000 NAPs
// reboot at once against a registrar that loses 5 % of what it receives
// and serves at most 3 000 requests a second (a bucket of a second's
// worth: the ramp, at 2 500 a second, fits under it; the 4 750 REGISTERs
// of the reboot that reach it do not). The recovery is measured (to 99 %
// and 100 %), every rebooted NAP registers again, the cap's 503s are
// counted during the recovery (the registrar counts at least as many: a
// 503 to a retransmission already answered is no transaction's), and the
// run's count adds up. Retransmissions every 400 ms at most (--t2), so
// that a NAP losing its REGISTER several times running is back by the
// end. In simulated time, the registrar's logic behind the target
// (`regstorm registrar --max-rate`'s own flags and counters are
// TestRegistrarMaxRate's).
func TestRebootStormAgainstACappedRegistrar(t *testing.T) {
	t.Parallel()
	const target = "127.0.0.1:5070"
	w := newSimWorld()
	w.net.Configure(target, registrar.Config{Drop: 0.05, MaxRate: 3000, RetryAfter: 1})
	code, out, errb := w.run(t, time.Minute, "--target", "sip:"+target, "--naps", "10000", "--rate", "2500", "--t1", "100ms", "--t2", "400ms", "--retry", "1s",
		"--duration", "8s", "--reboot-at", "5s", "--reboot-fraction", "0.5", "--quiet", "--summary", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var s metrics.Summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Events) != 1 {
		t.Fatalf("events %v", s.Events)
	}
	ev := s.Events[0]
	if ev.AtS != 5 || ev.NAPs != 5000 || ev.Back != 5000 || ev.To99S == nil || ev.To100S == nil || *ev.To99S > *ev.To100S {
		t.Fatalf("event %+v: want 5 000 NAPs at 5 s, all back, both times measured", *ev)
	}
	if ev.Refused503 == 0 || ev.Retransmissions == 0 || ev.LatencyMS.Count < ev.Requests-ev.Timeouts-100 {
		t.Errorf("event %+v: want the cap's 503s, the losses' retransmissions, and the window's latency", *ev)
	}
	t.Logf("5 000 rebooted at %.1f s: 99 %% in %.2f s, 100 %% in %.2f s, peak %.0f/s, %d requests, %d 503s, %d retransmissions, p99 %.1f ms",
		ev.AtS, *ev.To99S, *ev.To100S, ev.PeakRatePerS, ev.Requests, ev.Refused503, ev.Retransmissions, ev.LatencyMS.P99)
	var finals int64
	for c, n := range s.Responses {
		if c >= "2" {
			finals += n
		}
	}
	if s.InFlight == nil || s.Requests != finals+s.Timeouts+s.Abandoned+*s.InFlight {
		t.Errorf("requests %d != final responses %d + timeouts %d + abandoned %d + in flight %v", s.Requests, finals, s.Timeouts, s.Abandoned, s.InFlight)
	}
	if s.Registered != 10000 {
		t.Errorf("registered %d at the end of the load", s.Registered)
	}
	throttled := w.net.Worker(target).Throttled
	if throttled < s.Responses["503"] || s.Responses["503"] < ev.Refused503 {
		t.Errorf("the registrar refused %d over its cap, the tester counts %d 503s (%d in the recovery)", throttled, s.Responses["503"], ev.Refused503)
	}
}
