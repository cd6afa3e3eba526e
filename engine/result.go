package engine

import (
	"strconv"

	"github.com/regstorm/regstorm/metrics"
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
	for _, gr := range e.groups {
		gt, gin := e.totals(gr)
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
	sum.Process = e.process
	sum.Reloads = e.reloads
	inf := inFlight
	sum.InFlight = &inf
	sum.FailureExamples = e.failureExamples()
	if e.registeredAll > 0 {
		v := e.registeredAll.Seconds()
		sum.TimeToAllRegisterS = &v
	}
	e.timeMu.Lock()
	sum.Timeline = e.timeline
	e.timeMu.Unlock()
	return &Result{Summary: sum, Totals: t, InFlight: inFlight}
}

// failureExamples names, for each kind of failure, the user of one NAP it
// happened to (nil when nothing failed).
func (e *Engine) failureExamples() map[string]string {
	var out map[string]string
	var reg sipwire.Register
	for _, l := range e.lanes {
		l.mu.Lock()
		for key, i := range l.examples {
			name := strconv.Itoa(key)
			switch key {
			case exampleTimeout:
				name = "timeout"
			case exampleConnect:
				name = "connect-failed"
			}
			if _, ok := out[name]; ok {
				continue
			}
			if out == nil {
				out = map[string]string{}
			}
			l.dir.Identity(i, &reg)
			out[name] = string(reg.User)
		}
		l.mu.Unlock()
	}
	return out
}
