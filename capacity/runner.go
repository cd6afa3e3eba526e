package capacity

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/metrics"
)

// Runner runs a search's trials with the engine, each a load of its own:
// Rate × Duration new NAPs, never used before in the search (fresh AoRs),
// that register at Rate and are then left to expire (no un-REGISTER), a
// 2xx that does not bind a NAP's Contact counted as a failure.
type Runner struct {
	// Base is the run as the command line made it: its one group's
	// target, transport, identity, credentials and timers.
	Base engine.Options
	// Expires: what the trials' NAPs ask for; their bindings are left to
	// expire (long enough that none refreshes within a trial).
	Expires uint32
	// Trials, if set, gets a line for each trial as it ends.
	Trials io.Writer
	// Run runs one load (engine.Run; tests give a simulated one).
	Run func(ctx context.Context, o engine.Options) (*engine.Result, error)
	// OnTrial, if set, is told each trial as it starts (the Prometheus
	// gauge of the current trial's rate).
	OnTrial func(p Plan)
	// Refresh, if set, makes the search refresh mode's: Base's NAPs are a
	// population registered first, each trial refreshes some of them
	// (refresh.go). Run is then not used.
	Refresh *Refresh

	used   int  // AoRs used so far: the next trial's start after them
	auth   bool // some trial was challenged
	start  time.Time
	search *Search
}

// Search runs s's trials until it is done, ctx is cancelled (a signal:
// the search is interrupted) or its MaxTime passes, and returns its
// result.
func (r *Runner) Search(ctx context.Context, s *Search) Result {
	r.search, r.start = s, time.Now()
	if f := r.Refresh; f != nil {
		defer f.end()
		if !r.fill(ctx, s) {
			s.Interrupt(time.Since(r.start))
			f.end()
			return r.result(s)
		}
		if r.Trials != nil {
			fmt.Fprintf(r.Trials, "population: %s bindings registered at %s/s in %s\n", count(int64(f.info.Bindings)),
				rate(f.FillRate), secText(seconds(f.info.FillS)))
		}
	}
	for {
		elapsed := time.Since(r.start)
		p, ok := s.Next(elapsed)
		if !ok {
			break
		}
		if ctx.Err() != nil {
			s.Interrupt(elapsed)
			break
		}
		if !sleep(ctx, p.Pause) {
			s.Interrupt(time.Since(r.start))
			break
		}
		if r.OnTrial != nil {
			r.OnTrial(p)
		}
		var res TrialResult
		if r.Refresh != nil {
			res = r.refreshTrial(ctx, p)
		} else {
			res = r.Trial(ctx, p)
		}
		if err := s.Record(res, time.Since(r.start)); err != nil {
			s.Interrupt(time.Since(r.start))
			break
		}
		if r.Trials != nil {
			tr := s.Result().Trials
			things := "registrations"
			if r.Refresh != nil {
				things = "refreshes"
			}
			fmt.Fprintln(r.Trials, tr[len(tr)-1].line(things))
		}
	}
	if r.Refresh != nil {
		r.Refresh.end() // un-REGISTERs, if asked, before the result
	}
	return r.result(s)
}

// result is the search's result with what the runner knows: whether the
// registrar challenged, refresh mode's population (and a failed fill).
func (r *Runner) result(s *Search) Result {
	out := s.Result()
	out.Auth = out.Auth || r.auth
	if f := r.Refresh; f != nil && f.info != nil {
		info := *f.info
		out.Population = &info
		switch {
		case info.FillFailed != "":
			out.LimitedBy, out.AtLeast, out.Why = LimitedByRegistrar, false, info.FillFailed
		case len(out.Trials) == 0 && out.LimitedBy == LimitedByInterrupted && s.p.MaxTime > 0 && out.ElapsedS >= s.p.MaxTime.Seconds():
			out.LimitedBy, out.Why = LimitedByMaxTime, fmt.Sprintf("the search's time limit (%s) stopped it during the population's fill", s.p.MaxTime)
		}
	}
	return out
}

