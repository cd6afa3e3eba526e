package runspec

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/profiles"
)

// Reboots on purpose (the avalanche restart): at each time of --reboot-at
// (or of the profile's reboots list), and on each SIGUSR2, a share of the
// NAPs (of a group, or of all) register from scratch at once.

// TimedReboot is one reboot of the plan.
type TimedReboot struct {
	At    time.Duration // since the start of the run
	Req   engine.RebootReq
	Where string // what asked for it, for a refusal: "--reboot-at", "--profile p.yaml:8: reboots"
	Why   string // and for the line that says it happened: "--reboot-at 2s"
}

// Reboots are the run's reboots on purpose.
type Reboots struct {
	Times []TimedReboot    // in order
	Req   engine.RebootReq // SIGUSR2's: --reboot-fraction of --reboot-group
}

// loadReboot reads --reboot-at (a list of times, each with
// --reboot-fraction and --reboot-group) or else the profile's reboots
// list. typed says that the user gave --reboot-at (flag or variable): it
// wins over the profile's list; the profile may not hold both keys. The
// order of the times, the end of the run and the groups are checked once
// the whole configuration is known (checkReboots).
func loadReboot(c Values, p *profiles.Profile, typed map[string]bool) (Reboots, error) {
	pl := Reboots{Req: engine.RebootReq{Fraction: c.Float64("reboot-fraction"), Group: c.String("reboot-group")}}
	if f := pl.Req.Fraction; math.IsNaN(f) || f <= 0 || f > 1 {
		return pl, usagef("%s %v: want more than 0, at most 1", origin(p, "reboot-fraction", typed), f)
	}
	s := c.String("reboot-at")
	listed := p != nil && len(p.Reboots) > 0
	if s != "" && listed && !typed["reboot-at"] {
		return pl, usagef("%s: and reboots at line %d: give one of them (each reboots entry has its own fraction and group)",
			origin(p, "reboot-at", typed), p.Lines["reboots"])
	}
	if s == "" || (listed && !typed["reboot-at"]) {
		if listed {
			for _, r := range p.Reboots {
				where := fmt.Sprintf("--profile %s:%d: reboots", p.Source, r.Line)
				pl.Times = append(pl.Times, TimedReboot{At: r.At, Req: engine.RebootReq{Fraction: r.Fraction, Group: r.Group},
					Where: where, Why: fmt.Sprintf("reboots: at %v (%s:%d)", r.At, p.Source, r.Line)})
			}
		}
		return pl, nil
	}
	where := origin(p, "reboot-at", typed)
	times, err := parseRebootAt(s, where)
	if err != nil {
		return pl, err
	}
	for k, at := range times {
		why := fmt.Sprintf("--reboot-at %v", at)
		if len(times) > 1 {
			why += fmt.Sprintf(" (%d of %d)", k+1, len(times))
		}
		pl.Times = append(pl.Times, TimedReboot{At: at, Req: pl.Req, Where: where, Why: why})
	}
	return pl, nil
}

// parseRebootAt reads "5m" or "5m,7m30s,9m": times since the start. "0"
// alone (the flag's default once) means none.
func parseRebootAt(s, where string) ([]time.Duration, error) {
	if d, err := time.ParseDuration(strings.TrimSpace(s)); err == nil && d == 0 {
		return nil, nil
	}
	var out []time.Duration
	for _, part := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d <= 0 {
			hint := ""
			if err != nil {
				hint = ": " + DurationWant(part)
			}
			return nil, usagef("%s %q: %q is not a positive time since the start (a list such as 5m,7m30s)%s", where, s, strings.TrimSpace(part), hint)
		}
		out = append(out, d)
	}
	return out, nil
}

// checkReboots refuses, before anything starts, a reboot the run could
// not make: times not each after the one before, a time not before the
// end of the load, a group the configuration does not have.
func (s *Spec) checkReboots(groupOrigin string) error {
	names := map[string]bool{}
	var list []string
	for _, g := range s.Groups() {
		names[g.Name] = true
		list = append(list, g.Name)
	}
	sort.Strings(list)
	noGroup := func(where, g string) error {
		return usagef("%s: no group %q (groups: %s)", where, g, strings.Join(list, ", "))
	}
	if g := s.Reboots.Req.Group; g != "" && !names[g] {
		return noGroup(groupOrigin, g)
	}
	end, endWhy := s.top.Run.Duration, "--duration"
	if end == 0 && len(s.Stages) > 0 {
		for _, st := range s.Stages {
			end += st.Duration
		}
		endWhy = "the stages' total"
	}
	for k, r := range s.Reboots.Times {
		if k > 0 && r.At <= s.Reboots.Times[k-1].At {
			return usagef("%s: %v is not after the reboot before it, at %v (times go in order)", r.Where, r.At, s.Reboots.Times[k-1].At)
		}
		if end > 0 && r.At >= end {
			return usagef("%s: %v is not before the end of the load, at %v (%s)", r.Where, r.At, end, endWhy)
		}
		if g := r.Req.Group; g != "" && !names[g] {
			return noGroup(r.Where, g)
		}
	}
	return nil
}

// origin names where a run setting came from, for a refusal: the flag
// (typed, or a variable: typed), or else the profile's file and line.
func origin(p *profiles.Profile, key string, typed map[string]bool) string {
	if p != nil && !typed[key] {
		for _, s := range p.Settings {
			if s.Key == key {
				return fmt.Sprintf("--profile %s:%d: %s", p.Source, s.Line, key)
			}
		}
	}
	return "--" + key
}

// typedKeys are the keys among keys that the user set, on the command
// line or in a REGSTORM_* variable (before the profile fills the others).
func typedKeys(c Values, keys ...string) map[string]bool {
	t := map[string]bool{}
	for _, k := range keys {
		t[k] = c.IsSet(k)
	}
	return t
}
