package main

import (
	"fmt"
	"io"
	"math"
	"time"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/runspec"
)

// Stages, as k6 has them: a list of steps, each holding the population at
// a number of NAPs (reached at the step's rate) for a duration. The
// population grows and shrinks live through the reload machinery: NAPs
// added register, NAPs taken away un-REGISTER. With several groups, each
// keeps its share of the NAPs.

// staged scales the groups to a stage: each keeps its share of the NAPs
// of base (the configuration as written), the last one takes what
// rounding leaves; a stage's rate, if any, is shared the same way.
func staged(base []engine.Group, st runspec.Stage) []engine.Group {
	total := 0
	for _, g := range base {
		total += g.NAPs
	}
	out := append([]engine.Group(nil), base...)
	left := st.NAPs
	for k := range out {
		share := 1.0 / float64(len(out))
		if total > 0 {
			share = float64(base[k].NAPs) / float64(total)
		}
		n := int(math.Round(share * float64(st.NAPs)))
		if k == len(out)-1 || n > left {
			n = left
		}
		out[k].NAPs = n
		left -= n
		if st.Rate > 0 {
			out[k].Rate = share * st.Rate
		}
	}
	return out
}

// runStages applies each stage after the first (begun by the engine with
// the run) at its time in w, one after the other; each one begun is said
// on progress (io.Discard with --quiet), a refused one on stderr.
func runStages(w world, e *engine.Engine, base []engine.Group, stages []runspec.Stage, progress, stderr io.Writer) {
	var next func(k int, at time.Duration)
	next = func(k int, at time.Duration) {
		if k == len(stages) {
			return
		}
		st := stages[k]
		w.at(e, at, func() {
			e.Stage(k+1, st.NAPs) // before the reload: its first REGISTERs are the stage's
			if _, err := e.Reload(staged(base, st)); err != nil {
				fmt.Fprintf(stderr, "regstorm: stage %d (%d NAPs): %v\n", k+1, st.NAPs, err)
			} else {
				fmt.Fprintf(progress, "regstorm: stage %d: %d NAPs for %v\n", k+1, st.NAPs, st.Duration)
			}
			next(k+1, at+st.Duration)
		})
	}
	next(1, stages[0].Duration)
}