// Trial runs plan p and measures it.
func (r *Runner) Trial(ctx context.Context, p Plan) TrialResult {
	o := r.Base
	g := o.Groups[0]
	g.NAPs = int(p.Attempts)
	if g.NAPs <= 0 {
		g.NAPs = max(1, int(p.Rate*p.Duration.Seconds()+0.5))
	}
	g.Identity.UserStart += uint64(r.used) // fresh AoRs: never used before in this search
	r.used += g.NAPs
	g.NAP.Expires, g.NAP.ExpiresJitter, g.NAP.RequireBinding = r.Expires, 0, true
	g.Register, g.Rate = true, 0
	o.Groups = []engine.Group{g}
	o.Rate, o.Duration = p.Rate, p.Duration
	o.Drain, o.LeaveBindings = g.NAP.TimerF+time.Second, true // what is in flight ends, or times out
	if p.Drain > 0 {
		o.Drain = p.Drain // a schedule's next step begins: what is in flight then is unanswered
	}
	o.StartAt = p.StartAt
	o.SnapshotEvery = 100 * time.Millisecond // the first failure seen within 0.1 s
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if p.Deadline > 0 {
		var stop context.CancelFunc
		tctx, stop = context.WithDeadline(tctx, r.start.Add(p.Deadline))
		defer stop()
	}
	w := &firstFailure{endAt: p.EndAtFirstFailure, cancel: cancel}
	o.Observers = append(append([]engine.Observer(nil), o.Observers...), w)
	run := r.Run
	if run == nil {
		run = engine.Run
	}
	res, err := run(tctx, o)
	interrupted := ctx.Err() != nil || (p.Deadline > 0 && time.Since(r.start) >= p.Deadline && w.first == nil)
	if err != nil || res == nil {
		return TrialResult{Interrupted: interrupted, Generator: metrics.GeneratorSummary{Reasons: []string{fmt.Sprintf("the trial did not run: %v", err)}}}
	}
	t := r.measured(res, w, interrupted)
	if p.Drain > 0 && res.InFlight > 0 {
		t.Failures["unanswered"] = res.InFlight
		if t.FirstFailure == nil {
			t.FirstFailure = &FirstFailure{Reason: "unanswered", At: t.Ran}
		}
	}
	return t
}

// measured reads a trial's result as the search takes it.
func (r *Runner) measured(res *engine.Result, w *firstFailure, interrupted bool) TrialResult {
	s := res.Summary
	if s.AuthChallenges > 0 {
		r.auth = true
	}
	t := TrialResult{
		Ran: time.Duration(s.DurationS * float64(time.Second)), Attempts: res.Started,
		Successes: res.Totals.Registration.TotalCount(), Failures: map[string]int64{},
		Retransmissions: s.Retransmissions, Interrupted: interrupted,
		Histogram: res.Totals.Registration, StartedAt: s.StartedAt,
	}
	for why, f := range s.Failures {
		if why != "malformed" && f.Count > 0 {
			t.Failures[why] = f.Count
		}
	}
	if w.first != nil {
		t.FirstFailure = w.first
	} else if len(t.Failures) > 0 { // seen only when the trial ended: at its end
		t.FirstFailure = &FirstFailure{Reason: firstKey(t.Failures), At: t.Ran}
	}
	if l := s.RegistrationMS; l.Count > 0 {
		t.Latency = Latency{P50: l.P50, P90: l.P90, P99: l.P99, Max: l.Max, Count: l.Count}
	}
	if g := s.Generator; g != nil {
		t.Generator = *g
		t.Generator.Limited, t.Generator.Reasons = false, nil // the search judges it, by its own thresholds
	}
	return t
}

// firstFailure watches a trial's snapshots for its first failure: when,
// why, and (endAt) ends the trial there.
type firstFailure struct {
	endAt  bool
	cancel context.CancelFunc
	first  *FirstFailure
}

func (f *firstFailure) Needs() engine.Needs { return 0 }

func (f *firstFailure) Observe(s *engine.Snapshot) {
	if f.first != nil || s.Drain || s.Totals == nil {
		return
	}
	if why := failureReason(s.Totals); why != "" {
		f.first = &FirstFailure{Reason: why, At: s.Elapsed}
		if f.endAt {
			f.cancel()
		}
	}
}

// failureReason names a failure the counts show, "" for none: a refusal's
// code (auth-refused for a 401 or 407), no-binding, timeout,
// connect-failed, connection-lost.
func failureReason(t *metrics.Totals) string {
	codes := make([]int, 0, len(t.Refusals))
	for code, n := range t.Refusals {
		if n > 0 {
			codes = append(codes, code)
		}
	}
	sort.Ints(codes)
	switch {
	case len(codes) > 0 && (codes[0] == 401 || codes[0] == 407):
		return "auth-refused"
	case len(codes) > 0:
		return strconv.Itoa(codes[0])
	case t.NoBinding > 0:
		return "no-binding"
	case t.Timeouts > 0:
		return "timeout"
	case t.ConnectFailures > 0:
		return "connect-failed"
	case t.TransactionsLost > 0:
		return "connection-lost"
	}
	return ""
}

func firstKey(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys[0]
}

// sleep waits d, or until ctx is done (false).
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
