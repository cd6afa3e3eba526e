package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/registrar"
)

// The avalanche restart: half of 10 000 NAPs reboot at once against a
// registrar that loses 10 % of what it receives: the recovery is measured
// (to 99 % and 100 % registered again, retransmissions meanwhile) and
// every NAP is registered again. Retransmissions every 400 ms at most
// (--t2): with the default 4 s a NAP whose REGISTER was lost six times
// running (the drop, and the burst overflowing the registrar's socket
// buffer) was not back by the end of the load, in about one run in ten
// on a busy machine.
//
// Not in parallel with the other tests: 10 000 NAPs in this process take
// its cores, and the others' timings with them.
func TestRebootHalfRecovers(t *testing.T) {
	srv, err := registrar.Listen(registrar.New(registrar.Config{Drop: 0.1}), "127.0.0.1", 0, []string{"udp"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var out, errb bytes.Buffer
	code := run([]string{"regstorm", "--target", "sip:" + srv.Addr, "--naps", "10000", "--t1", "100ms", "--t2", "400ms", "--duration", "6s",
		"--reboot-at", "2s", "--reboot-fraction", "0.5", "--summary", "-"}, &out, &errb)
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
	if ev.NAPs != 5000 || ev.Back != 5000 || ev.To99S == nil || ev.To100S == nil || *ev.To99S > *ev.To100S || ev.Retransmissions == 0 || ev.PeakRatePerS <= 0 {
		t.Fatalf("event %+v", ev)
	}
	t.Logf("5 000 rebooted at %.1f s: 99 %% in %.2f s, 100 %% in %.2f s, peak %.0f/s, %d retransmissions",
		ev.AtS, *ev.To99S, *ev.To100S, ev.PeakRatePerS, ev.Retransmissions)
	if s.Registered != 10000 {
		t.Errorf("registered %d at the end", s.Registered)
	}
	if !strings.Contains(errb.String(), "--reboot-at 2s: 5000 NAPs rebooted") || !strings.Contains(errb.String(), "reboot at 2.") {
		t.Errorf("stderr: %s", errb.String())
	}
}

// Several reboots: from a profile's reboots list (each with its own
// fraction and group), its stages written as a list; and from a list of
// --reboot-at times, each with --reboot-fraction. Each reboot is an event
// of its own, its NAPs all back.
func TestSeveralReboots(t *testing.T) {
	t.Parallel()
	srv := startRegistrar(t, registrar.Config{})
	prof := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(prof, []byte(`target: sip:`+srv.Addr+`
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
		said   []string
		stages int
	}{
		{"profile", []string{"--profile", prof}, []int{100, 300},
			[]string{"reboots: at 1.3s (" + prof + ":10): 100 NAPs rebooted", "reboots: at 2s (" + prof + ":11): 300 NAPs rebooted"}, 2},
		{"flag", []string{"--target", "sip:" + srv.Addr, "--naps", "100", "--duration", "2s", "--quiet", "--reboot-at", "0.8s, 1.4s", "--reboot-fraction", "0.5"},
			[]int{50, 50}, []string{"--reboot-at 800ms (1 of 2): 50 NAPs rebooted", "--reboot-at 1.4s (2 of 2): 50 NAPs rebooted"}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var out, errb bytes.Buffer
			code := run(append([]string{"regstorm", "--summary", "-"}, c.args...), &out, &errb)
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
				if ev.NAPs != c.naps[k] || ev.Back != int64(ev.NAPs) || ev.To100S == nil || ev.LatencyMS.Count == 0 {
					t.Errorf("event %d: %+v, want %d NAPs all back", k+1, *ev, c.naps[k])
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
// reboot at once against `regstorm registrar` (its own process) that
// loses 5 % of what it receives and serves at most 3 000 requests a
// second (a bucket of a second's worth: the ramp, at 2 500 a second, fits
// under it; the 4 750 REGISTERs of the reboot that reach it do not). The
// recovery is measured (to 99 % and
// 100 %), every rebooted NAP registers again, the cap's 503s are counted
// during the recovery (the registrar counts at least as many: a 503 to a
// retransmission already answered is no transaction's), and the run's
// count adds up. Retransmissions every 400 ms at most (--t2), so that a
// NAP losing its REGISTER several times running is back by the end.
//
// Not in parallel with the other tests, as TestRebootHalfRecovers.
func TestRebootStormAgainstACappedRegistrar(t *testing.T) {
	reg, regErr := startRegistrarProcess(t, "--listen", "127.0.0.1:0", "--transport", "udp", "--drop", "0.05",
		"--max-rate", "3000", "--retry-after", "1")
	addr := listenAddr(t, regErr)
	var out, errb bytes.Buffer
	code := run([]string{"regstorm", "--target", "sip:" + addr, "--naps", "10000", "--rate", "2500", "--t1", "100ms", "--t2", "400ms", "--retry", "1s",
		"--duration", "8s", "--reboot-at", "5s", "--reboot-fraction", "0.5", "--quiet", "--summary", "-"}, &out, &errb)
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
	if ev.NAPs != 5000 || ev.Back != 5000 || ev.To99S == nil || ev.To100S == nil || *ev.To99S > *ev.To100S {
		t.Fatalf("event %+v: want 5 000 NAPs, all back, both times measured", *ev)
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
	_ = reg.Process.Signal(syscall.SIGTERM)
	if code, ok := waitExit(reg, 10*time.Second); !ok || code != 0 {
		t.Fatalf("registrar: exit %d: %s", code, regErr.String())
	}
	var throttled int64
	for _, line := range strings.Split(regErr.String(), "\n") {
		if _, rest, ok := strings.Cut(line, " malformed, "); ok {
			fmt.Sscanf(rest, "%d refused over --max-rate", &throttled)
		}
	}
	if throttled < s.Responses["503"] || s.Responses["503"] < ev.Refused503 {
		t.Errorf("the registrar refused %d over its cap, the tester counts %d 503s (%d in the recovery)\n%s", throttled, s.Responses["503"], ev.Refused503, regErr.String())
	}
}
