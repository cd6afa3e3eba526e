package capacity

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/nap"
)

// bucketPopulation is a population held at a registrar that serves x
// requests a second with a second's burst (regstorm registrar --max-rate
// x), in simulated time: each trial's refreshes, due every 1/rate from its
// start, take a token each; the first without one is refused (503) and
// ends the trial there, as a trial ends at its first failure. The bucket
// is full when a trial starts (the pause before it refills it).
type bucketPopulation struct {
	t         *testing.T
	x         float64
	bindings  int
	fillFails bool
	opts      engine.Options
	trials    []int // refreshes asked, per trial
	res       *engine.RefreshResult
	ended     bool
}

func (b *bucketPopulation) Census() engine.Census {
	if b.fillFails {
		return engine.Census{Registered: 1200, RetryWait: int64(b.bindings) - 1200}
	}
	return engine.Census{Registered: int64(b.bindings)}
}

func (b *bucketPopulation) Failures() map[string]*metrics.Failure {
	if b.fillFails {
		return map[string]*metrics.Failure{"503": {Count: 31}}
	}
	return nil
}

func (b *bucketPopulation) BeginRefreshes(rate float64, n int) error {
	if n > b.bindings {
		b.t.Errorf("a trial of %d refreshes of %d bindings", n, b.bindings)
	}
	b.trials = append(b.trials, n)
	tot := metrics.NewTotals()
	tokens, last, sent := b.x, 0.0, 0
	for j := range n {
		at := float64(j) / rate
		tokens, last = min(b.x, tokens+b.x*(at-last)), at
		sent++
		if tokens < 1 {
			tot.Refused, tot.Refusals[503] = 1, 1
			break
		}
		tokens--
		metrics.Latency(tot.Registration, 2*time.Millisecond)
	}
	tot.Requests = int64(sent)
	asked, offered := rate, rate
	b.res = &engine.RefreshResult{
		RefreshProgress: engine.RefreshProgress{Sent: sent, Done: true, Counts: tot},
		Ran:             time.Duration(float64(sent-1) / rate * float64(time.Second)), Totals: tot,
		Generator: metrics.GeneratorSummary{RateAskedPerS: &asked, RateOfferedPerS: &offered, TimerLagMS: lagMS(0.5, 2)},
	}
	return nil
}

func (b *bucketPopulation) RefreshProgress() (engine.RefreshProgress, error) {
	return b.res.RefreshProgress, nil
}
func (b *bucketPopulation) StopRefreshes() error { return nil }
func (b *bucketPopulation) EndRefreshes() (*engine.RefreshResult, error) {
	r := b.res
	b.res = nil
	return r, nil
}
func (b *bucketPopulation) Wait() (*engine.Result, error) {
	b.ended = true
	tot := metrics.NewCounts()
	if !b.opts.LeaveBindings {
		tot.Unregistered = int64(b.bindings)
	}
	return &engine.Result{Totals: tot}, nil
}

// refreshRunner is a refresh search's runner on pop, with regstorm's
// defaults but no pauses (simulated registrars need none).
func refreshRunner(pop *bucketPopulation, p Params) (*Runner, *Search) {
	base := engine.Options{Groups: []engine.Group{{Name: "default", NAPs: pop.bindings, Register: true, Target: "127.0.0.1:5060", NAP: nap.DefaultConfig()}}}
	r := &Runner{Base: base, Expires: 1800, Refresh: &Refresh{FillRate: 2000,
		Start: func(_ context.Context, o engine.Options) (Population, error) { pop.opts = o; return pop, nil }}}
	s, err := New(Target{Mode: ModeRefresh, Transport: "udp"}, p)
	if err != nil {
		pop.t.Fatal(err)
	}
	return r, s
}

// Against a registrar capped at x requests a second, a refresh search on
// 10^5 bindings finds x within 5 %, confirmed, the registrar the limit;
// no trial refreshes more bindings than the population holds, and the
// result says mode refresh and its population; the progress lines say
// the fill, then each trial's refreshes.
func TestRefreshSearchFindsARegistrarsCap(t *testing.T) {
	for _, x := range []float64{1000, 2000, 3000} {
		pop := &bucketPopulation{t: t, x: x, bindings: 100000}
		p := DefaultParams()
		p.Settle = 0
		r, s := refreshRunner(pop, p)
		var lines strings.Builder
		r.Trials = &lines
		res := r.Search(context.Background(), s)
		if !strings.HasPrefix(lines.String(), "population: 100 000 bindings registered at 2 000/s") ||
			!strings.Contains(lines.String(), " refreshes  pass") {
			t.Errorf("progress lines:\n%s", lines.String())
		}
		if !res.Confirmed || res.LimitedBy != LimitedByRegistrar || res.AtLeast || res.Mode != ModeRefresh {
			t.Fatalf("cap %v: %s", x, res.Summary())
		}
		within(t, "rate found", res.RatePerS, 0.95*x, 1.05*x)
		t.Logf("cap %v/s: %s (%d trials)", x, res.Summary(), len(res.Trials))
		if pp := res.Population; pp == nil || pp.Bindings != 100000 || pp.Registered != 100000 || pp.FillRate != 2000 || pp.UnregisterAtEnd || pp.Unregistered != 0 {
			t.Errorf("population %+v", res.Population)
		}
		if !pop.ended || !strings.Contains(res.Summary(), "Re-Registration Rate: ") || !strings.Contains(res.Summary(), "refreshing 100 000 bindings") {
			t.Errorf("ended %v, %s", pop.ended, res.Summary())
		}
		g := pop.opts.Groups[0]
		if pop.opts.Rate != 2000 || !pop.opts.LeaveBindings || g.NAP.Expires != 1800 || g.NAP.Retry != 1800*time.Second ||
			!g.NAP.RequireBinding || g.NAP.ExpiresJitter != 0 || pop.opts.Duration != 0 {
			t.Errorf("population options: rate %v, leave %v, group %+v", pop.opts.Rate, pop.opts.LeaveBindings, g.NAP)
		}
	}
}

