package engine

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/netsim"
	"github.com/regstorm/regstorm/registrar"
	"github.com/regstorm/regstorm/sipwire"
)

// A reboot of half the NAPs: each sends a new REGISTER at once, with a new
// Call-ID and CSeq 1, without un-REGISTERing first; the registrar keeps
// one binding per NAP; the event's figures say how it went: all 500 back
// after one round trip, in simulated time exactly.
func TestRebootHalfRegistersFromScratch(t *testing.T) {
	for _, tr := range []sipwire.Transport{sipwire.UDP, sipwire.TCP} {
		t.Run(tr.String(), func(t *testing.T) {
			n := newSimNet(t, simX)
			g := simGroup("g", 1000, simX)
			g.NAP.Transport = tr
			e := startSim(t, n, Options{Groups: []Group{g}, PerNAP: true, Duration: 200 * time.Second, Drain: 5 * time.Second})
			reply := make(chan rebootReply, 1)
			n.At(100*time.Second, func() {
				e.ctrlQ <- func(now time.Duration) { reply <- e.applyReboot(RebootReq{Fraction: 0.5}, now) }
			})
			var bound int
			n.At(150*time.Second, func() { bound = n.Bindings(simX) })
			n.run(e, 500*time.Second)
			res, _ := e.Wait()
			checkSums(t, res)
			if r := <-reply; r.err != nil || r.naps != 500 {
				t.Fatalf("rebooted %d (%v), want 500", r.naps, r.err)
			}
			var again, unreg int
			for _, s := range n.Sent() {
				if s.At >= 100*time.Second && s.At < 101*time.Second {
					if s.Expires == 0 {
						unreg++
					} else if strings.HasSuffix(s.CallID, "-b1") && s.CSeq == 1 {
						again++
					}
				}
			}
			if again != 500 || unreg != 0 {
				t.Errorf("at the reboot: %d new REGISTERs (new Call-ID, CSeq 1), %d un-REGISTERs; want 500, 0", again, unreg)
			}
			if bound != 1000 {
				t.Errorf("%d bindings after the reboot, want 1000 (a new Call-ID replaces the NAP's binding)", bound)
			}
			s := res.Summary
			if len(s.Events) != 1 {
				t.Fatalf("events %v", s.Events)
			}
			ev := s.Events[0]
			rtt := 0.02 // UDP: a REGISTER and its answer
			if tr == sipwire.TCP {
				rtt = 0.04 // a connect first
			}
			if ev.Kind != "reboot" || ev.AtS != 100 || ev.NAPs != 500 || ev.Back != 500 || ev.To99S == nil || ev.To100S == nil ||
				*ev.To100S < rtt || *ev.To100S > rtt+0.002 || ev.Requests != 500 || ev.Timeouts != 0 {
				t.Errorf("event %+v (to 99 %% %v, to 100 %% %v s)", ev, deref(ev.To99S), deref(ev.To100S))
			}
			// Its latency: the 500 transactions of the recovery, each a
			// round trip (a stream NAP's REGISTER goes once connected).
			if l := ev.LatencyMS; l.Count != 500 || l.P50 < 20 || l.Max > 20.02 {
				t.Errorf("the recovery's latency %+v: want 500 transactions of 20 ms", l)
			}
			if s.Registered != 1000 || s.Unregistered != 1000 {
				t.Errorf("registered %d, unregistered %d", s.Registered, s.Unregistered)
			}
		})
	}
}

func deref(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}

