package capacity

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/metrics"
)

// A registrar, simulated: what a trial at plan's rate does, and how long
// the trial took once started (sending, then waiting for what is in
// flight).
type registrar func(p Plan) (TrialResult, time.Duration)

// answerTail is the wait for the answers still in flight when a trial
// stops sending, against a registrar that answers.
const answerTail = 20 * time.Millisecond

// search runs a whole search against reg in simulated time and returns
// its result and the simulated time it took.
func search(t *testing.T, p Params, reg registrar) (Result, time.Duration) {
	t.Helper()
	s, err := New(Target{Mode: ModeRegister, Transport: "udp", Auth: true}, p)
	if err != nil {
		t.Fatal(err)
	}
	var now time.Duration
	for n := 0; ; n++ {
		if n > 200 {
			t.Fatal("no end after 200 trials")
		}
		plan, ok := s.Next(now)
		if !ok {
			break
		}
		if again, _ := s.Next(now); again != plan {
			t.Fatalf("Next before Record: %+v, then %+v", plan, again)
		}
		r, took := reg(plan)
		now += plan.Pause + took
		if err := s.Record(r, now); err != nil {
			t.Fatal(err)
		}
	}
	if !s.Done() {
		t.Fatal("Next said no more trials, Done says not done")
	}
	return s.Result(), now
}

// clean is a trial in which every registration succeeded.
func clean(p Plan, d time.Duration) TrialResult {
	n := int64(math.Round(p.Rate * d.Seconds()))
	return TrialResult{Ran: d, Attempts: n, Successes: n,
		Latency:   Latency{P50: 0.3, P90: 0.6, P99: 1.2, Max: 4, Count: n},
		Generator: metrics.GeneratorSummary{RateOfferedPerS: f64(p.Rate), TimerLagMS: lagMS(0.8, 3), CPU: f64(0.40)}}
}

// failedAt is a trial whose first failure, reason, came at, and that ended
// there (or ran on, counting perSecond failures, when the plan says so).
func failedAt(p Plan, at time.Duration, reason string, perSecond float64) (TrialResult, time.Duration) {
	ran := at
	if !p.EndAtFirstFailure {
		ran = p.Duration
	}
	r := clean(p, ran)
	r.Attempts = max(r.Attempts, int64(math.Floor(at.Seconds()*p.Rate))+1) // the refused one
	failures := max(1, int64(perSecond*(ran-at).Seconds()))
	r.Successes = r.Attempts - failures
	r.Failures = map[string]int64{reason: failures}
	r.FirstFailure = &FirstFailure{Reason: reason, At: at}
	return r, ran + answerTail
}

// capped refuses with a 503 what passes x per second, counted in windows
// of a second from the trial's start (Kamailio's ratelimit TAILDROP with
// timer_interval 1): at r > x the (x+1)th REGISTER, at x/r s, is refused.
func capped(x float64) registrar {
	return func(p Plan) (TrialResult, time.Duration) {
		if p.Rate <= x {
			return clean(p, p.Duration), p.Duration + answerTail
		}
		return failedAt(p, seconds(math.Floor(x)/p.Rate), "503", p.Rate-x)
	}
}

// bucket is a token bucket of x per second that holds burst seconds' worth,
// full at each trial's start (the settle pause refills it): at r > x it is
// empty, and refuses, after x·burst/(r−x) s.
func bucket(x, burst float64) registrar {
	return func(p Plan) (TrialResult, time.Duration) {
		if p.Rate > x {
			if empty := seconds(x * burst / (p.Rate - x)); empty < p.Duration {
				return failedAt(p, empty, "503", p.Rate-x)
			}
		}
		return clean(p, p.Duration), p.Duration + answerTail
	}
}

func within(t *testing.T, what string, got, lo, hi float64) {
	t.Helper()
	if got < lo || got > hi {
		t.Errorf("%s = %v, want in [%v, %v]", what, got, lo, hi)
	}
}

