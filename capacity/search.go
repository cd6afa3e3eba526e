package capacity

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/regstorm/regstorm/metrics"
)

// Mode is what a trial's registrations are.
type Mode string

const (
	// ModeRegister: each registration is a new AOR's first REGISTER
	// (RFC 7502 §6.7, Registration Rate).
	ModeRegister Mode = "register"
	// ModeRefresh: each is a REGISTER refreshing an AOR whose binding is
	// still alive (RFC 7502 §6.8, Re-Registration Rate).
	ModeRefresh Mode = "refresh"
)

// Phase is a trial's part in the search.
type Phase string

const (
	PhaseProbe   Phase = "probe"   // raising the rate until a trial fails
	PhaseBisect  Phase = "bisect"  // halving the gap between passed and failed
	PhaseConfirm Phase = "confirm" // the found rate, for longer
)

// Outcome is how a trial ended.
type Outcome string

const (
	OutcomePass        Outcome = "pass"              // no failure
	OutcomeFail        Outcome = "fail"              // a failure, the generator clean
	OutcomeGenerator   Outcome = "generator-limited" // the generator was the limit: no verdict
	OutcomeInterrupted Outcome = "interrupted"       // cut short: no verdict
)

// What ended the search, in Result.LimitedBy.
const (
	LimitedByRegistrar   = "registrar"   // a rate just above the result failed
	LimitedByGenerator   = "generator"   // regstorm could not offer more (or was not to: MaxRate)
	LimitedByMaxTime     = "max-time"    // MaxTime stopped the search
	LimitedByInterrupted = "interrupted" // the caller stopped it (Interrupt)
)

// Plan is a trial the search asks for.
type Plan struct {
	N     int // trials so far, this one included
	Phase Phase
	// Rate per second and Duration: Attempts = Rate × Duration registrations,
	// each a REGISTER transaction with its digest round trip if challenged.
	Rate     float64
	Duration time.Duration
	Attempts int64
	// Pause before the trial starts (Params.Settle; 0 for the first).
	Pause time.Duration
	// EndAtFirstFailure: stop offering at the first failure, let what is
	// in flight end, and report (Params.RunFailingTrials unset).
	EndAtFirstFailure bool
	// Deadline, from the search's start: cut the trial there and report it
	// Interrupted (0: none). Params.MaxTime.
	Deadline time.Duration
	// Retry counts the runs at this rate before, each generator-limited.
	Retry int
	// StartAt, when set, is the wall time the trial begins (a schedule's
	// step, aligned across shards): its sockets are made first.
	StartAt time.Time
	// Drain bounds the wait for the registrations in flight once the trial
	// stops offering; those still unanswered then are failures
	// ("unanswered"). 0: Timer F and a second, when every one has ended.
	Drain time.Duration
}

// FirstFailure is a trial's first failure: its reason (a status code such
// as "503", "timeout", "no-binding", …) and when it came, from the trial's
// start.
type FirstFailure struct {
	Reason string
	At     time.Duration
}

// Latency is a trial's registration latency (first REGISTER to 2xx), ms.
type Latency struct {
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
	Count int64   `json:"count"`
}

// TrialResult is what happened in a trial, as the caller measured it.
//
// A registration fails on a final non-2xx answer once digest auth is done
// (a 401 or 407 answered is no failure), on a timeout (Timer F), or on a
// 2xx that grants no binding. A retransmission that ends in success is a
// success; retransmissions are counted apart.
type TrialResult struct {
	// Ran: how long the trial offered registrations (until its end, or
	// its first failure when it ended there).
	Ran       time.Duration
	Attempts  int64 // registrations started
	Successes int64
	// Failures by reason; FirstFailure is set when there are any.
	Failures        map[string]int64
	FirstFailure    *FirstFailure
	Retransmissions int64
	Latency         Latency
	// Generator: regstorm's measurements of itself; the search judges them
	// with Params.Generator (Judge), and fills in the asked and offered
	// rates when they are 0.
	Generator metrics.GeneratorSummary
	// Interrupted: the trial was cut short (its Deadline, a signal).
	Interrupted bool
	// Histogram: the registration latency, µs (Latency's source), kept for
	// a schedule's steps so that shards merge exactly; StartedAt: when the
	// trial began offering (wall time).
	Histogram *hdrhistogram.Histogram
	StartedAt time.Time
}

