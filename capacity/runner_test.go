package capacity

import (
	"context"
	"testing"
	"time"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/nap"
)

// Each trial is a load of fresh AoRs at the plan's rate, left to expire,
// requiring its binding; its result reads as the search takes it.
func TestRunnerTrials(t *testing.T) {
	var seen []engine.Options
	fake := func(ctx context.Context, o engine.Options) (*engine.Result, error) {
		seen = append(seen, o)
		tot := metrics.NewTotals()
		for range 990 {
			metrics.Latency(tot.Registration, 2*time.Millisecond)
		}
		off, lag := 1000.0, metrics.Percentiles{P50: 0.1, P99: 0.5, Max: 2, Count: 1000}
		s := &metrics.Summary{DurationS: 10, Retransmissions: 7, AuthChallenges: 1000, Timeouts: 0,
			RegistrationMS: metrics.PercentilesOf(tot.Registration),
			Failures:       map[string]*metrics.Failure{"503": {Count: 10}, "malformed": {Count: 1}},
			Generator:      &metrics.GeneratorSummary{Limited: true, Reasons: []string{"judged by the engine"}, RateOfferedPerS: &off, TimerLagMS: lag}}
		return &engine.Result{Summary: s, Totals: tot, Started: 1000}, nil
	}
	base := engine.Options{Groups: []engine.Group{{Name: "default", NAPs: 5, Register: true, Target: "127.0.0.1:5060", NAP: nap.DefaultConfig()}}}
	base.Groups[0].Identity.UserStart = 1
	r := &Runner{Base: base, Expires: 120, Run: fake}
	r.start = time.Now()
	p := Plan{N: 1, Rate: 100, Duration: 10 * time.Second, Attempts: 1000}
	res := r.Trial(context.Background(), p)
	_ = r.Trial(context.Background(), p)
	o := seen[0]
	g := o.Groups[0]
	if len(o.Groups) != 1 || g.NAPs != 1000 || o.Rate != 100 || o.Duration != 10*time.Second || !o.LeaveBindings ||
		!g.NAP.RequireBinding || g.NAP.Expires != 120 || g.NAP.ExpiresJitter != 0 || o.Drain != 33*time.Second {
		t.Errorf("trial options %+v, group %+v", o, g)
	}
	if a, b := seen[0].Groups[0].Identity.UserStart, seen[1].Groups[0].Identity.UserStart; a != 1 || b != 1001 {
		t.Errorf("user starts %d then %d: want fresh AoRs, 1 then 1001", a, b)
	}
	if res.Attempts != 1000 || res.Successes != 990 || res.Ran != 10*time.Second || res.Retransmissions != 7 ||
		len(res.Failures) != 1 || res.Failures["503"] != 10 || res.FirstFailure == nil || res.FirstFailure.Reason != "503" ||
		res.Latency.Count != 990 || res.Generator.Limited || res.Generator.Reasons != nil || !r.auth {
		t.Errorf("trial result %+v", res)
	}
}
