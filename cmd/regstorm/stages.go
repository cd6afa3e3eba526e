package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/profiles"
)

// Stages, as k6 has them: a list of steps, each holding the population at
// a number of NAPs (reached at the step's rate) for a duration. The
// population grows and shrinks live through the reload machinery: NAPs
// added register, NAPs taken away un-REGISTER. With several groups, each
// keeps its share of the NAPs.

type stage struct {
	d    time.Duration
	naps int
	rate float64 // 0: the run's --rate (or the window)
}

// parseStages reads "30s:1000:200,1m:5000,30s:0": duration:naps[:rate]
// steps.
func parseStages(s string) ([]stage, error) {
	var out []stage
	for _, step := range strings.Split(s, ",") {
		parts := strings.Split(strings.TrimSpace(step), ":")
		if len(parts) < 2 || len(parts) > 3 {
			return nil, usagef("--stages %q: a step is duration:naps[:rate], e.g. 30s:1000:200", s)
		}
		d, err := time.ParseDuration(parts[0])
		if err != nil || d <= 0 {
			hint := ""
			if err != nil {
				hint = ": " + durationWant(parts[0])
			}
			return nil, usagef("--stages %q: %q is not a positive duration%s", s, parts[0], hint)
		}
		n, err := strconv.Atoi(parts[1])
		if err != nil || n < 0 {
			return nil, usagef("--stages %q: %q is not a number of NAPs", s, parts[1])
		}
		st := stage{d: d, naps: n}
		if len(parts) == 3 {
			if st.rate, err = strconv.ParseFloat(parts[2], 64); err != nil || st.rate < 0 || math.IsInf(st.rate, 0) || math.IsNaN(st.rate) {
				return nil, usagef("--stages %q: %q is not a rate", s, parts[2])
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// stagesOf is the run's stages: s, the --stages string (typed, or the
// profile's string form), else the profile's stages list.
func stagesOf(s string, p *profiles.Profile, typed map[string]bool) ([]stage, error) {
	if s != "" {
		st, err := parseStages(s)
		if ue, ok := err.(usageError); ok && !typed["stages"] {
			if where := origin(p, "stages", typed); where != "--stages" {
				return nil, usagef("%s: %s", where, ue.Msg)
			}
		}
		return st, err
	}
	if p == nil {
		return nil, nil
	}
	var out []stage
	for _, ps := range p.Stages {
		out = append(out, stage{d: ps.Duration, naps: ps.NAPs, rate: ps.Rate})
	}
	return out, nil
}

// staged scales the groups to a stage: each keeps its share of the NAPs
// of base (the configuration as written), the last one takes what
// rounding leaves; a stage's rate, if any, is shared the same way.
func staged(base []engine.Group, st stage) []engine.Group {
	total := 0
	for _, g := range base {
		total += g.NAPs
	}
	out := append([]engine.Group(nil), base...)
	left := st.naps
	for k := range out {
		share := 1.0 / float64(len(out))
		if total > 0 {
			share = float64(base[k].NAPs) / float64(total)
		}
		n := int(math.Round(share * float64(st.naps)))
		if k == len(out)-1 || n > left {
			n = left
		}
		out[k].NAPs = n
		left -= n
		if st.rate > 0 {
			out[k].Rate = share * st.rate
		}
	}
	return out
}

// runStages applies each stage after the first at its time.
func runStages(e *engine.Engine, base []engine.Group, stages []stage, stderr io.Writer) {
	var at time.Duration
	for k, st := range stages {
		if k == 0 { // begun by the engine with the run
			at += st.d
			continue
		}
		select {
		case <-time.After(time.Until(e.StartedAt().Add(at))):
		case <-e.Done():
			return
		}
		at += st.d
		e.Stage(k+1, st.naps) // before the reload: its first REGISTERs are the stage's
		if _, err := e.Reload(staged(base, st)); err != nil {
			fmt.Fprintf(stderr, "regstorm: stage %d (%d NAPs): %v\n", k+1, st.naps, err)
			continue
		}
		fmt.Fprintf(stderr, "regstorm: stage %d: %d NAPs for %v\n", k+1, st.naps, st.d)
	}
}
