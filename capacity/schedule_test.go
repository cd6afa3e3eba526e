package capacity

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/nap"
)

var schedStart = time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)

// Each step lasts a confirmation at its rate, after a pause of Settle,
// at a fixed time from the start: the time a step took changes nothing.
func TestStepsAreFixedInTime(t *testing.T) {
	p := DefaultParams() // 50 000 registrations and at least 20 s; 2 s between
	steps := p.Steps(schedStart, []float64{1000, 2000, 4000})
	want := []struct {
		at, d    time.Duration
		attempts int64
	}{{0, 50 * time.Second, 50000}, {52 * time.Second, 25 * time.Second, 50000}, {79 * time.Second, 20 * time.Second, 80000}}
	for i, s := range steps {
		w := want[i]
		if s.N != i+1 || s.Phase != PhaseStep || !s.StartAt.Equal(schedStart.Add(w.at)) || s.Duration != w.d ||
			s.Attempts != w.attempts || s.Drain != 1500*time.Millisecond || !s.EndAtFirstFailure || s.Deadline != 0 {
			t.Errorf("step %d: %+v, want at +%v for %v, %d registrations", i+1, s, w.at, w.d, w.attempts)
		}
		if (i == 0) != (s.Pause == 0) {
			t.Errorf("step %d: pause %v", i+1, s.Pause)
		}
	}
	if got := p.ScheduleLength([]float64{1000, 2000, 4000}); got != 100500*time.Millisecond {
		t.Errorf("length %v, want 100.5 s (the last step's 1.5 s for what is in flight)", got)
	}
}

// A schedule whose rates do not rise, whose steps have no time between
// them, or which would outlast MaxTime is refused, saying why.
func TestScheduleRefused(t *testing.T) {
	p := DefaultParams()
	short := p
	short.Settle = 900 * time.Millisecond
	for _, c := range []struct {
		p     Params
		rates []float64
		want  string
	}{
		{p, nil, "no rate"},
		{p, []float64{1000, 1000}, "above the one before"},
		{p, []float64{2000, 1000}, "above the one before"},
		{p, []float64{0}, "want > 0"},
		{short, []float64{1000}, "settle 900ms"},
		{p, []float64{100, 200, 300, 400, 500, 600}, "more than the max time 10m0s"},
	} {
		if err := c.p.ValidateSchedule(c.rates); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.rates, err, c.want)
		}
	}
	if err := p.ValidateSchedule([]float64{1000, 1500, 2000}); err != nil {
		t.Error(err)
	}
}

// simShard is engine.Run for shard k of n, simulated, against a registrar
// that answers 503 to what passes capRate per second in all: shard k runs
// the NAPs with index ≡ k (mod n) at 1/n of the rate; above the cap each
// shard sees 503s for its share of the excess. Shard 1's registrations
// are slower (15 in 1 000 take 40 ms): its p99 alone is not the whole's.
// At genLimit/s and above shard 1's CPU is saturated. Every Options is
// kept in seen.
func simShard(capRate, genLimit float64, seen *[]engine.Options) func(ctx context.Context, o engine.Options) (*engine.Result, error) {
	return func(ctx context.Context, o engine.Options) (*engine.Result, error) {
		*seen = append(*seen, o)
		k, n := o.ShardK, max(o.ShardN, 1)
		naps := o.Groups[0].NAPs
		mine := int64((naps - k + n - 1) / n)
		tot := metrics.NewTotals()
		var refused int64
		if o.Rate > capRate {
			refused = int64(float64(mine) * (o.Rate - capRate) / o.Rate)
		}
		for i := range mine - refused {
			d := time.Millisecond
			if k == 1 && i%1000 < 15 {
				d = 40 * time.Millisecond
			}
			metrics.Latency(tot.Registration, d)
		}
		rate, cpu := o.Rate/float64(n), 0.5
		if k == 1 && o.Rate >= genLimit {
			cpu = 0.97
		}
		s := &metrics.Summary{DurationS: o.Duration.Seconds(), StartedAt: o.StartAt.Add(time.Duration(k) * time.Millisecond),
			RegistrationMS: metrics.PercentilesOf(tot.Registration), Retransmissions: 3, Failures: map[string]*metrics.Failure{},
			Generator: &metrics.GeneratorSummary{RateAskedPerS: &rate, RateOfferedPerS: f64(rate), TimerLagMS: lagMS(1, 4), CPU: &cpu}}
		if refused > 0 {
			s.Failures["503"] = &metrics.Failure{Count: refused}
		}
		return &engine.Result{Summary: s, Totals: tot, Started: mine}, nil
	}
}

