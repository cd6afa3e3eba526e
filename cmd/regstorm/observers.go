package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"sync/atomic"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/report"
)

// The run's observers: each takes the engine's snapshots (once a second
// and a final one) on the engine's observer goroutine.

// progressObserver prints a line a second: on a terminal it rewrites one
// line, otherwise it appends. A new configuration gets a line of its own
// saying what it changed.
type progressObserver struct {
	w     io.Writer
	tty   bool
	lines int // printed so far
}

// Needs: p50 and p99 of the transactions, and where the NAPs are.
func (p *progressObserver) Needs() engine.Needs { return engine.NeedHistograms | engine.NeedCensus }

func (p *progressObserver) Observe(s *engine.Snapshot) {
	for _, r := range s.Reloads {
		p.print(fmt.Sprintf("%6.1fs reload: %s", s.Elapsed.Seconds(), r), true)
	}
	if s.Final {
		if p.tty && p.lines > 0 {
			fmt.Fprintln(p.w)
		}
		return
	}
	line := report.ProgressLine(s.Elapsed, s.Totals, s.NAPs, s.Rate)
	if c := s.Census; c != nil && c.Trying+c.RetryWait+c.Connecting+c.Unregistering > 0 {
		// Where the NAPs not registered are, when some are on the way.
		var parts []string
		for _, st := range []struct {
			name string
			n    int64
		}{{"trying", c.Trying}, {"retry-wait", c.RetryWait}, {"connecting", c.Connecting}, {"unregistering", c.Unregistering}} {
			if st.n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", st.name, st.n))
			}
		}
		line += "  (" + strings.Join(parts, ", ") + ")"
	}
	if s.Drain {
		line += "  (draining)"
	}
	if len(s.Groups) > 1 {
		var gs []string
		for _, g := range s.Groups {
			if g.Removed {
				continue
			}
			gs = append(gs, fmt.Sprintf("%s %d/%d", g.Name, g.Totals.Registered, g.NAPs))
		}
		line += "  [" + strings.Join(gs, ", ") + "]"
	}
	p.print(line, false)
}

// print writes a line; keep leaves it standing on a terminal.
func (p *progressObserver) print(line string, keep bool) {
	p.lines++
	switch {
	case !p.tty:
		fmt.Fprintln(p.w, line)
	case keep:
		fmt.Fprintf(p.w, "\r\x1b[K%s\n", line)
	default:
		fmt.Fprintf(p.w, "\r\x1b[K%s", line)
	}
}

// hlogObserver writes each snapshot's interval to the .hlog.
type hlogObserver struct {
	hl *metrics.Hlog
}

func (h *hlogObserver) Needs() engine.Needs { return engine.NeedInterval }

func (h *hlogObserver) Observe(s *engine.Snapshot) {
	_ = h.hl.Interval(s.Interval, s.IntervalFrom, s.At)
}

// promObserver keeps the latest snapshot for Prometheus scrapes.
type promObserver struct {
	last      atomic.Pointer[metrics.View]
	trialRate atomic.Uint64 // a capacity search's current trial's rate (float64 bits)
}

func (p *promObserver) Needs() engine.Needs { return engine.NeedHistograms }

func (p *promObserver) Observe(s *engine.Snapshot) {
	v := &metrics.View{Events: s.Events, Churn: s.Churn, Started: s.At.Add(-s.Elapsed)}
	for _, g := range s.Groups {
		v.Groups = append(v.Groups, metrics.GroupView{Name: g.Name, NAPs: g.NAPs, Totals: g.Totals})
	}
	if s.Totals != nil { // the current stage's latency: the run's less its start
		v.Stages = metrics.StageViews(s.Stages, s.StageBase, s.Totals.Transaction)
	}
	p.last.Store(v)
}

func (p *promObserver) view() *metrics.View {
	v := p.last.Load()
	if r := math.Float64frombits(p.trialRate.Load()); r > 0 {
		c := metrics.View{}
		if v != nil {
			c = *v
		}
		c.TrialRate = r
		v = &c
	}
	return v
}
