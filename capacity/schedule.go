package capacity

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/regstorm/regstorm/metrics"
)

// A schedule is the search's distributed form. The search needs a verdict
// after each trial before it picks the next rate, and shards do not talk
// to each other; so N processes run a fixed list of rates instead, each
// step at the same wall time in every shard (each offering its 1/N), and
// merge judges each step as a whole (MergeShards). One process may run a
// schedule too.

// PhaseStep is a schedule's step: one rate of the list, as long as a
// confirmation.
const PhaseStep Phase = "step"

// stepMargin is left of the pause between two steps for the next step to
// make its sockets before its start: the registrations in flight have the
// rest of the pause to end.
const stepMargin = 500 * time.Millisecond

// Schedule is a fixed list of rates, in the result instead of a search.
type Schedule struct {
	Rates []float64 `json:"rates_per_s"`
	// StartAt: when the first step began (every step's start is fixed
	// from it: Params.Steps).
	StartAt time.Time `json:"start_at"`
	// Shard is this process's part of the steps (nil: the whole); Shards,
	// in a merged result, how many parts it adds up.
	Shard  *metrics.ShardInfo `json:"shard,omitempty"`
	Shards int                `json:"shards,omitempty"`
	// StartSpreadMS, in a merged result: the widest gap between the
	// shards' starts of one step.
	StartSpreadMS *float64 `json:"start_spread_ms,omitempty"`
}

// ValidateSchedule says what is wrong with running rates as a schedule
// with p, if anything: rates must rise, steps need a pause of a second or
// more, and the whole must fit in p.MaxTime.
func (p Params) ValidateSchedule(rates []float64) error {
	if len(rates) == 0 {
		return errors.New("no rate: want one or more, rising")
	}
	for i, r := range rates {
		if math.IsNaN(r) || math.IsInf(r, 0) || r <= 0 {
			return fmt.Errorf("rate %v: want > 0", r)
		}
		if i > 0 && r <= rates[i-1] {
			return fmt.Errorf("rate %v after %v: want each above the one before", r, rates[i-1])
		}
	}
	if p.Settle < 2*stepMargin {
		return fmt.Errorf("settle %v: a schedule wants %v or more between steps (the registrations in flight end, the next step makes its sockets)", p.Settle, 2*stepMargin)
	}
	if d := p.ScheduleLength(rates); p.MaxTime > 0 && d > p.MaxTime {
		return fmt.Errorf("the schedule lasts %v, more than the max time %v: raise it, or shorten the steps (confirm size and duration)", d, p.MaxTime)
	}
	return nil
}

// stepDuration: each step lasts what a confirmation at its rate does, so
// that the highest clean step is a confirmed rate.
func (p Params) stepDuration(rate float64) time.Duration { return p.confirmDuration(rate) }

// ScheduleLength is how long a schedule of rates lasts, its last step's
// wait for what is in flight included.
func (p Params) ScheduleLength(rates []float64) time.Duration {
	var d time.Duration
	for i, r := range rates {
		if i > 0 {
			d += p.Settle
		}
		d += p.stepDuration(r)
	}
	return d + p.Settle - stepMargin
}

// Steps are the trials of a schedule of rates begun at start: step i at
// rates[i] for a confirmation's length, each after a pause of Settle, at
// a fixed time from start. Every shard given the same start switches
// rates at the same moment, however its previous step went (one that
// ended at its first failure waits). What is still in flight
// stepMargin before the next step's start is unanswered: a failure.
func (p Params) Steps(start time.Time, rates []float64) []Plan {
	plans := make([]Plan, len(rates))
	at := time.Duration(0)
	for i, r := range rates {
		pl := Plan{N: i + 1, Phase: PhaseStep, Rate: r, Duration: p.stepDuration(r),
			EndAtFirstFailure: !p.RunFailingTrials, StartAt: start.Add(at), Drain: p.Settle - stepMargin}
		if i > 0 {
			pl.Pause = p.Settle
		}
		pl.Attempts = int64(math.Round(pl.Rate * pl.Duration.Seconds()))
		plans[i] = pl
		at += pl.Duration + p.Settle
	}
	return plans
}