// runShards runs rates as a schedule in n simulated shards (n = 0: one
// process without --shard) and returns each one's result and options.
func runShards(t *testing.T, p Params, rates []float64, n int, capRate, genLimit float64) ([]Result, [][]engine.Options) {
	t.Helper()
	var parts []Result
	var opts [][]engine.Options
	for k := range max(n, 1) {
		base := engine.Options{Groups: []engine.Group{{Name: "default", NAPs: 1, Register: true, Target: "127.0.0.1:5060", NAP: nap.DefaultConfig()}},
			ShardK: k, ShardN: n}
		base.Groups[0].Identity.UserStart = 1
		var seen []engine.Options
		r := &Runner{Base: base, Expires: 120, Run: simShard(capRate, genLimit, &seen)}
		sc := Schedule{Rates: rates, StartAt: schedStart}
		if n > 0 {
			sc.Shard = &metrics.ShardInfo{K: k, N: n}
		}
		res := r.Schedule(context.Background(), Target{Mode: ModeRegister, Transport: "udp"}, p, sc, p.Steps(schedStart, rates))
		// What merge reads is what the shard wrote.
		b, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		var back Result
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		parts, opts = append(parts, back), append(opts, seen)
	}
	return parts, opts
}

func names(n int) []string {
	out := make([]string, n)
	for k := range out {
		out[k] = fmt.Sprintf("shard-%d.json", k)
	}
	return out
}

// Shards run each step at the same wall time, at the whole rate (each
// taking its NAPs of the step's, so 1/N of it), on the same fresh AoRs
// split by index, and wait for what is in flight only until the next
// step's sockets are due.
func TestShardsRunEachStepTogether(t *testing.T) {
	p := DefaultParams()
	rates := []float64{1000, 2000, 3000}
	_, opts := runShards(t, p, rates, 2, 1e9, 1e9)
	steps := p.Steps(schedStart, rates)
	users := map[uint64]bool{}
	for i, st := range steps {
		a, b := opts[0][i], opts[1][i]
		ga, gb := a.Groups[0], b.Groups[0]
		if !a.StartAt.Equal(st.StartAt) || !b.StartAt.Equal(st.StartAt) || a.Rate != st.Rate || b.Rate != st.Rate ||
			ga.NAPs != int(st.Attempts) || gb.NAPs != ga.NAPs || ga.Identity.UserStart != gb.Identity.UserStart ||
			a.ShardK != 0 || b.ShardK != 1 || a.ShardN != 2 || b.ShardN != 2 || a.Drain != p.Settle-stepMargin || !a.LeaveBindings {
			t.Errorf("step %d: shard 0 %+v %+v, shard 1 %+v %+v", i+1, a, ga, b, gb)
		}
		if users[ga.Identity.UserStart] {
			t.Errorf("step %d reuses the AoRs from user %d", i+1, ga.Identity.UserStart)
		}
		users[ga.Identity.UserStart] = true
	}
}

