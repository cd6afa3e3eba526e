package engine

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/regstorm/regstorm/metrics"
)

// observing is what the snapshots need: when the next is due, the
// requests at the last (for its rate), the channel to the observer
// goroutine, and the timeline it writes.
type observing struct {
	nextSnap   time.Duration
	lastReqs   int64
	lastSnapAt time.Duration
	snaps      chan *Snapshot
	observed   chan struct{}
	timeline   []metrics.TimePoint // written by the observer goroutine
	timeMu     sync.Mutex
}

// Snapshot is the run at one moment, for observers.
type Snapshot struct {
	Elapsed time.Duration // since the start
	Final   bool          // after the drain: the last one
	Drain   bool          // the load is over, NAPs are un-registering
	NAPs    int           // NAPs meant to be registered
	// Totals of the run; their histograms are nil unless an observer
	// needs them (NeedHistograms).
	Totals *metrics.Totals
	Groups []GroupSnapshot
	// Interval holds the transactions since the previous snapshot: the
	// timeline's latency of the second, and the .hlog's interval. Always
	// taken (the timeline reads it); NeedInterval says an observer does too.
	Interval         *hdrhistogram.Histogram
	IntervalFrom, At time.Time
	Rate             float64 // REGISTER/s since the previous snapshot
	Census           *Census // nil unless an observer needs it (NeedCensus)
	// Events: the reboots so far, the one followed with its NAPs back so
	// far; Churn: NAPs taken offline and back so far.
	Events []metrics.Event
	Churn  metrics.ChurnSummary
	// Stages: the stages so far (--stages), the current one last, its
	// figures not yet filled; StageBase: the run's transaction histogram
	// when the current one began (never written again), so that an
	// observer with Totals' histograms reads the current stage's latency
	// as Totals.Transaction less StageBase.
	Stages    []metrics.Stage
	StageBase *hdrhistogram.Histogram
	Reloads   []string // configurations applied or refused since the previous snapshot
}

// GroupSnapshot is one group's share of a snapshot.
type GroupSnapshot struct {
	Name     string
	NAPs     int // meant to be registered
	Register bool
	Removed  bool
	Totals   *metrics.Totals
}

// Observer gets the snapshots of a run, in order, on a goroutine of its
// own (never the loop).
type Observer interface {
	Observe(s *Snapshot)
}

// Needs says what of a snapshot an observer reads. Merging histograms
// costs (each is 190 KB): a snapshot carries them only when an observer
// asks. An Observer without a Needs method gets everything.
type Needs uint8

const (
	NeedHistograms Needs = 1 << iota // Totals' histograms (run and groups)
	NeedInterval                     // Interval
	NeedCensus                       // Census: every NAP's state counted (a scan of them all)
)

type needer interface{ Needs() Needs }

// needs is what the observers read, together.
func (e *Engine) needs() Needs {
	var n Needs
	for _, o := range e.o.Observers {
		if nd, ok := o.(needer); ok {
			n |= nd.Needs()
		} else {
			n |= NeedHistograms | NeedInterval | NeedCensus
		}
	}
	return n
}

// snapshot merges the lanes into a Snapshot for the observers.
func (e *Engine) snapshot(now time.Duration, final bool) {
	needs := e.needs()
	hist := needs&NeedHistograms != 0
	newTotals := metrics.NewCounts
	if hist {
		newTotals = metrics.NewTotals
	}
	s := &Snapshot{Elapsed: now - e.start, Final: final, Drain: e.phase != phaseLoad || final,
		At: e.startedAt.Add(now - e.start), IntervalFrom: e.startedAt.Add(e.lastSnapAt - e.start), Reloads: e.newChanges}
	s.Interval = metrics.NewHistogram() // the timeline's latency of the second, and the .hlog's
	if needs&NeedCensus != 0 {
		s.Census = &Census{}
	}
	e.newChanges = nil
	for _, gr := range e.groups {
		gs := GroupSnapshot{Name: gr.name, Removed: gr.removed, Totals: newTotals()}
		co := gr.live()
		gs.Register = co.spec.Register && !gr.removed
		if gs.Register {
			gs.NAPs = co.mine
			s.NAPs += co.mine
		}
		for _, c := range gr.cohorts {
			for _, l := range c.lanes {
				l.mu.Lock()
				if hist {
					gs.Totals.Add(l.rec)
				} else {
					gs.Totals.AddCounts(l.rec)
				}
				if s.Interval != nil {
					l.rec.TakeInterval(s.Interval)
				}
				if s.Census != nil {
					s.Census.add(l)
				}
				l.mu.Unlock()
			}
		}
		s.Groups = append(s.Groups, gs)
	}
	if len(s.Groups) == 1 {
		s.Totals = s.Groups[0].Totals // one group is the run
	} else {
		s.Totals = newTotals()
		for _, gs := range s.Groups {
			if hist {
				s.Totals.AddTotals(gs.Totals)
			} else {
				s.Totals.AddCountsOf(gs.Totals)
			}
		}
	}
	for _, ev := range e.events {
		s.Events = append(s.Events, *ev)
	}
	if cur := e.event.Load(); cur != nil && len(s.Events) > 0 && !cur.summary.Closed {
		s.Events[len(s.Events)-1].Back = cur.back.Load()
	}
	for _, st := range e.stages {
		s.Stages = append(s.Stages, *st)
	}
	if e.stage != nil {
		s.StageBase = e.stage.latency
	}
	s.Churn = metrics.ChurnSummary{Offline: e.churnSt.offline, Online: e.churnSt.online, Silent: e.o.Churn.Silent}
	if d := now - e.lastSnapAt; d > 0 {
		s.Rate = float64(s.Totals.Requests-e.lastReqs) / d.Seconds()

	}
	e.lastReqs, e.lastSnapAt = s.Totals.Requests, now
	select {
	case e.snaps <- s:
	default:
		if final {
			e.snaps <- s // the final one is never dropped
		}
	}
}

// observe hands snapshots to the observers and keeps the timeline.
func (e *Engine) observe() {
	defer close(e.observed)
	var last metrics.Counts // the previous snapshot's, for the second's counts
	for s := range e.snaps {
		if !s.Drain {
			c := &s.Totals.Counts
			p := metrics.TimePoint{T: s.Elapsed.Seconds(), Registered: s.Totals.Registered, Rate: s.Rate,
				Retransmissions: c.Retransmissions - last.Retransmissions, Timeouts: c.Timeouts - last.Timeouts,
				Failures: c.FailureCount() - last.FailureCount(), Process: metrics.SampleProcess()}
			p.SetLatency(s.Interval)
			last = *c
			e.timeMu.Lock()
			e.timeline = append(e.timeline, p)
			e.timeMu.Unlock()
		}
		for _, o := range e.o.Observers {
			o.Observe(s)
		}
	}
}
