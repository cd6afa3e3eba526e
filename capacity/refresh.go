package capacity

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/metrics"
)

// Refresh mode (RFC 7502 §6.8, Re-Registration Rate): one run holds a
// population of bindings for the whole search. It registers them first,
// at FillRate; each trial then refreshes Rate × Duration of them at the
// trial's rate, round-robin, so that no binding is refreshed twice in a
// trial. The bindings ask for Expires (long enough that none refreshes on
// its own within the search) and a refused one is not retried on its
// own: every REGISTER sent during a trial is the trial's.

// Population is the run that holds a refresh search's bindings: an
// *engine.Engine (tests give a simulated one).
type Population interface {
	Census() engine.Census
	Failures() map[string]*metrics.Failure
	BeginRefreshes(rate float64, n int) error
	RefreshProgress() (engine.RefreshProgress, error)
	StopRefreshes() error
	EndRefreshes() (*engine.RefreshResult, error)
	Wait() (*engine.Result, error)
}

// Refresh makes a Runner's search refresh mode's.
type Refresh struct {
	// FillRate: the population's registrations per second, before the
	// first trial (a rate the registrar is known to take).
	FillRate float64
	// Unregister: the population un-REGISTERs at the end, at FillRate
	// (by default its bindings are left to expire).
	Unregister bool
	// Start starts the run holding the population (engine.Start, unless
	// a test gives another).
	Start func(ctx context.Context, o engine.Options) (Population, error)
	// Poll: how often a trial's progress is read (default 100 ms: its
	// first failure is seen within it).
	Poll time.Duration

	pop    Population
	stop   context.CancelFunc
	info   *PopulationInfo
	timerF time.Duration
}

// PopulationInfo is a refresh search's population, in its result.
type PopulationInfo struct {
	Bindings   int     `json:"bindings"`
	FillRate   float64 `json:"fill_rate_per_s"`
	FillS      float64 `json:"fill_s"`
	Registered int64   `json:"registered"` // when the fill ended
	ExpiresS   uint32  `json:"expires_s"`
	// FillFailed: why the fill did not register every binding (the search
	// then ran no trial).
	FillFailed string `json:"fill_failed,omitempty"`
	// UnregisterAtEnd: the population was to un-REGISTER at the end;
	// Unregistered: the un-REGISTERs answered 2xx then.
	UnregisterAtEnd bool  `json:"unregistered_at_end"`
	Unregistered    int64 `json:"unregistered"`
}

// populationOptions is the run that holds the population: Base's group,
// its bindings long-lived, its NAPs not retrying on their own, filled at
// FillRate, un-REGISTERed (or left) at the end at that rate.
func (r *Runner) populationOptions() engine.Options {
	o := r.Base
	g := o.Groups[0]
	g.NAP.Expires, g.NAP.ExpiresJitter, g.NAP.RequireBinding = r.Expires, 0, true
	g.NAP.Retry = time.Duration(r.Expires) * time.Second
	g.Register, g.Rate = true, 0
	o.Groups = []engine.Group{g}
	o.Rate, o.Duration, o.LeaveBindings = r.Refresh.FillRate, 0, !r.Refresh.Unregister
	// The un-REGISTERs at the fill's pace, and their answers.
	o.Drain = max(o.Drain, seconds(float64(g.NAPs)/r.Refresh.FillRate/0.8)+g.NAP.TimerF+time.Second)
	return o
}

// fill starts the population and waits until every binding is
// registered. It reports false when the search cannot go on: the fill
// failed (the result says why) or was interrupted.
func (r *Runner) fill(ctx context.Context, s *Search) bool {
	f := r.Refresh
	o := r.populationOptions()
	g := o.Groups[0]
	f.timerF = g.NAP.TimerF
	f.info = &PopulationInfo{Bindings: g.NAPs, FillRate: f.FillRate, ExpiresS: r.Expires, UnregisterAtEnd: f.Unregister}
	start := f.Start
	if start == nil {
		start = func(ctx context.Context, o engine.Options) (Population, error) { return engine.Start(ctx, o) }
	}
	pctx, stop := context.WithCancel(context.Background()) // ended by the search, not by its signal
	pop, err := start(pctx, o)
	if err != nil {
		stop()
		f.info.FillFailed = fmt.Sprintf("the population's run did not start: %v", err)
		return false
	}
	f.pop, f.stop = pop, stop
	began := time.Now()
	bound := began.Add(seconds(float64(g.NAPs)/f.FillRate*1.5) + g.NAP.TimerF + 10*time.Second)
	for {
		c := pop.Census()
		f.info.Registered, f.info.FillS = c.Registered, time.Since(began).Seconds()
		if c.Registered >= int64(g.NAPs) {
			return true
		}
		if why := failuresText(pop.Failures()); why != "" {
			f.info.FillFailed = fmt.Sprintf("the population's fill at %s/s failed (%s; %s of %s registered): set a lower --fill-rate",
				rate(f.FillRate), why, count(c.Registered), count(int64(g.NAPs)))
			return false
		}
		if time.Now().After(bound) {
			f.info.FillFailed = fmt.Sprintf("the population's fill at %s/s did not end in time (%s of %s registered)",
				rate(f.FillRate), count(c.Registered), count(int64(g.NAPs)))
			return false
		}
		if ctx.Err() != nil || (s.p.MaxTime > 0 && time.Since(r.start) >= s.p.MaxTime) || !sleep(ctx, f.poll()) {
			return false
		}
	}
}

