package engine

import (
	"errors"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/regstorm/regstorm/metrics"
)

// Refresh trials: a capacity search's Re-Registration Rate (RFC 7502
// §6.8) on a run that holds a population of registered NAPs. A trial asks
// for n refreshes at a rate: the k-th is due k/rate after the trial
// begins, whatever the answers (the ramp's pacing, wrk2's), and goes to
// the next NAP of the first group's live cohort, round-robin from where
// the last trial stopped, so that no NAP is refreshed twice in a trial
// (when n exceeds the NAPs that can refresh, the trial runs out: Exhausted).
// Its figures are the run's counters at its end less those at its start:
// exact as long as nothing else sends meanwhile (the population's own
// refreshes and retries are set beyond the search).

// ErrRefreshing: a refresh trial is under way already.
var ErrRefreshing = errors.New("engine: a refresh trial is under way")

// refreshState is the refresh trials of a run (loop-owned).
type refreshState struct {
	next int         // the next NAP slot of the cohort to offer a refresh
	run  *refreshRun // the current trial, nil between trials
}

// refreshRun is one refresh trial as it goes.
type refreshRun struct {
	rate        float64
	n, sent     int
	scanned     int // NAP slots offered a refresh (a busy NAP declines)
	exhausted   bool
	stopped     bool
	begin       time.Duration
	first, last time.Duration // the first and the last refresh's send times
	at          *metrics.Totals
	reg, lag    *hdrhistogram.Histogram // the run's registration and timer-lag histograms at the start
	drops, lost int64
	cpu         metrics.CPUTimes
}

// RefreshProgress is a refresh trial so far.
type RefreshProgress struct {
	Sent int // refreshes sent
	// Done: no more will be sent (all sent, stopped, or Exhausted).
	Done      bool
	Exhausted bool  // the population had no NAP left to refresh in this trial
	InFlight  int64 // transactions open now, the trial's and any other
	// Counts since the trial began: counters only, no histograms.
	Counts *metrics.Totals
}

// RefreshResult is what a refresh trial measured.
type RefreshResult struct {
	RefreshProgress
	// Ran: from the trial's start to its last refresh's send.
	Ran time.Duration
	// Totals since the trial began: counters, and the Registration
	// histogram (first REGISTER of a refresh to its 2xx).
	Totals *metrics.Totals
	// Generator: rate asked and offered, timer lag, drops, refused sends
	// and CPU over the trial, not judged (the search judges it).
	Generator metrics.GeneratorSummary
}

// BeginRefreshes starts a refresh trial of n refreshes at rate per second.
func (e *Engine) BeginRefreshes(rate float64, n int) error {
	err, stopping := onLoop(e, func(now time.Duration) error { return e.beginRefreshes(rate, n, now) })
	if stopping != nil {
		return stopping
	}
	return err
}

// StopRefreshes sends no more refreshes of the current trial (its first
// failure came); those sent go on to their end.
func (e *Engine) StopRefreshes() error {
	_, err := onLoop(e, func(time.Duration) struct{} {
		if r := e.refreshes.run; r != nil {
			r.stopped = true
		}
		return struct{}{}
	})
	return err
}

// RefreshProgress reports the current trial so far.
func (e *Engine) RefreshProgress() (RefreshProgress, error) {
	return onLoop(e, func(time.Duration) RefreshProgress { return e.refreshProgress() })
}

// EndRefreshes ends the current trial and returns its figures; call it
// once its transactions have ended (InFlight 0) or timed out.
func (e *Engine) EndRefreshes() (*RefreshResult, error) {
	return onLoop(e, func(now time.Duration) *RefreshResult { return e.endRefreshes(now) })
}

func (e *Engine) beginRefreshes(rate float64, n int, now time.Duration) error {
	switch {
	case e.phase != phaseLoad:
		return ErrStopping
	case e.refreshes.run != nil:
		return ErrRefreshing
	case rate <= 0 || n <= 0:
		return errors.New("engine: a refresh trial needs a rate and a count above 0")
	}
	r := &refreshRun{rate: rate, n: n, begin: now, cpu: e.o.HostCPU(), reg: metrics.NewHistogram(), lag: metrics.NewHistogram()}
	r.at = e.refreshCounts()
	for _, l := range e.lanesNow() {
		l.mu.Lock()
		r.reg.Merge(l.rec.Registration)
		r.lag.Merge(l.rec.RefreshError)
		r.drops += l.socketDrops()
		r.lost += l.udpLosses()
		l.mu.Unlock()
	}
	e.refreshes.run = r
	return nil
}