// Merged, the shards' steps are judged as a whole: attempts, failures and
// retransmissions added up, latency from the merged histograms (not the
// worst shard's), and the result and its sentence are those of one
// process running the same schedule.
func TestMergedShardsAreJudgedAsOneProcess(t *testing.T) {
	p := DefaultParams()
	rates := []float64{1000, 2000, 3000}
	parts, _ := runShards(t, p, rates, 2, 2500, 1e9)
	got, err := MergeShards(parts, names(2), 2)
	if err != nil {
		t.Fatal(err)
	}
	one, _ := runShards(t, p, rates, 0, 2500, 1e9)
	want := one[0]
	if got.RatePerS != 2000 || !got.Confirmed || got.LimitedBy != LimitedByRegistrar || got.AtLeast ||
		got.Failed == nil || got.Failed.RatePerS != 3000 || got.Schedule.Shards != 2 {
		t.Errorf("merged: %+v", got)
	}
	if got.RatePerS != want.RatePerS || got.LimitedBy != want.LimitedBy || got.Summary() != want.Summary() {
		t.Errorf("merged %q, one process %q", got.Summary(), want.Summary())
	}
	if !strings.HasPrefix(got.Summary(), "Registration Rate: 2 000/s over UDP without auth, zero failures in a confirmation of 50 000 registrations; 3 000/s failed: 503") {
		t.Errorf("sentence %q", got.Summary())
	}
	for i, tr := range got.Trials {
		a, b := parts[0].Trials[i], parts[1].Trials[i]
		if tr.Attempts != a.Attempts+b.Attempts || tr.Attempts != want.Trials[i].Attempts || tr.Successes != a.Successes+b.Successes ||
			tr.Retransmissions != 6 || tr.Failures["503"] != a.Failures["503"]+b.Failures["503"] || tr.Outcome != want.Trials[i].Outcome {
			t.Errorf("step %d: merged %+v from %+v and %+v", i+1, tr, a, b)
		}
		// 15 slow ones in shard 1's 1 000: 1.5 % of its own, 0.75 % of
		// the whole. The whole's p99 is fast, its worst shard's slow.
		if tr.LatencyMS == nil || tr.LatencyMS.P99 != 1 || b.LatencyMS.P99 < 40 || tr.LatencyMS.Max != b.LatencyMS.Max ||
			tr.LatencyMS.Count != a.LatencyMS.Count+b.LatencyMS.Count {
			t.Errorf("step %d latency %+v, shards %+v %+v", i+1, tr.LatencyMS, a.LatencyMS, b.LatencyMS)
		}
		if r := *tr.Generator.RateOfferedPerS; r != rates[i] || tr.Generator.Limited {
			t.Errorf("step %d generator %+v", i+1, tr.Generator)
		}
	}
	if sp := got.Schedule.StartSpreadMS; sp == nil || *sp != 1 {
		t.Errorf("start spread %v, want 1 ms", sp)
	}
}

// A step in which any shard's generator was limited is generator-limited
// as a whole, the shard named: the result is "at least" the step below.
func TestOneLimitedShardLimitsTheStep(t *testing.T) {
	p := DefaultParams()
	parts, _ := runShards(t, p, []float64{1000, 2000, 3000}, 2, 1e9, 2000)
	got, err := MergeShards(parts, names(2), 0)
	if err != nil {
		t.Fatal(err)
	}
	tr := got.Trials[1]
	if got.RatePerS != 1000 || got.LimitedBy != LimitedByGenerator || !got.AtLeast || tr.Outcome != OutcomeGenerator ||
		len(tr.Generator.Reasons) != 1 || tr.Generator.Reasons[0] != "shard 1/2: CPU 97 % busy > 90 %" || *tr.Generator.CPU != 0.97 {
		t.Errorf("%+v\nstep 2: %+v", got, tr)
	}
	if s := got.Summary(); !strings.Contains(s, "at least 1 000/s") || !strings.Contains(s, "could not offer 2 000/s (shard 1/2: CPU 97 % busy > 90 %)") {
		t.Errorf("sentence %q", s)
	}
}