// Against a registrar capped anywhere from 1 000 to 3 000/s, the default
// search finds the cap to its granularity, confirms it, and takes at most
// 240 s of trials and pauses.
func TestCapFoundWithinGranularityIn240s(t *testing.T) {
	p := DefaultParams()
	var slowest time.Duration
	var slowestCap float64
	mostTrials := 0
	for x := 1000.0; x <= 3000; x += 7 {
		res, took := search(t, p, capped(x))
		if !res.Confirmed || res.LimitedBy != LimitedByRegistrar || res.AtLeast {
			t.Fatalf("cap %v: %+v", x, res)
		}
		// Passing means at most x; the search stops when the gap to the
		// lowest failure is at most 1 % of the rate.
		within(t, "found rate", res.RatePerS, x-p.granularity(x), x)
		if res.Failed == nil || res.Failed.RatePerS <= x || res.Failed.RatePerS-res.RatePerS > p.granularity(res.RatePerS)+1 {
			t.Errorf("cap %v: found %v, lowest failure %+v", x, res.RatePerS, res.Failed)
		}
		if took > 240*time.Second {
			t.Errorf("cap %v: the search took %v, want <= 240 s", x, took)
		}
		if took > slowest {
			slowest, slowestCap = took, x
		}
		mostTrials = max(mostTrials, len(res.Trials))
	}
	t.Logf("caps 1 000–3 000/s: slowest search %v (cap %v/s), at most %d trials", slowest, slowestCap, mostTrials)

	res, took := search(t, p, capped(2310))
	t.Logf("cap 2 310/s: %d trials, %v: %s", len(res.Trials), took, res.Summary())
	for _, tr := range res.Trials {
		t.Log(tr.Line())
	}
}

// A registrar that lets a one-second burst through above its rate: the
// 10 s search trials may pass up to 10 % above it, the confirmation (at
// least 20 s) does not pass more than 5 % above, and the backoff brings
// the candidate under that.
func TestBurstAllowanceLiftsTheResultByAtMost5Percent(t *testing.T) {
	p := DefaultParams()
	var slowest time.Duration
	for x := 1000.0; x <= 3000; x += 13 {
		res, took := search(t, p, bucket(x, 1))
		if !res.Confirmed || res.LimitedBy != LimitedByRegistrar {
			t.Fatalf("cap %v with a 1 s burst: %+v", x, res)
		}
		within(t, "found rate", res.RatePerS, x*0.95, x*1.05)
		slowest = max(slowest, took)
	}
	t.Logf("caps 1 000–3 000/s with a 1 s burst: slowest search %v", slowest)
	if slowest > 240*time.Second {
		t.Errorf("slowest search %v, want <= 240 s", slowest)
	}

	res, took := search(t, p, bucket(2000, 1))
	confirms := 0
	for _, tr := range res.Trials {
		if tr.Phase == PhaseConfirm {
			confirms++
		}
		t.Log(tr.Line())
	}
	t.Logf("%v: %s", took, res.Summary())
	if confirms < 2 {
		t.Errorf("cap 2 000/s with a 1 s burst: %d confirmations, want a failed one first", confirms)
	}
}

// The registrar never fails; the generator cannot offer more than 2 500/s
// cleanly (its timers lag beyond that). The result is "at least" the last
// clean rate, confirmed, limited by the generator, and says why.
func TestGeneratorLimitSaysAtLeast(t *testing.T) {
	const y = 2500
	reg := func(p Plan) (TrialResult, time.Duration) {
		r := clean(p, p.Duration)
		if p.Rate > y {
			r.Generator.RateOfferedPerS = f64(y)
			r.Generator.TimerLagMS = lagMS(40, 180)
			r.Generator.CPU = f64(0.97)
		}
		return r, p.Duration + answerTail
	}
	p := DefaultParams()
	res, took := search(t, p, reg)
	if res.LimitedBy != LimitedByGenerator || !res.AtLeast || !res.Confirmed || res.Failed != nil {
		t.Fatalf("%+v", res)
	}
	within(t, "found rate", res.RatePerS, y-p.granularity(y), y)
	if res.GeneratorLimit == nil || res.GeneratorLimit.RatePerS <= y {
		t.Fatalf("generator limit %+v", res.GeneratorLimit)
	}
	sum := res.Summary()
	for _, want := range []string{"at least ", "zero failures in a confirmation", "not the registrar's limit",
		"regstorm could not offer", "timer lag p99 40 ms > 10 ms", "CPU 97 % busy > 90 %"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary %q lacks %q", sum, want)
		}
	}
	retried := 0
	for _, tr := range res.Trials {
		if tr.Retry > 0 {
			retried++
		}
	}
	if retried == 0 {
		t.Error("no generator-limited trial was run again")
	}
	t.Logf("%d trials, %v: %s", len(res.Trials), took, sum)
}