// Search is RFC 7502 §4.10's search for the highest rate without failure,
// as a state machine: Next proposes a trial, Record takes its outcome.
// Not safe for concurrent use.
type Search struct {
	p      Params
	target Target

	trials  []Trial
	pending *Plan
	retry   *Plan

	phase Phase
	// passes: rates that passed a search trial (not a confirmation).
	passes []float64
	// hi: the lowest rate that failed (the registrar's failure); gen: the
	// lowest at which the generator was limited. +Inf when none.
	hi, gen       float64
	hiAt, genAt   int // index in trials of the trial that set hi, gen
	candidate     float64
	confirmedRate float64
	confirmAt     int

	done      bool
	limitedBy string
	elapsed   time.Duration
}

// Target describes what is measured, for the result and its sentence.
type Target struct {
	Mode      Mode
	Transport string // udp, tcp, tls, ws, wss
	Auth      bool   // the registrar challenges (digest auth)
}

// New starts a search with p, which must be valid.
func New(t Target, p Params) (*Search, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if t.Mode != ModeRegister && t.Mode != ModeRefresh {
		return nil, fmt.Errorf("mode %q: want %s or %s", t.Mode, ModeRegister, ModeRefresh)
	}
	return &Search{p: p, target: t, phase: PhaseProbe, hi: math.Inf(1), gen: math.Inf(1),
		hiAt: -1, genAt: -1, confirmAt: -1}, nil
}

// Params returns the search's settings.
func (s *Search) Params() Params { return s.p }

// Done reports whether the search is over.
func (s *Search) Done() bool { return s.done }

// Next returns the next trial to run, given the time the search has taken
// so far, or false when the search is over (Result). Until Record, it
// returns the same trial again.
func (s *Search) Next(elapsed time.Duration) (Plan, bool) {
	if s.done {
		return Plan{}, false
	}
	if s.pending != nil {
		return *s.pending, true
	}
	s.elapsed = max(s.elapsed, elapsed)
	var plan Plan
	if s.retry != nil {
		plan, s.retry = *s.retry, nil
	} else {
		var ok bool
		if plan, ok = s.decide(); !ok {
			return Plan{}, false
		}
	}
	plan.N = len(s.trials) + 1
	if len(s.trials) > 0 {
		plan.Pause = s.p.Settle
	}
	plan.Attempts = int64(math.Round(plan.Rate * plan.Duration.Seconds()))
	plan.EndAtFirstFailure = !s.p.RunFailingTrials
	if s.p.MaxTime > 0 {
		if s.elapsed+plan.Pause+plan.Duration > s.p.MaxTime {
			s.finish(LimitedByMaxTime)
			return Plan{}, false
		}
		plan.Deadline = s.p.MaxTime
	}
	s.pending = &plan
	return plan, true
}

// decide picks the next trial, or ends the search.
func (s *Search) decide() (Plan, bool) {
	upper := math.Min(s.hi, s.gen)
	if s.phase == PhaseProbe {
		if !math.IsInf(upper, 1) {
			s.phase = PhaseBisect
		} else {
			lo := s.lo()
			switch {
			case len(s.passes) == 0:
				return s.plan(PhaseProbe, roundRate(math.Min(s.p.StartRate, s.p.MaxRate))), true
			case lo >= s.p.MaxRate:
				s.phase, s.candidate = PhaseConfirm, lo
			default:
				return s.plan(PhaseProbe, roundRate(math.Min(lo*s.p.Growth, s.p.MaxRate))), true
			}
		}
	}
	if s.phase == PhaseBisect {
		lo := s.lo()
		if lo == 0 && upper <= s.p.MinRate {
			s.finish(s.limit())
			return Plan{}, false
		}
		mid := roundRate((lo + upper) / 2)
		if lo == 0 {
			// Halving down from a first failure: no trial below MinRate.
			mid = max(mid, roundRate(s.p.MinRate))
		}
		if (lo > 0 && upper-lo <= s.p.granularity(lo)) || mid <= lo || mid >= upper {
			s.phase, s.candidate = PhaseConfirm, lo
		} else {
			return s.plan(PhaseBisect, mid), true
		}
	}
	if s.candidate < s.p.MinRate {
		// Every confirmation failed down to the minimum rate.
		s.finish(s.limit())
		return Plan{}, false
	}
	return s.plan(PhaseConfirm, s.candidate), true
}

