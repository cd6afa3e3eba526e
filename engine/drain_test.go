package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/registrar"
)

// REGISTER/s is the load's: 3 000 REGISTERs at 1 000/s in a 6 s load is
// 500/s, whatever the drain sends after; the drain has its own section.
func TestRegisterRateIsTheLoads(t *testing.T) {
	n := newSimNet(t, simX)
	e := startSim(t, n, Options{Groups: []Group{simGroup("g", 3000, simX)}, Rate: 1000, Duration: 6 * time.Second, Drain: 5 * time.Second})
	n.run(e, 100*time.Second)
	res, _ := e.Wait()
	checkSums(t, res)
	s := res.Summary
	if s.RegisterRatePerS != 500 || s.Requests != 6000 {
		t.Errorf("register_rate_per_s %v (want 500), requests %d (want 6000: the run's)", s.RegisterRatePerS, s.Requests)
	}
	d := s.Drain
	if d == nil || d.Requests != 3000 || d.Unregistered != 3000 || d.Left() != 0 || d.LatencyMS.Count != 3000 || d.LatencyMS != s.DrainLatencyMS {
		t.Fatalf("drain %+v", d)
	}
	// 3 000 at 1 000/s would take 3 s, within 80 % of the 5 s drain: at
	// that rate, the last sent at 8.999 s and answered 20 ms later.
	if d.DurationS < 3.01 || d.DurationS > 3.05 || d.RatePerS < 3000/3.05 || d.RatePerS > 3000/3.01 {
		t.Errorf("drain over %.3f s at %.1f/s", d.DurationS, d.RatePerS)
	}
}

// A registrar that refuses most un-REGISTERs (its rate cap, 503 with
// Retry-After: 1): each refused one is sent again a second later while
// --drain lasts; the drain says how many bindings it still left, by the
// code that last refused them, and until when at the latest.
func TestDrainCountsTheBindingsLeft(t *testing.T) {
	n := newSimNet(t, simX)
	g := simGroup("g", 100, simX)
	e := startSim(t, n, Options{Groups: []Group{g}, Rate: 50, Duration: 10 * time.Second, Drain: 5 * time.Second})
	// At 8 s the registrar restarts with a cap of 10/s (burst 10): of the
	// 100 un-REGISTERs sent at 25/s, most get 503.
	n.At(8*time.Second, func() {
		reg := n.Registrar(simX)
		n.Configure(simX, registrar.Config{MaxRate: 10, MaxBurst: 10})
		n.Registrar(simX).Loc = reg.Loc // the same bindings
	})
	n.run(e, 100*time.Second)
	res, _ := e.Wait()
	checkSums(t, res)
	d := res.Summary.Drain
	refused := res.Totals.Responses[503]
	if d == nil || refused <= 100 || d.Requests <= 100 || d.UnregisterFailed["503"] == 0 || d.Left() != 100-d.Unregistered || d.BindingsLeftUntil == nil {
		t.Fatalf("503s %d (want more than the 100 first un-REGISTERs: those sent again too); drain %+v", refused, d)
	}
	// An un-REGISTER in flight at the end may have reached the registrar.
	if left := int64(n.Bindings(simX)); left > d.Left() || left < d.Left()-d.UnregisterFailed["no-answer"] {
		t.Errorf("the registrar holds %d bindings, the drain says %d left (%v)", left, d.Left(), d.UnregisterFailed)
	}
	if want := e.wallClock(e.clock.Now() + 3600*time.Second); d.BindingsLeftUntil.Before(want.Add(-time.Second)) || d.BindingsLeftUntil.After(want) {
		t.Errorf("bindings left until %v, want about %v", d.BindingsLeftUntil, want)
	}
}

// The generator's self-check in every run: a ramp offered at the rate
// asked, on time, is not limited; the same load on a host whose CPUs
// were busy is, and says why.
func TestGeneratorSelfCheck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		busy    uint64 // of every 100 ticks of the host's CPUs over the load
		limited bool
	}{{"kept-up", 40, false}, {"busy-host", 95, true}} {
		t.Run(tc.name, func(t *testing.T) {
			n := newSimNet(t, simX)
			readings := []metrics.CPUTimes{{Busy: 1000, Total: 10000}, {Busy: 1000 + 10*tc.busy, Total: 11000}}
			cpu := func() metrics.CPUTimes { r := readings[0]; readings = readings[1:]; return r }
			e := startSim(t, n, Options{Groups: []Group{simGroup("g", 1000, simX)}, Rate: 200, Duration: 10 * time.Second,
				Drain: 5 * time.Second, HostCPU: cpu})
			n.run(e, 100*time.Second)
			res, _ := e.Wait()
			g := res.Summary.Generator
			if g == nil || g.RateAskedPerS == nil || *g.RateAskedPerS != 200 || g.RateOfferedPerS == nil ||
				*g.RateOfferedPerS < 199.9 || *g.RateOfferedPerS > 200.1 || g.TimerLagMS.Count != 1000 || g.CPU == nil {
				t.Fatalf("generator %+v", g)
			}
			if g.Limited != tc.limited || (tc.limited && (len(g.Reasons) != 1 || !strings.Contains(g.Reasons[0], "95 % busy"))) {
				t.Errorf("limited %v, reasons %q", g.Limited, g.Reasons)
			}
		})
	}
}