// A generator hiccup on one trial (another process took the CPU) is run
// again and changes nothing.
func TestOneGeneratorHiccupIsRunAgain(t *testing.T) {
	p := DefaultParams()
	want, _ := search(t, p, capped(2000))
	trial := 0
	hiccup := func(pl Plan) (TrialResult, time.Duration) {
		r, took := capped(2000)(pl)
		if trial++; trial == 7 {
			r.Generator.CPU = f64(0.99)
		}
		return r, took
	}
	got, _ := search(t, p, hiccup)
	if got.RatePerS != want.RatePerS || got.LimitedBy != LimitedByRegistrar || len(got.Trials) != len(want.Trials)+1 {
		t.Fatalf("with a hiccup: %v/s by %s in %d trials; without: %v/s in %d", got.RatePerS, got.LimitedBy,
			len(got.Trials), want.RatePerS, len(want.Trials))
	}
	if tr := got.Trials[6]; tr.Outcome != OutcomeGenerator || got.Trials[7].Retry != 1 || got.Trials[7].Rate != tr.Rate {
		t.Fatalf("trial 7 %+v, trial 8 %+v", tr, got.Trials[7])
	}
}

// 1 % of the REGISTERs are lost and come through on their first
// retransmission: successes, counted as retransmissions, and the found
// rate is the one found without loss.
func TestLossAbsorbedByRetransmissionsKeepsTheRate(t *testing.T) {
	p := DefaultParams()
	want, _ := search(t, p, capped(2200))
	lossy := func(pl Plan) (TrialResult, time.Duration) {
		r, took := capped(2200)(pl)
		r.Retransmissions = r.Attempts / 100
		r.Latency.P99, r.Latency.Max = 501, 503
		return r, took + 500*time.Millisecond
	}
	got, _ := search(t, p, lossy)
	if got.RatePerS != want.RatePerS || !got.Confirmed || got.LimitedBy != LimitedByRegistrar {
		t.Fatalf("with 1 %% loss: %v/s (%s), without: %v/s", got.RatePerS, got.LimitedBy, want.RatePerS)
	}
	if c := got.confirmation(); c == nil || c.Retransmissions == 0 {
		t.Fatalf("confirmation %+v: want its retransmissions", c)
	}
}

// --max-time stops the search before a trial that cannot end in time: the
// result is the last clean rate, not confirmed, "at least", and says so.
func TestMaxTimeStopsTheSearch(t *testing.T) {
	p := DefaultParams()
	p.MaxTime = 90 * time.Second
	res, took := search(t, p, capped(2600))
	if res.LimitedBy != LimitedByMaxTime || res.Confirmed || !res.AtLeast || took > p.MaxTime {
		t.Fatalf("%v: %+v", took, res)
	}
	best := 0.0
	for _, tr := range res.Trials {
		if tr.Outcome == OutcomePass && tr.Rate > best {
			best = tr.Rate
		}
	}
	if res.RatePerS != best || best == 0 {
		t.Fatalf("rate %v, highest passed %v", res.RatePerS, best)
	}
	sum := res.Summary()
	if !strings.Contains(sum, "at least") || !strings.Contains(sum, "not confirmed: the search's time limit (1m30s) stopped it") {
		t.Errorf("summary %q", sum)
	}
	t.Logf("%d trials, %v: %s", len(res.Trials), took, sum)

	// Plans carry the deadline; a trial cut there ends the search.
	s, _ := New(Target{Mode: ModeRegister, Transport: "udp"}, p)
	plan, _ := s.Next(0)
	if plan.Deadline != p.MaxTime {
		t.Fatalf("deadline %v", plan.Deadline)
	}
	_ = s.Record(TrialResult{Ran: time.Second, Interrupted: true}, p.MaxTime)
	if r := s.Result(); !s.Done() || r.LimitedBy != LimitedByMaxTime {
		t.Fatalf("%+v", r)
	}
}

// A registrar that never fails is confirmed at the maximum rate: "at
// least", limited by the generator, which was not asked for more.
func TestMaxRateReached(t *testing.T) {
	p := DefaultParams()
	p.MaxRate = 5000
	res, _ := search(t, p, capped(1e9))
	if res.RatePerS != 5000 || !res.Confirmed || res.LimitedBy != LimitedByGenerator || !res.AtLeast {
		t.Fatalf("%+v", res)
	}
	if sum := res.Summary(); !strings.Contains(sum, "the search's maximum rate, 5 000/s, passed") {
		t.Errorf("summary %q", sum)
	}
}