// A population smaller than a trial's refreshes cannot offer that trial:
// the trial is the generator's limit, and the result says "at least" and
// why. 5 000 bindings confirm 250/s at most (20 s of confirmation).
func TestRefreshPopulationTooSmall(t *testing.T) {
	pop := &bucketPopulation{t: t, x: 3000, bindings: 5000}
	p := DefaultParams()
	p.Settle, p.ConfirmSize = 0, 4000
	r, s := refreshRunner(pop, p)
	res := r.Search(context.Background(), s)
	if res.LimitedBy != LimitedByGenerator || !res.AtLeast || !res.Confirmed || res.RatePerS > 250 || res.RatePerS < 225 ||
		!strings.Contains(res.Why, "the population (5 000 bindings) is smaller than the trial's") {
		t.Fatalf("%s (rate %v, limited by %s)", res.Summary(), res.RatePerS, res.LimitedBy)
	}
}

// A fill that fails ends the search before any trial, and says why; with
// --unregister what it registered is removed, and the result counts it.
func TestRefreshFillFails(t *testing.T) {
	pop := &bucketPopulation{t: t, x: 1000, bindings: 100000, fillFails: true}
	r, s := refreshRunner(pop, DefaultParams())
	r.Refresh.Unregister = true
	res := r.Search(context.Background(), s)
	if p := res.Population; p == nil || !p.UnregisterAtEnd || p.Unregistered != 100000 || pop.opts.LeaveBindings {
		t.Errorf("--unregister: population %+v, leave bindings %v", p, pop.opts.LeaveBindings)
	}
	if len(res.Trials) != 0 || res.RatePerS != 0 || res.LimitedBy != LimitedByRegistrar || !pop.ended ||
		res.Population == nil || !strings.Contains(res.Why, "fill at 2 000/s failed (503: 31; 1 200 of 100 000 registered)") {
		t.Fatalf("%s (%+v)", res.Summary(), res.Population)
	}
}

// A trial's figures are its refreshes' alone: REGISTERs beyond them and
// their challenges (bindings refreshing on their own) make the trial the
// generator's, not a verdict; failures are named by reason, with what
// Timer F did not end as no-answer.
func TestRefreshTrialMeasured(t *testing.T) {
	tot := metrics.NewTotals()
	for range 95 {
		metrics.Latency(tot.Registration, time.Millisecond)
	}
	tot.Requests, tot.AuthChallenges, tot.Retransmissions = 100+100+7, 100, 4
	tot.Refusals[503], tot.Refusals[401], tot.Timeouts, tot.NoBinding = 2, 1, 1, 1
	asked := 50.0
	res := &engine.RefreshResult{RefreshProgress: engine.RefreshProgress{Sent: 100, InFlight: 1}, Ran: 1980 * time.Millisecond,
		Totals: tot, Generator: metrics.GeneratorSummary{RateAskedPerS: &asked}}
	r := &Runner{}
	got := r.refreshMeasured(res, nil, false)
	want := map[string]int64{"503": 2, "auth-refused": 1, "timeout": 1, "no-binding": 1, "no-answer": 1}
	if got.Attempts != 100 || got.Successes != 95 || got.Ran != 2*time.Second || got.Retransmissions != 4 || !r.auth ||
		len(got.Failures) != len(want) || got.FirstFailure == nil || got.FirstFailure.Reason != "503" || got.Latency.Count != 95 {
		t.Errorf("%+v", got)
	}
	for k, n := range want {
		if got.Failures[k] != n {
			t.Errorf("failures %v, want %v", got.Failures, want)
		}
	}
	if len(got.Generator.Reasons) != 1 || !strings.HasPrefix(got.Generator.Reasons[0], "7 REGISTERs other than the trial's") {
		t.Errorf("generator reasons %q", got.Generator.Reasons)
	}
}
