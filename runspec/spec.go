package runspec

import (
	"errors"
	"flag"
	"strconv"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/profiles"
)

// Source is what a spec is built from.
type Source struct {
	// Typed is what the user typed (flags and REGSTORM_* variables),
	// parsed once; its unset flags give the defaults.
	Typed   Values
	Profile *profiles.Profile // nil: none
	// Define adds the run's flags to a flag set: a profile's values are
	// parsed as the command line's are.
	Define func(*flag.FlagSet) error
	// Explain says why a profile's value is not one for its flag.
	Explain func(key, value string, err error) string
}

// Spec is a run's settings, read and checked once: the run-wide options
// (the top level's) and its groups, each complete but for what Plan
// finds. A reload builds a new one the same way.
type Spec struct {
	// Top is the top level's values (what the user typed over the
	// profile's top-level keys): the run's own settings, outputs, stages
	// and reboots, are read from it.
	Top Layered
	// The run's reboots on purpose and its stages.
	Reboots Reboots
	Stages  []Stage
	top     *Level
	groups  []*Level // the profile's groups; none: the top level is the group "default"
	src     Source
	where   []string // a group's place in the profile, for its refusals
}

// Build reads the top level, then each of the profile's groups (its own
// keys over the top-level ones). A refusal is a usage error naming the
// flag, or the profile's file and line.
func Build(src Source) (*Spec, error) {
	s := &Spec{src: src}
	p := src.Profile
	var top Values
	if p != nil {
		l, err := s.layer(p.Settings)
		if err != nil {
			return nil, err
		}
		top = l
	}
	s.Top = merge(src.Typed, top)
	var err error
	if s.top, err = ReadLevel(s.Top); err != nil {
		return nil, err
	}
	if s.top.Group.Register, err = registerOf(p, nil); err != nil {
		return nil, err
	}
	s.top.Group.Name = "default"
	if p != nil {
		for k := range p.Groups {
			l, err := s.group(top, &p.Groups[k])
			if err != nil {
				return nil, err
			}
			s.groups = append(s.groups, l)
		}
	}
	return s, s.readSteps()
}

// readSteps reads the run's reboots and stages, and checks the reboots
// against the groups and the length of the run. A key the user typed
// (flag or variable) wins over the profile's list.
func (s *Spec) readSteps() error {
	p := s.src.Profile
	typed := typedKeys(s.src.Typed, "reboot-at", "reboot-fraction", "reboot-group", "stages")
	var err error
	if s.Reboots, err = loadReboot(s.Top, p, typed); err != nil {
		return err
	}
	if s.Stages, err = stagesOf(s.Top.String("stages"), p, typed); err != nil {
		return err
	}
	return s.checkReboots(origin(p, "reboot-group", typed))
}

// group reads one of the profile's groups.
func (s *Spec) group(top Values, pg *profiles.Group) (*Level, error) {
	p := s.src.Profile
	own, err := s.layer(pg.Settings)
	if err != nil {
		return nil, err
	}
	c := merge(s.src.Typed, own, top)
	where := "--profile " + p.Source + ":" + strconv.Itoa(pg.Line) + ": group " + strconv.Quote(pg.Name) + ": "
	l, err := ReadLevel(c)
	if err != nil {
		return nil, inGroup(where, err)
	}
	if l.Group.Register, err = registerOf(p, pg); err != nil {
		return nil, err
	}
	l.Group.Name = pg.Name
	for _, st := range pg.Settings {
		// A group's own rate is its own (unless --rate was typed: that wins
		// everywhere); without one the group shares the run's.
		if st.Key == "rate" && !s.src.Typed.IsSet("rate") {
			l.Group.Rate = own.Float64("rate")
		}
	}
	s.where = append(s.where, where)
	return l, nil
}

// inGroup says a group's refusal with its place in the profile.
func inGroup(where string, err error) error {
	var ue UsageError
	if errors.As(err, &ue) {
		return UsageError{Msg: where + ue.Msg}
	}
	return UsageError{Msg: where + err.Error()}
}

// layer parses a level of the profile with the run's flags, but for the
// keys the user typed (they win) and "register", which is not a flag.
func (s *Spec) layer(settings []profiles.Setting) (*Layer, error) {
	p := s.src.Profile
	skip := func(key string) bool { return key == "register" || s.src.Typed.IsSet(key) }
	bad := func(st profiles.Setting, err error) error {
		return usagef("--profile %s:%d: %s: %q is not a valid value: %s", p.Source, st.Line, st.Key, st.Value,
			s.src.Explain(st.Key, st.Value, err))
	}
	return NewLayer(s.src.Define, settings, skip, bad)
}

// merge is typed over the layers that are there (nil: none).
func merge(typed Values, layers ...Values) Layered {
	var ls []Values
	for _, l := range layers {
		if l != nil {
			ls = append(ls, l)
		}
	}
	return Merge(typed, ls...)
}

// registerOf is a group's "register" key, else the profile's, else true.
func registerOf(p *profiles.Profile, g *profiles.Group) (bool, error) {
	if p == nil {
		return true, nil
	}
	layers := [][]profiles.Setting{p.Settings}
	if g != nil {
		layers = [][]profiles.Setting{g.Settings, p.Settings}
	}
	for _, layer := range layers {
		for _, st := range layer {
			if st.Key == "register" {
				v, err := strconv.ParseBool(st.Value)
				if err != nil {
					return false, usagef("--profile %s:%d: register: %q: want true or false", p.Source, st.Line, st.Value)
				}
				return v, nil
			}
		}
	}
	return true, nil
}

// Plan does each level's I/O (Level.Plan): the top level's, then each
// group's. A group's refusal names it; a resolver that does not answer
// is a *DNSUnavailable for the top level only (a group's is refused).
func (s *Spec) Plan() error {
	if err := s.top.Plan(); err != nil {
		return err
	}
	for k, l := range s.groups {
		if err := l.Plan(); err != nil {
			return inGroup(s.where[k], err)
		}
	}
	return nil
}

// Groups are the run's groups as they stand (planned, once Plan has
// run): the profile's, else the top level's one.
func (s *Spec) Groups() []engine.Group {
	if len(s.groups) == 0 {
		return []engine.Group{s.top.Group}
	}
	out := make([]engine.Group, 0, len(s.groups))
	for _, l := range s.groups {
		out = append(out, l.Group)
	}
	return out
}

// Options are the engine's options: the run-wide settings and the
// groups.
func (s *Spec) Options() engine.Options {
	o := s.top.Run
	o.Groups = s.Groups()
	return o
}