// A registrar that refuses everything: the search halves down to the
// minimum rate and says "below".
func TestNothingPasses(t *testing.T) {
	p := DefaultParams()
	res, _ := search(t, p, capped(0))
	if res.RatePerS != 0 || res.Confirmed || res.LimitedBy != LimitedByRegistrar || res.AtLeast || res.Failed == nil {
		t.Fatalf("%+v", res)
	}
	if res.Failed.RatePerS != p.MinRate {
		t.Errorf("lowest failed rate %v, want %v", res.Failed.RatePerS, p.MinRate)
	}
	for _, tr := range res.Trials {
		if tr.Rate < p.MinRate {
			t.Errorf("trial %d at %v/s, below the minimum rate", tr.N, tr.Rate)
		}
	}
	if sum := res.Summary(); sum != "Registration Rate: below 10/s over UDP with digest auth: 10/s failed: 503 from 0 s" {
		t.Errorf("summary %q", sum)
	}
}

// Above its cap the registrar drops REGISTERs silently: the failures are
// Timer F timeouts, 32 s after the first lost one (33 s into the trial), so
// a failing trial lasts its whole duration and that wait. The found rate
// is the same; the search is slower (within the default 10 min bound).
func TestTimeoutsAreFailures(t *testing.T) {
	const x = 1800
	drops := func(p Plan) (TrialResult, time.Duration) {
		if p.Rate <= x {
			return clean(p, p.Duration), p.Duration + answerTail
		}
		r := clean(p, p.Duration)
		lost := int64((p.Rate - x) * p.Duration.Seconds())
		r.Successes -= lost
		r.Retransmissions = lost * 10
		r.Failures = map[string]int64{"timeout": lost}
		r.FirstFailure = &FirstFailure{Reason: "timeout", At: seconds(x/p.Rate) + 32*time.Second}
		return r, p.Duration + 32*time.Second
	}
	p := DefaultParams()
	res, took := search(t, p, drops)
	if !res.Confirmed || res.LimitedBy != LimitedByRegistrar {
		t.Fatalf("%+v", res)
	}
	within(t, "found rate", res.RatePerS, x-p.granularity(x), x)
	if !strings.Contains(res.Summary(), "failed: timeout from 33 s") {
		t.Errorf("summary %q", res.Summary())
	}
	t.Logf("%d trials, %v: %s", len(res.Trials), took, res.Summary())
}

// RFC 7502's own settings: trials of 100 000 attempts, a granularity of
// 5/s. Slower, as precise as asked.
func TestRFCSettings(t *testing.T) {
	p := DefaultParams()
	p.TrialSize, p.Granularity, p.ConfirmSize = 100000, 5, 100000
	p.MaxTime = 0
	res, took := search(t, p, capped(2345))
	if !res.Confirmed {
		t.Fatalf("%+v", res)
	}
	within(t, "found rate", res.RatePerS, 2345-5, 2345)
	t.Logf("%d trials, %v: %s", len(res.Trials), took, res.Summary())
}

// Refusals keep a failing trial short unless asked to run it out.
func TestRunFailingTrials(t *testing.T) {
	p := DefaultParams()
	p.RunFailingTrials = true
	res, _ := search(t, p, capped(2000))
	for _, tr := range res.Trials {
		if tr.Outcome == OutcomeFail && tr.RanS != tr.DurationS {
			t.Fatalf("trial %d ran %v s of %v", tr.N, tr.RanS, tr.DurationS)
		}
	}
	within(t, "found rate", res.RatePerS, 1980, 2000)
}

func TestInterrupt(t *testing.T) {
	s, _ := New(Target{Mode: ModeRefresh, Transport: "tcp"}, DefaultParams())
	plan, _ := s.Next(0)
	_ = s.Record(clean(plan, plan.Duration), plan.Duration)
	s.Next(plan.Duration)
	s.Interrupt(15 * time.Second)
	if _, ok := s.Next(16 * time.Second); ok {
		t.Fatal("a trial after Interrupt")
	}
	res := s.Result()
	if res.LimitedBy != LimitedByInterrupted || res.RatePerS != 100 || !res.AtLeast || res.Confirmed {
		t.Fatalf("%+v", res)
	}
	if sum := res.Summary(); sum != "Re-Registration Rate: at least 100/s over TCP without auth, not confirmed: the search was interrupted" {
		t.Errorf("summary %q", sum)
	}
}

