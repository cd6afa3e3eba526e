package engine

import (
	"fmt"
	"strconv"
	"time"

	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/nap"
	"github.com/regstorm/regstorm/sipwire"
)

// totals merges every lane of a group (or of all, gr nil).
func (e *Engine) totals(gr *groupRun) (t *metrics.Totals, inFlight int64) {
	t = metrics.NewTotals()
	for _, g := range e.groups {
		if gr != nil && g != gr {
			continue
		}
		for _, co := range g.cohorts {
			for _, l := range co.lanes {
				l.mu.Lock()
				t.Add(l.rec)
				if l.batch != nil {
					t.SendFailures += l.batch.Losses()
					s, d, r := l.batch.GSO()
					t.GSOSends += s
					t.GSODatagrams += d
					t.GSORefused += r
				}
				inFlight += l.inFlight()
				l.mu.Unlock()
			}
		}
	}
	return t, inFlight
}

// result builds the summary once the run is done.
func (e *Engine) result() *Result {
	t, inFlight := e.totals(nil)
	var meant int
	var registered int64
	sum := &metrics.Summary{}
	groups := map[string]*metrics.GroupSummary{}
	groupTotals := map[string]*metrics.Totals{}
	for _, gr := range e.groups {
		gt, gin := e.totals(gr)
		groupTotals[gr.name] = gt
		co := gr.live()
		naps := co.mine
		register := co.spec.Register && !gr.removed
		if register {
			meant += naps
		}
		if gr.removed {
			naps = 0
		}
		registered += e.registeredAtEnd[gr]
		gs := metrics.NewGroupSummary(gt, naps, register, e.registeredAtEnd[gr], gin)
		gs.Removed = gr.removed
		groups[gr.name] = gs
	}
	transport := e.o.Groups[0].NAP.Transport.String()
	*sum = *metrics.NewSummary(t, meant, transport, registered, e.loadTime.Seconds())
	sum.Groups = groups
	sum.DNS = e.dns.summary()
	sum.Events = e.events
	sum.Stages = e.stages
	sum.Churn = e.churnSt.summary(e.o.Churn)
	for name, c := range sum.Targets {
		c.Registered = e.targetsAtEnd[name] // the gauge when the load ended, as the run's registered
	}
	sum.Process = e.process
	sum.StartedAt = e.startedAt.UTC()
	sum.Reloads = e.reloads
	inf := inFlight
	sum.InFlight = &inf
	sum.Failures, sum.FailureExamples = e.failures(t.Malformed)
	sum.Generator = e.generator
	if e.atLoadEnd != nil {
		if secs := e.loadTime.Seconds(); secs > 0 {
			sum.RegisterRatePerS = float64(e.atLoadEnd.Requests) / secs // the load's, not the drain's un-REGISTERs
		}
		if !e.o.LeaveBindings { // no un-REGISTER was meant to be sent
			sum.Drain = metrics.NewDrainSummary(t, e.atLoadEnd, e.drainTime.Seconds(), e.drainLeft())
		}
	}
	if e.registeredAll > 0 {
		v := e.registeredAll.Seconds()
		sum.TimeToAllRegisterS = &v
	}
	e.timeMu.Lock()
	sum.Timeline = e.timeline
	e.timeMu.Unlock()
	return &Result{Summary: sum, Totals: t, Groups: groupTotals, InFlight: inFlight, Started: e.started}
}

// atEnd is the run as it was when its load ended, for the summary: the
// drain's figures are what came after.
type atEnd struct {
	loadTime        time.Duration
	atLoadEnd       *metrics.Totals // every lane's counts then: the drain's are the rest
	drainTime       time.Duration
	registeredAtEnd map[*groupRun]int64
	targetsAtEnd    map[string]int64 // NAPs registered per target, at the end of the load
	process         *metrics.Process // the tester at the end of the load
	registeredAll   time.Duration    // when every NAP meant was first registered
}

// rampCheck is what the generator's self-check reads: the host's CPU
// when the load began, and the paced first REGISTERs (how many, the
// first's and the last's send time); generator is its verdict at the end
// of the load.
type rampCheck struct {
	cpuAtStart          metrics.CPUTimes
	rampSent            int64
	rampFirst, rampLast time.Duration
	generator           *metrics.GeneratorSummary
}

// selfCheck is the generator's verdict on the load that ends now: did
// regstorm offer the rate asked, fire its timers on time, read every
// answer, with CPU to spare on the host (metrics.Generator's thresholds).
func (e *Engine) selfCheck(now time.Duration) *metrics.GeneratorSummary {
	var offered *float64
	if e.rampSent > 1 && e.rampLast > e.rampFirst {
		v := float64(e.rampSent-1) / (e.rampLast - e.rampFirst).Seconds()
		offered = &v
	}
	var asked float64
	if e.rampSent > 1 {
		asked = e.o.Rate // the whole run's ramp rate, this process's share of it
		if e.o.ShardN > 1 {
			asked /= float64(e.o.ShardN)
		}
	}
	lag := metrics.NewHistogram()
	var drops, refused int64
	for _, l := range e.lanesNow() {
		l.mu.Lock()
		lag.Merge(l.rec.RefreshError)
		drops += l.socketDrops()
		refused += l.udpLosses()
		l.mu.Unlock()
	}
	g := metrics.GeneratorSummary{RateOfferedPerS: offered, TimerLagMS: metrics.PercentilesOf(lag), SocketDrops: drops,
		SendFailures: refused, CPU: e.o.HostCPU().BusySince(e.cpuAtStart)}
	if asked > 0 {
		g.RateAskedPerS = &asked
	}
	g = metrics.DefaultThresholds().Judge(g, e.rampLast-e.rampFirst)
	return &g
}

