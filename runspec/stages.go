package runspec

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/regstorm/regstorm/profiles"
)

// Stages, as k6 has them (the run command runs them): a list of steps,
// each holding the population at a number of NAPs (reached at the step's
// rate) for a duration.

// Stage is one step of the population.
type Stage struct {
	Duration time.Duration
	NAPs     int
	Rate     float64 // 0: the run's --rate (or the window)
}

// ParseStages reads "30s:1000:200,1m:5000,30s:0": duration:naps[:rate]
// steps.
func ParseStages(s string) ([]Stage, error) {
	var out []Stage
	for _, step := range strings.Split(s, ",") {
		parts := strings.Split(strings.TrimSpace(step), ":")
		if len(parts) < 2 || len(parts) > 3 {
			return nil, usagef("--stages %q: a step is duration:naps[:rate], e.g. 30s:1000:200", s)
		}
		d, err := time.ParseDuration(parts[0])
		if err != nil || d <= 0 {
			hint := ""
			if err != nil {
				hint = ": " + DurationWant(parts[0])
			}
			return nil, usagef("--stages %q: %q is not a positive duration%s", s, parts[0], hint)
		}
		n, err := strconv.Atoi(parts[1])
		if err != nil || n < 0 {
			return nil, usagef("--stages %q: %q is not a number of NAPs", s, parts[1])
		}
		st := Stage{Duration: d, NAPs: n}
		if len(parts) == 3 {
			if st.Rate, err = strconv.ParseFloat(parts[2], 64); err != nil || st.Rate < 0 || math.IsInf(st.Rate, 0) || math.IsNaN(st.Rate) {
				return nil, usagef("--stages %q: %q is not a rate", s, parts[2])
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// stagesOf is the run's stages: s, the --stages string (typed, or the
// profile's string form), else the profile's stages list.
func stagesOf(s string, p *profiles.Profile, typed map[string]bool) ([]Stage, error) {
	if s != "" {
		st, err := ParseStages(s)
		if ue, ok := err.(UsageError); ok && !typed["stages"] {
			if where := origin(p, "stages", typed); where != "--stages" {
				return nil, usagef("%s: %s", where, ue.Msg)
			}
		}
		return st, err
	}
	if p == nil {
		return nil, nil
	}
	var out []Stage
	for _, ps := range p.Stages {
		out = append(out, Stage{Duration: ps.Duration, NAPs: ps.NAPs, Rate: ps.Rate})
	}
	return out, nil
}