func (f *Refresh) poll() time.Duration {
	if f.Poll > 0 {
		return f.Poll
	}
	return 100 * time.Millisecond
}

// end stops the population's run: its NAPs un-REGISTER or are left.
func (f *Refresh) end() {
	if f.pop == nil {
		return
	}
	f.stop()
	if res, err := f.pop.Wait(); err == nil && res != nil && res.Totals != nil && f.info != nil {
		f.info.Unregistered = res.Totals.Unregistered
	}
	f.pop = nil
}

// refreshTrial runs plan p on the population and measures it.
func (r *Runner) refreshTrial(ctx context.Context, p Plan) TrialResult {
	f := r.Refresh
	n := int(p.Attempts)
	if n <= 0 {
		n = max(1, int(p.Rate*p.Duration.Seconds()+0.5))
	}
	if n > f.info.Bindings {
		why := fmt.Sprintf("the population (%s bindings) is smaller than the trial's %s refreshes: set a larger --naps",
			count(int64(f.info.Bindings)), count(int64(n)))
		return TrialResult{Generator: metrics.GeneratorSummary{Reasons: []string{why}}}
	}
	if err := f.pop.BeginRefreshes(p.Rate, n); err != nil {
		return TrialResult{Interrupted: ctx.Err() != nil, Generator: metrics.GeneratorSummary{Reasons: []string{fmt.Sprintf("the trial did not run: %v", err)}}}
	}
	began := time.Now()
	var first *FirstFailure
	var doneAt time.Time
	interrupted := false
	for {
		prog, err := f.pop.RefreshProgress()
		if err != nil {
			interrupted = true
			break
		}
		if first == nil {
			if why := failureReason(prog.Counts); why != "" {
				first = &FirstFailure{Reason: why, At: time.Since(began)}
				if p.EndAtFirstFailure {
					_ = f.pop.StopRefreshes()
				}
			}
		}
		if prog.Done && doneAt.IsZero() {
			doneAt = time.Now()
		}
		// The trial's last refreshes end, or time out (Timer F).
		if prog.Done && (prog.InFlight == 0 || time.Since(doneAt) > f.timerF+time.Second) {
			break
		}
		cut := ctx.Err() != nil || (p.Deadline > 0 && time.Since(r.start) >= p.Deadline && first == nil)
		if cut && !interrupted {
			interrupted = true
			_ = f.pop.StopRefreshes()
		}
		if interrupted && prog.Done {
			break
		}
		sleep(context.Background(), f.poll())
	}
	res, err := f.pop.EndRefreshes()
	if err != nil || res == nil {
		return TrialResult{Interrupted: true}
	}
	return r.refreshMeasured(res, first, interrupted)
}

// refreshMeasured reads a refresh trial's figures as the search takes them.
func (r *Runner) refreshMeasured(res *engine.RefreshResult, first *FirstFailure, interrupted bool) TrialResult {
	c := res.Totals
	if c.AuthChallenges > 0 {
		r.auth = true
	}
	t := TrialResult{Ran: res.Ran, Attempts: int64(res.Sent), Successes: c.Registration.TotalCount(),
		Failures: failuresOf(c), Retransmissions: c.Retransmissions, Interrupted: interrupted,
		FirstFailure: first, Generator: res.Generator}
	if res.Sent > 0 && res.Generator.RateAskedPerS != nil {
		t.Ran += seconds(1 / *res.Generator.RateAskedPerS) // the last refresh's slot
	}
	// Every REGISTER of the trial's window should be its refreshes (and
	// their answers to challenges and 423s); more means bindings that
	// refresh on their own (a registrar granting less than asked), and
	// figures that are not the trial's alone.
	if others := c.Requests - int64(res.Sent) - c.AuthChallenges - c.Responses[423]; others > 0 {
		t.Generator.Reasons = append(t.Generator.Reasons, fmt.Sprintf("%s REGISTERs other than the trial's refreshes (the registrar granted shorter bindings than asked?)", count(others)))
	}
	if res.InFlight > 0 && !interrupted {
		t.Failures["no-answer"] += res.InFlight // not even Timer F ended them
	}
	if t.FirstFailure == nil && len(t.Failures) > 0 {
		t.FirstFailure = &FirstFailure{Reason: firstKey(t.Failures), At: t.Ran}
	}
	if l := metrics.PercentilesOf(c.Registration); l.Count > 0 {
		t.Latency = Latency{P50: l.P50, P90: l.P90, P99: l.P99, Max: l.Max, Count: l.Count}
	}
	return t
}

// failuresOf names the failures counts show, by reason (failureReason's
// names).
func failuresOf(t *metrics.Totals) map[string]int64 {
	out := map[string]int64{}
	for code, n := range t.Refusals {
		switch {
		case n <= 0:
		case code == 401 || code == 407:
			out["auth-refused"] += n
		default:
			out[strconv.Itoa(code)] += n
		}
	}
	add := func(why string, n int64) {
		if n > 0 {
			out[why] += n
		}
	}
	add("no-binding", t.NoBinding)
	add("timeout", t.Timeouts)
	add("connect-failed", t.ConnectFailures)
	add("connection-lost", t.TransactionsLost)
	return out
}

// failuresText is a run's failures in short: "503: 12, timeout: 1".
func failuresText(f map[string]*metrics.Failure) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(f)) {
		if f[k] != nil && f[k].Count > 0 && k != "malformed" {
			parts = append(parts, k+": "+count(f[k].Count))
		}
	}
	return strings.Join(parts, ", ")
}