// Step is a schedule's step as the result shows it, judged as a search's
// trial, its start counted from the schedule's, with its latency
// histogram for a merge.
func (p Params) Step(start time.Time, plan Plan, r TrialResult) Trial {
	g, out := p.judge(plan, r)
	t := newTrial(plan, r, g, out, plan.StartAt.Sub(start))
	t.StartedAt = r.StartedAt
	if h := r.Histogram; h != nil && h.TotalCount() > 0 {
		t.LatencyHistogram = encodeHistogram(h)
	}
	return t
}

func encodeHistogram(h *hdrhistogram.Histogram) string {
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return "" // only a histogram of another geometry fails, and ours are one
	}
	return string(b)
}

// JudgeSchedule is a schedule's result from its steps (one process's, or
// shards' merged): the highest rate that passed below every rate that
// failed or at which the generator was limited, confirmed (each step is as
// long as a confirmation), and what bounds it as a search's result says:
// the lowest rate that failed or was generator-limited, or, when every
// step passed, the schedule's end ("at least").
func JudgeSchedule(t Target, p Params, sc Schedule, trials []Trial) Result {
	res := Result{Mode: t.Mode, Transport: t.Transport, Auth: t.Auth, Params: p,
		Trials: append([]Trial{}, trials...), Schedule: &sc}
	hi, gen, interrupted := -1, -1, len(trials) < len(sc.Rates)
	for i, tr := range trials {
		res.ElapsedS = max(res.ElapsedS, tr.StartS+tr.RanS)
		switch tr.Outcome {
		case OutcomeFail:
			if hi < 0 {
				hi = i
			}
		case OutcomeGenerator:
			if gen < 0 {
				gen = i
			}
		case OutcomeInterrupted:
			interrupted = true
		}
	}
	upper := math.Inf(1)
	for _, i := range []int{hi, gen} {
		if i >= 0 {
			upper = min(upper, trials[i].Rate)
		}
	}
	for _, tr := range trials {
		if tr.Outcome == OutcomePass && tr.Rate < upper {
			res.RatePerS = max(res.RatePerS, tr.Rate)
		}
	}
	res.Confirmed = res.RatePerS > 0
	if hi >= 0 {
		tr := trials[hi]
		res.Failed = &Failed{RatePerS: tr.Rate, Trial: tr.N, First: tr.FirstFailure, Failures: tr.Failures}
	}
	if gen >= 0 {
		tr := trials[gen]
		res.GeneratorLimit = &GeneratorLimit{RatePerS: tr.Rate, Trial: tr.N, Reasons: tr.Generator.Reasons}
	}
	switch {
	case gen >= 0 && (hi < 0 || trials[gen].Rate <= trials[hi].Rate):
		res.LimitedBy = LimitedByGenerator
		res.Why = fmt.Sprintf("regstorm could not offer %s/s (%s)", rate(trials[gen].Rate), strings.Join(trials[gen].Generator.Reasons, ", "))
	case hi >= 0:
		res.LimitedBy = LimitedByRegistrar
	case interrupted:
		res.LimitedBy, res.Why = LimitedByInterrupted, "the schedule was interrupted"
	default:
		res.LimitedBy = LimitedByGenerator
		res.Why = fmt.Sprintf("the schedule's highest rate, %s/s, passed", rate(sc.Rates[len(sc.Rates)-1]))
	}
	res.AtLeast = res.LimitedBy != LimitedByRegistrar || !res.Confirmed
	if res.LimitedBy == LimitedByRegistrar && res.RatePerS == 0 {
		res.AtLeast = false // "below" the lowest failed rate
	}
	return res
}

// Schedule runs plans (Params.Steps of sc's rates from sc.StartAt), each
// step at its time, until the last or ctx is cancelled (a signal: the
// step under way is cut, the result says interrupted), and returns the
// schedule's result for t.
func (r *Runner) Schedule(ctx context.Context, t Target, p Params, sc Schedule, plans []Plan) Result {
	r.start = time.Now()
	var trials []Trial
	for _, pl := range plans {
		if ctx.Err() != nil {
			break
		}
		if r.OnTrial != nil {
			r.OnTrial(pl)
		}
		tr := p.Step(sc.StartAt, pl, r.Trial(ctx, pl))
		trials = append(trials, tr)
		if r.Trials != nil {
			fmt.Fprintln(r.Trials, tr.Line())
		}
	}
	t.Auth = t.Auth || r.auth
	return JudgeSchedule(t, p, sc, trials)
}