// Every step clean: at least the highest, the schedule's end the bound;
// the first step failing: below it; a schedule cut short: interrupted.
func TestScheduleJudgement(t *testing.T) {
	p := DefaultParams()
	tgt := Target{Mode: ModeRegister, Transport: "udp"}
	rates := []float64{1000, 2000}
	sc := Schedule{Rates: rates, StartAt: schedStart}
	step := func(i int, r TrialResult) Trial { return p.Step(schedStart, p.Steps(schedStart, rates)[i], r) }
	pass := func(i int) Trial { return step(i, clean(Plan{Rate: rates[i]}, 25*time.Second)) }
	fail := func(i int) Trial {
		r, _ := failedAt(p.Steps(schedStart, rates)[i], 2*time.Second, "503", 10)
		return step(i, r)
	}
	all := JudgeSchedule(tgt, p, sc, []Trial{pass(0), pass(1)})
	if all.RatePerS != 2000 || all.LimitedBy != LimitedByGenerator || !all.AtLeast || !all.Confirmed ||
		!strings.Contains(all.Summary(), "at least 2 000/s") || !strings.Contains(all.Summary(), "the schedule's highest rate, 2 000/s, passed") {
		t.Errorf("all clean: %+v: %s", all, all.Summary())
	}
	below := JudgeSchedule(tgt, p, sc, []Trial{fail(0), pass(1)})
	if below.RatePerS != 0 || below.LimitedBy != LimitedByRegistrar || below.AtLeast ||
		!strings.HasPrefix(below.Summary(), "Registration Rate: below 1 000/s over UDP without auth: 1 000/s failed: 503 from 2 s") {
		t.Errorf("first failing: %+v: %s", below, below.Summary())
	}
	cut := JudgeSchedule(tgt, p, sc, []Trial{pass(0)})
	if cut.RatePerS != 1000 || cut.LimitedBy != LimitedByInterrupted || !cut.AtLeast {
		t.Errorf("cut short: %+v", cut)
	}
}

// The merge refuses what is not the N shards of one schedule, each once,
// naming the files or the missing k.
func TestMergeShardsRefused(t *testing.T) {
	p := DefaultParams()
	rates := []float64{1000, 2000}
	parts, _ := runShards(t, p, rates, 3, 1e9, 1e9)
	other, _ := runShards(t, p, []float64{1000, 3000}, 3, 1e9, 1e9)
	one, _ := runShards(t, p, rates, 0, 1e9, 1e9)
	later := parts[2]
	sc := *later.Schedule
	sc.StartAt = sc.StartAt.Add(time.Minute)
	later.Schedule = &sc
	tcp := parts[2]
	tcp.Transport = "tcp"
	for _, c := range []struct {
		parts []Result
		n     int
		want  string
	}{
		{parts[:2], 0, "shard 2 of 3 missing (2 of 3 files given)"},
		{[]Result{parts[0], parts[1], parts[1]}, 0, "shard-1.json and shard-2.json are both shard 1/3"},
		{[]Result{parts[0], parts[1], other[2]}, 0, "not one schedule"},
		{[]Result{parts[0], parts[1], later}, 0, "one --start-at"},
		{[]Result{parts[0], parts[1], tcp}, 0, "over tcp"},
		{[]Result{parts[0], one[0]}, 0, "shard-1.json is not a shard's schedule"},
		{parts, 4, "shards of 3, not 4"},
	} {
		if _, err := MergeShards(c.parts, names(len(c.parts)), c.n); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v, want %q", err, c.want)
		}
	}
}

// A step's registrations still in flight when the next step's sockets are
// due have had no answer in time: failures, "unanswered". A search's
// trial waits Timer F for them instead.
func TestStepUnansweredAtItsEndFail(t *testing.T) {
	var seen []engine.Options
	sim := simShard(1e9, 1e9, &seen)
	run := func(ctx context.Context, o engine.Options) (*engine.Result, error) {
		res, err := sim(ctx, o)
		res.InFlight = 7
		return res, err
	}
	base := engine.Options{Groups: []engine.Group{{Name: "default", NAPs: 1, Register: true, NAP: nap.DefaultConfig()}}}
	r := &Runner{Base: base, Expires: 120, Run: run}
	p := DefaultParams()
	step := p.Steps(schedStart, []float64{1000})[0]
	got := r.Trial(context.Background(), step)
	if got.Failures["unanswered"] != 7 || got.FirstFailure == nil || got.FirstFailure.Reason != "unanswered" {
		t.Errorf("step: %+v", got)
	}
	search := r.Trial(context.Background(), Plan{N: 1, Rate: 1000, Duration: time.Second, Attempts: 1000})
	if len(search.Failures) != 0 || seen[1].Drain != nap.DefaultConfig().TimerF+time.Second {
		t.Errorf("search trial: %+v, drain %v", search, seen[1].Drain)
	}
}