// The acceptance test of the avalanche restart, in simulated time: 10 000
// NAPs, registered at 500 a second, behind a registrar capped at 1 000
// requests a second with a bucket of 1 180; at 100 s half of them reboot.
// The network loses the first REGISTER of one rebooted NAP in 20 (250).
// One-way delay 10 ms, seed timers (T1 500 ms, --retry 5 s), so:
//
//   - 100.000 s: 5 000 REGISTERs; 4 750 arrive at 100.010, the bucket
//     serves 1 180 (back at 100.020) and refuses 3 570 with a 503.
//   - 100.500: the 250 lost retransmit; at 100.510 the bucket has room
//     for 500 more (1.179 s of tolerance, 0.5 s owed), so all are served:
//     back at 100.520, after 520 ms.
//   - Each refused NAP waits --retry from its 503 (whatever Retry-After
//     says: the seed's gateway does) and tries again, all together, into
//     a bucket full again: rounds at 105.020, 110.040, 115.060, 120.080,
//     each served 1 180 (3 570 → 2 390 → 1 210 → 30 refused), each back
//     20 ms later.
//
// 99 % (4 950) are back with the fourth round, at 115.080 (15.080 s after
// the event), all with the fifth at 120.100 (20.100 s). The window saw
// 5 000 + 7 200 REGISTERs (12 200 transactions, each with its final
// answer: 7 200 503s), 250 retransmissions, no timeout; its latency is
// 20 ms but for the 250 of 520 ms. Its peak rate is the 5 000 of the
// first window: a window closes at the loop's first step 100 ms or more
// after it opened, and with nothing due between the 503s at 100.020 and
// the retransmissions the loop sleeps its longest, 100 ms: 5 000 in
// 120 ms. The registrar's own count of refusals is the tester's (the
// ramp, at half the cap, had none).
func TestRebootStormAgainstARateCap(t *testing.T) {
	n := newSimNet(t)
	n.Configure(simX, registrar.Config{MaxRate: 1000, MaxBurst: 1180, RetryAfter: 1})
	seen := map[string]bool{}
	n.Lose = func(s netsim.Send) bool {
		if !strings.HasSuffix(s.CallID, "-b1") || s.CSeq != 1 || seen[s.CallID] {
			return false
		}
		seen[s.CallID] = true
		i, _ := strconv.Atoi(strings.TrimPrefix(s.User, "g"))
		return i%40 == 1 // the rebooted NAPs are the odd ones: one in 20 of them
	}
	g := simGroup("g", 10000, simX)
	e := startSim(t, n, Options{Groups: []Group{g}, Rate: 500, Duration: 200 * time.Second, Drain: 5 * time.Second})
	reply := make(chan rebootReply, 1)
	n.At(100*time.Second, func() {
		e.ctrlQ <- func(now time.Duration) { reply <- e.applyReboot(RebootReq{Fraction: 0.5}, now) }
	})
	var bound int
	var throttled int64 // the registrar's refusals by the end of the load
	n.At(199*time.Second, func() { bound, throttled = n.Bindings(simX), n.Worker(simX).Throttled })
	n.run(e, 500*time.Second)
	res, _ := e.Wait()
	checkSums(t, res)
	if r := <-reply; r.err != nil || r.naps != 5000 {
		t.Fatalf("rebooted %d (%v), want 5000", r.naps, r.err)
	}
	s := res.Summary
	if len(s.Events) != 1 {
		t.Fatalf("events %v", s.Events)
	}
	ev := s.Events[0]
	exact := func(what string, got, want float64) {
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s %v, want %v", what, got, want)
		}
	}
	if ev.NAPs != 5000 || ev.Back != 5000 || ev.To99S == nil || ev.To100S == nil {
		t.Fatalf("event %+v", *ev)
	}
	exact("to_99_s", *ev.To99S, 15.080)
	exact("to_100_s", *ev.To100S, 20.100)
	exact("duration_s", ev.DurationS, 20.100)
	exact("peak_rate_per_s", ev.PeakRatePerS, 5000/0.120)
	if ev.Requests != 12200 || ev.Refused503 != 7200 || ev.Retransmissions != 250 || ev.Timeouts != 0 {
		t.Errorf("requests %d, 503s %d, retransmissions %d, timeouts %d; want 12 200, 7 200, 250, 0",
			ev.Requests, ev.Refused503, ev.Retransmissions, ev.Timeouts)
	}
	// The histogram keeps 3 significant digits: 20 ms and 520 ms read back
	// as the top of their buckets.
	l := ev.LatencyMS
	if l.Count != 12200 || l.P50 < 20 || l.P90 > 20.02 || l.P99 < 520 || l.Max > 520.3 {
		t.Errorf("latency %+v: want 12 200 transactions, 20 ms up to p90, 520 ms from p99", l)
	}
	if throttled != ev.Refused503 {
		t.Errorf("the registrar refused %d over its cap by the end of the load; the event counts %d 503s", throttled, ev.Refused503)
	}
	if bound != 10000 || s.Registered != 10000 {
		t.Errorf("%d bindings, %d registered at the end; want 10 000", bound, s.Registered)
	}
}