// paceRefreshes sends the current trial's refreshes that are due, and
// returns when the next is (0: none).
func (e *Engine) paceRefreshes(now time.Duration) time.Duration {
	r := e.refreshes.run
	if r == nil || r.stopped || r.exhausted || r.sent >= r.n || len(e.groups) == 0 {
		return 0
	}
	co := e.groups[0].live()
	for r.sent < r.n {
		due := pacedStart(r.begin, r.sent, r.rate)
		if due > now {
			return due
		}
		if !e.refreshOne(co, r, due) {
			r.exhausted = true
			return 0
		}
		if r.sent == 0 {
			r.first = now
		}
		r.sent++
		r.last = now
	}
	return 0
}

// refreshOne refreshes the next NAP of the cohort that can, due at due;
// false when every NAP was offered one in this trial.
func (e *Engine) refreshOne(co *cohort, r *refreshRun, due time.Duration) bool {
	for r.scanned < co.size {
		c := e.refreshes.next % co.size
		e.refreshes.next = c + 1
		r.scanned++
		l := co.lanes[c%len(co.lanes)]
		i := uint32(c / len(co.lanes))
		l.lockOnLoop()
		l.batching = l.batch != nil // flushed by the step's pass over the lanes
		ok := int(i) < len(l.d.NAPs) && l.d.Refresh(i, due)
		l.unlockOnLoop()
		if ok {
			return true
		}
	}
	return false
}

func (e *Engine) refreshProgress() RefreshProgress {
	p := RefreshProgress{Counts: metrics.NewCounts()}
	r := e.refreshes.run
	if r == nil {
		return p
	}
	p.Sent, p.Exhausted = r.sent, r.exhausted
	p.Done = r.stopped || r.exhausted || r.sent >= r.n
	for _, l := range e.lanesNow() {
		l.mu.Lock()
		p.InFlight += l.inFlight()
		l.mu.Unlock()
	}
	p.Counts = countsSince(e.refreshCounts(), r.at)
	return p
}

func (e *Engine) endRefreshes(now time.Duration) *RefreshResult {
	r := e.refreshes.run
	if r == nil {
		return &RefreshResult{RefreshProgress: RefreshProgress{Counts: metrics.NewCounts()}, Totals: metrics.NewTotals()}
	}
	res := &RefreshResult{RefreshProgress: e.refreshProgress(), Totals: metrics.NewTotals()}
	res.Done = true
	res.Totals.AddCountsOf(res.Counts)
	reg, lag := metrics.NewHistogram(), metrics.NewHistogram()
	var drops, lost int64
	for _, l := range e.lanesNow() {
		l.mu.Lock()
		reg.Merge(l.rec.Registration)
		lag.Merge(l.rec.RefreshError)
		drops += l.socketDrops()
		lost += l.udpLosses()
		l.mu.Unlock()
	}
	res.Totals.Registration = metrics.Diff(reg, r.reg)
	if r.sent > 0 {
		res.Ran = r.last - r.begin
	}
	g := metrics.GeneratorSummary{TimerLagMS: metrics.PercentilesOf(metrics.Diff(lag, r.lag)),
		SocketDrops: drops - r.drops, SendFailures: lost - r.lost, CPU: e.o.HostCPU().BusySince(r.cpu)}
	if r.sent > 1 && r.last > r.first {
		asked, offered := r.rate, float64(r.sent-1)/(r.last-r.first).Seconds()
		g.RateAskedPerS, g.RateOfferedPerS = &asked, &offered
	}
	res.Generator = g
	e.refreshes.run = nil
	return res
}

// refreshCounts is the run's counters now (no histograms).
func (e *Engine) refreshCounts() *metrics.Totals {
	t := metrics.NewCounts()
	for _, l := range e.lanesNow() {
		l.mu.Lock()
		t.AddCounts(l.rec)
		l.mu.Unlock()
	}
	return t
}

// countsSince is now's counters less at's: those a refresh trial judges.
func countsSince(now, at *metrics.Totals) *metrics.Totals {
	d := metrics.NewCounts()
	c, a := &now.Counts, &at.Counts
	d.Requests = c.Requests - a.Requests
	d.Retransmissions = c.Retransmissions - a.Retransmissions
	d.Timeouts = c.Timeouts - a.Timeouts
	d.AuthChallenges = c.AuthChallenges - a.AuthChallenges
	d.Refused = c.Refused - a.Refused
	d.NoBinding = c.NoBinding - a.NoBinding
	d.ConnectFailures = c.ConnectFailures - a.ConnectFailures
	d.TransactionsLost = c.TransactionsLost - a.TransactionsLost
	d.Unregistered = c.Unregistered - a.Unregistered
	d.SendFailures = c.SendFailures - a.SendFailures
	d.Malformed = c.Malformed - a.Malformed
	d.Stale = c.Stale - a.Stale
	for code, n := range now.Refusals {
		if v := n - at.Refusals[code]; v != 0 {
			d.Refusals[code] = v
		}
	}
	for code, n := range now.Responses {
		if v := n - at.Responses[code]; v != 0 {
			d.Responses[code] = v
		}
	}
	return d
}