// drainLeft is what the drain left undone when the run ended.
func (e *Engine) drainLeft() metrics.DrainAtEnd {
	d := metrics.DrainAtEnd{Failed: map[string]int64{}}
	now := e.clock.Now()
	var until time.Duration
	for _, l := range e.lanesNow() {
		l.mu.Lock()
		until = max(until, l.drainLeft(now, d.Failed))
		l.mu.Unlock()
	}
	if until > 0 {
		d.LeftUntil = e.wallClock(until)
	}
	return d
}

// failures explains what went wrong: each kind of failure with its count
// and a few NAPs it happened to (user, group, index); malformed messages,
// which name no NAP, by count. Also the one-example map the human summary
// used first.
func (e *Engine) failures(malformed int64) (map[string]*metrics.Failure, map[string]string) {
	out := map[string]*metrics.Failure{}
	var reg sipwire.Register
	for _, l := range e.lanesNow() {
		l.mu.Lock()
		for key, lf := range l.fails {
			name := strconv.Itoa(key)
			switch key {
			case failTimeout:
				name = "timeout"
			case failConnect:
				name = "connect-failed"
			case failAuth:
				name = "auth-refused"
			case failConnLost:
				name = "connection-lost"
			case failNoBinding:
				name = "no-binding"
			}
			f := out[name]
			if f == nil {
				f = &metrics.Failure{}
				out[name] = f
			}
			f.Count += lf.n
			for _, i := range lf.examples {
				if len(f.Examples) == maxExamples {
					break
				}
				l.dir.Identity(i, &reg)
				f.Examples = append(f.Examples, metrics.NAPRef{User: string(reg.User), Group: l.co.g.name, Index: l.co.groupIndex(l.idx, i)})
			}
		}
		l.mu.Unlock()
	}
	if malformed > 0 {
		out["malformed"] = &metrics.Failure{Count: malformed}
	}
	if len(out) == 0 {
		return nil, nil
	}
	one := map[string]string{}
	for name, f := range out {
		if len(f.Examples) > 0 {
			one[name] = f.Examples[0].User
		}
	}
	return out, one
}

// Census counts the NAPs by state.
type Census struct {
	Idle          int64 `json:"idle"` // not started (yet), or register false
	Connecting    int64 `json:"connecting"`
	Trying        int64 `json:"trying"` // a REGISTER in flight
	Registered    int64 `json:"registered"`
	RetryWait     int64 `json:"retry_wait"` // refused, timed out or connect failed: waiting --retry
	Unregistering int64 `json:"unregistering"`
	Stopped       int64 `json:"stopped"`
}

// Total is every NAP counted.
func (c Census) Total() int64 {
	return c.Idle + c.Connecting + c.Trying + c.Registered + c.RetryWait + c.Unregistering + c.Stopped
}

func (c Census) String() string {
	return fmt.Sprintf("registered %d, trying %d, waiting to retry %d, connecting %d, un-registering %d, idle %d, stopped %d (of %d NAPs)",
		c.Registered, c.Trying, c.RetryWait, c.Connecting, c.Unregistering, c.Idle, c.Stopped, c.Total())
}

// add counts one lane's NAPs (its lock held).
func (c *Census) add(l *lane) {
	for i := range l.d.NAPs {
		switch l.d.NAPs[i].State {
		case nap.Idle:
			c.Idle++
		case nap.Connecting:
			c.Connecting++
		case nap.Trying, nap.Proceeding:
			c.Trying++
		case nap.Registered:
			c.Registered++
		case nap.RetryWait, nap.ConnectWait:
			c.RetryWait++
		case nap.Unregistering:
			c.Unregistering++
		case nap.Stopped:
			c.Stopped++
		}
	}
}

// lanesNow is every lane so far, for a goroutine that is not the loop.
func (e *Engine) lanesNow() []*lane {
	e.lanesMu.Lock()
	defer e.lanesMu.Unlock()
	return e.lanes
}

// Census counts the NAPs by state now, from any goroutine (SIGUSR1).
func (e *Engine) Census() Census {
	var c Census
	for _, l := range e.lanesNow() {
		l.mu.Lock()
		c.add(l)
		l.mu.Unlock()
	}
	return c
}

// Failures are the run's failures so far, from any goroutine (SIGUSR1).
func (e *Engine) Failures() map[string]*metrics.Failure {
	var malformed int64
	for _, l := range e.lanesNow() {
		l.mu.Lock()
		malformed += l.rec.Malformed
		l.mu.Unlock()
	}
	f, _ := e.failures(malformed)
	return f
}