func (s *Search) plan(ph Phase, r float64) Plan {
	d := s.p.trialDuration(r)
	if ph == PhaseConfirm {
		d = s.p.confirmDuration(r)
	}
	return Plan{Phase: ph, Rate: r, Duration: d}
}

// lo is the highest rate that passed a search trial below every failure.
func (s *Search) lo() float64 {
	upper, lo := math.Min(s.hi, s.gen), 0.0
	for _, r := range s.passes {
		if r < upper && r > lo {
			lo = r
		}
	}
	return lo
}

// limit says what bounds the search from above: the registrar's failure
// or the generator (limited, or MaxRate reached without failure).
func (s *Search) limit() string {
	if s.gen <= s.hi {
		return LimitedByGenerator
	}
	return LimitedByRegistrar
}

// ErrNoTrial is Record's error when no trial was proposed.
var ErrNoTrial = errors.New("capacity: Record without a trial from Next")

// Record takes the outcome of the trial Next proposed, and the time the
// search has taken so far, that trial included.
func (s *Search) Record(r TrialResult, elapsed time.Duration) error {
	if s.pending == nil {
		return ErrNoTrial
	}
	plan := *s.pending
	s.pending = nil
	start := s.elapsed + plan.Pause
	s.elapsed = max(s.elapsed, elapsed)

	g, out := s.p.judge(plan, r)
	s.trials = append(s.trials, newTrial(plan, r, g, out, start))
	i := len(s.trials) - 1

	switch out {
	case OutcomeInterrupted:
		if s.p.MaxTime > 0 && s.elapsed >= s.p.MaxTime {
			s.finish(LimitedByMaxTime)
		} else {
			s.finish(LimitedByInterrupted)
		}
	case OutcomeGenerator:
		if plan.Retry < s.p.GeneratorRetries {
			again := plan
			again.Retry++
			s.retry = &again
			return nil
		}
		if plan.Rate < s.gen {
			s.gen, s.genAt = plan.Rate, i
		}
		if plan.Phase == PhaseConfirm {
			s.backOff()
		}
	case OutcomeFail:
		if plan.Rate < s.hi {
			s.hi, s.hiAt = plan.Rate, i
		}
		if plan.Phase == PhaseConfirm {
			s.backOff()
		}
	case OutcomePass:
		if plan.Phase == PhaseConfirm {
			s.confirmedRate, s.confirmAt = plan.Rate, i
			s.finish(s.limit())
		} else {
			s.passes = append(s.passes, plan.Rate)
		}
	}
	return nil
}

// judge is a trial's outcome: the generator's self-check by p.Generator
// (the rates asked and offered filled in from the plan when 0), then the
// registrar's failures.
func (p Params) judge(plan Plan, r TrialResult) (metrics.GeneratorSummary, Outcome) {
	g := r.Generator
	if g.RateAskedPerS == nil {
		asked := plan.Rate
		g.RateAskedPerS = &asked
	}
	if g.RateOfferedPerS == nil && r.Ran > 0 {
		offered := float64(r.Attempts) / r.Ran.Seconds()
		g.RateOfferedPerS = &offered
	}
	if r.Attempts == 0 && !r.Interrupted {
		g.Limited, g.Reasons = true, append(g.Reasons, "no registration offered")
	}
	g = p.Generator.Judge(g, r.Ran)
	switch {
	case r.Interrupted:
		return g, OutcomeInterrupted
	case g.Limited:
		return g, OutcomeGenerator
	case len(r.Failures) > 0 || r.FirstFailure != nil:
		return g, OutcomeFail
	}
	return g, OutcomePass
}

// backOff lowers the candidate after its confirmation failed (RFC 7502
// §4.10's calibration amount).
func (s *Search) backOff() {
	s.candidate = roundRate(s.candidate * (1 - s.p.Backoff))
}

// Interrupt ends the search now (a signal): the result says what was
// found so far. A trial under way is the caller's to cut.
func (s *Search) Interrupt(elapsed time.Duration) {
	if s.done {
		return
	}
	s.pending, s.retry = nil, nil
	s.elapsed = max(s.elapsed, elapsed)
	s.finish(LimitedByInterrupted)
}

func (s *Search) finish(limitedBy string) {
	s.done, s.limitedBy = true, limitedBy
	s.pending, s.retry = nil, nil
}

// roundRate keeps rates whole per second, at least 1.
func roundRate(r float64) float64 { return math.Max(1, math.Round(r)) }
