// Package runspec builds a run's settings once from where they come from,
// in this order of precedence (docs/behaviour.md): what the user typed
// (flags and REGSTORM_* variables), a profile group's own keys, the
// profile's top-level keys, then the flags' defaults. The command line is
// parsed once; a profile's keys are parsed once per layer (the top level,
// each group) by the same flag values the command line uses, and a reload
// builds its layers again from the profile read anew.
package runspec

import (
	"flag"
	"time"

	"github.com/regstorm/regstorm/profiles"
)

// Values are settings by flag name. A parsed command line is one
// (*cli.Context has these methods); a profile's layer is another.
// A getter gives the type's zero value for a name it does not know.
type Values interface {
	// IsSet tells whether the source set name, rather than leaving it
	// at its default.
	IsSet(name string) bool
	String(name string) string
	Int(name string) int
	Float64(name string) float64
	Bool(name string) bool
	Duration(name string) time.Duration
	// Value is the flag's value as its flag.Getter gives it, e.g. the
	// int64 of a value in seconds.
	Value(name string) any
}

// Layered is the merge: Typed (the command line, whose unset flags give
// the defaults) wins, then each layer in order, the most specific first.
type Layered struct {
	Typed  Values
	Layers []Values
}

// Merge layers the profile's values under what the user typed.
func Merge(typed Values, layers ...Values) Layered {
	return Layered{Typed: typed, Layers: layers}
}

// from is the source that decides name.
func (l Layered) from(name string) Values {
	if l.Typed.IsSet(name) {
		return l.Typed
	}
	for _, v := range l.Layers {
		if v != nil && v.IsSet(name) {
			return v
		}
	}
	return l.Typed
}

// IsSet: the user or a layer set name.
func (l Layered) IsSet(name string) bool {
	if l.Typed.IsSet(name) {
		return true
	}
	for _, v := range l.Layers {
		if v != nil && v.IsSet(name) {
			return true
		}
	}
	return false
}

func (l Layered) String(name string) string          { return l.from(name).String(name) }
func (l Layered) Int(name string) int                { return l.from(name).Int(name) }
func (l Layered) Float64(name string) float64        { return l.from(name).Float64(name) }
func (l Layered) Bool(name string) bool              { return l.from(name).Bool(name) }
func (l Layered) Duration(name string) time.Duration { return l.from(name).Duration(name) }
func (l Layered) Value(name string) any              { return l.from(name).Value(name) }

// Layer is one level of a profile (its top-level keys, or a group's),
// parsed into a flag set made by the run's flags.
type Layer struct{ fs *flag.FlagSet }

// Skip tells which of a profile's keys a layer leaves out: "register",
// which is not a flag, and those the user typed (they win, and a bad
// value the user overrode is no error).
type Skip func(key string) bool

// NewLayer parses settings with the flags that define adds to a flag set
// (each of the run's flags' Apply). A value that does not parse is
// refused through bad, with the setting (its line) and the flag's error.
func NewLayer(define func(*flag.FlagSet) error, settings []profiles.Setting, skip Skip,
	bad func(st profiles.Setting, err error) error) (*Layer, error) {
	fs := flag.NewFlagSet("profile", flag.ContinueOnError)
	if err := define(fs); err != nil {
		return nil, err
	}
	for _, st := range settings {
		if skip != nil && skip(st.Key) {
			continue
		}
		if err := fs.Set(st.Key, st.Value); err != nil {
			return nil, bad(st, err)
		}
	}
	return &Layer{fs: fs}, nil
}

// IsSet: the layer has the key.
func (l *Layer) IsSet(name string) bool {
	set := false
	l.fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// Value is the flag's value, nil for a name the layer does not know.
func (l *Layer) Value(name string) any {
	f := l.fs.Lookup(name)
	if f == nil {
		return nil
	}
	if g, ok := f.Value.(flag.Getter); ok {
		return g.Get()
	}
	return nil
}

func (l *Layer) String(name string) string          { v, _ := l.Value(name).(string); return v }
func (l *Layer) Int(name string) int                { v, _ := l.Value(name).(int); return v }
func (l *Layer) Float64(name string) float64        { v, _ := l.Value(name).(float64); return v }
func (l *Layer) Bool(name string) bool              { v, _ := l.Value(name).(bool); return v }
func (l *Layer) Duration(name string) time.Duration { v, _ := l.Value(name).(time.Duration); return v }