// A trial in which nothing was offered is the generator's, not a pass.
func TestNothingOfferedIsNoPass(t *testing.T) {
	s, _ := New(Target{Mode: ModeRegister, Transport: "udp"}, DefaultParams())
	plan, _ := s.Next(0)
	_ = s.Record(TrialResult{Ran: plan.Duration}, plan.Duration)
	if tr := s.Result().Trials[0]; tr.Outcome != OutcomeGenerator || tr.Generator.Reasons[0] != "no registration offered" {
		t.Fatalf("%+v", tr)
	}
}

func TestRecordWithoutTrial(t *testing.T) {
	s, _ := New(Target{Mode: ModeRegister, Transport: "udp"}, DefaultParams())
	if err := s.Record(TrialResult{}, 0); !errors.Is(err, ErrNoTrial) {
		t.Fatalf("err %v", err)
	}
}

func TestFirstPlans(t *testing.T) {
	p := DefaultParams()
	s, _ := New(Target{Mode: ModeRegister, Transport: "udp"}, p)
	var now time.Duration
	want := []float64{100, 200, 400, 800}
	for i, r := range want {
		plan, _ := s.Next(now)
		if plan.Rate != r || plan.Phase != PhaseProbe || plan.N != i+1 || plan.Duration != 10*time.Second ||
			plan.Attempts != int64(r*10) || !plan.EndAtFirstFailure {
			t.Fatalf("plan %d: %+v", i+1, plan)
		}
		if (i == 0) != (plan.Pause == 0) || (i > 0 && plan.Pause != p.Settle) {
			t.Fatalf("plan %d pause %v", i+1, plan.Pause)
		}
		now += plan.Pause + plan.Duration
		_ = s.Record(clean(plan, plan.Duration), now)
	}
	plan, _ := s.Next(now)
	_ = s.Record(TrialResult{Ran: time.Second, Attempts: 1600, Failures: map[string]int64{"503": 3},
		FirstFailure: &FirstFailure{"503", 600 * time.Millisecond}}, now+time.Second)
	if plan.Rate != 1600 {
		t.Fatalf("fifth plan %+v", plan)
	}
	if plan, _ = s.Next(now); plan.Phase != PhaseBisect || plan.Rate != 1200 {
		t.Fatalf("sixth plan %+v", plan)
	}
	// The confirmation lasts ConfirmSize registrations, 20 s at least.
	if d := p.confirmDuration(1000); d != 50*time.Second {
		t.Errorf("confirmation at 1 000/s: %v", d)
	}
	if d := p.confirmDuration(5000); d != 20*time.Second {
		t.Errorf("confirmation at 5 000/s: %v", d)
	}
}

func TestValidate(t *testing.T) {
	if err := DefaultParams().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(*Params){
		"start":       func(p *Params) { p.StartRate = 0 },
		"growth":      func(p *Params) { p.Growth = 1 },
		"max":         func(p *Params) { p.MaxRate = 50 },
		"trial":       func(p *Params) { p.TrialDuration = 0 },
		"granularity": func(p *Params) { p.GranularityRatio = 0 },
		"confirm":     func(p *Params) { p.ConfirmSize, p.ConfirmDuration = 0, 0 },
		"backoff":     func(p *Params) { p.Backoff = 1 },
		"nan":         func(p *Params) { p.StartRate = math.NaN() },
	} {
		p := DefaultParams()
		f(&p)
		if p.Validate() == nil {
			t.Errorf("%s: no error", name)
		}
		if _, err := New(Target{Mode: ModeRegister}, p); err == nil {
			t.Errorf("%s: New took it", name)
		}
	}
	if _, err := New(Target{Mode: "storm"}, DefaultParams()); err == nil {
		t.Error("mode storm taken")
	}
}

func f64(v float64) *float64 { return &v }

// lagMS is a timer lag of p99 and max (ms), over plenty of timers.
func lagMS(p99, mx float64) metrics.Percentiles {
	return metrics.Percentiles{P50: p99 / 4, P90: p99 / 2, P99: p99, P999: mx, Max: mx, Count: 10000}
}
