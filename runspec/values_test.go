package runspec

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/profiles"
)

// define is a small run's flags, with their defaults.
func define(fs *flag.FlagSet) error {
	fs.Int("naps", 1000, "")
	fs.String("transport", "udp", "")
	fs.Float64("rate", 0, "")
	fs.Bool("quiet", false, "")
	fs.Duration("t1", 500*time.Millisecond, "")
	return nil
}

// typedLine is a command line parsed once.
func typedLine(t *testing.T, args ...string) *Layer {
	t.Helper()
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	_ = define(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return &Layer{fs: fs}
}

func settings(kv ...string) []profiles.Setting {
	var out []profiles.Setting
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, profiles.Setting{Key: kv[i], Value: kv[i+1], Line: i/2 + 1})
	}
	return out
}

func layer(t *testing.T, typed Values, kv ...string) *Layer {
	t.Helper()
	l, err := NewLayer(define, settings(kv...), func(k string) bool { return k == "register" || typed.IsSet(k) },
		func(st profiles.Setting, err error) error { return fmt.Errorf("line %d: %s: %v", st.Line, st.Key, err) })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// What the user typed > the group's key > the top-level key > the default.
func TestMergePrecedence(t *testing.T) {
	typed := typedLine(t, "--naps", "7")
	top := layer(t, typed, "naps", "100", "transport", "tcp", "rate", "5", "t1", "1s")
	group := layer(t, typed, "naps", "50", "rate", "9", "register", "false")
	v := Merge(typed, group, top)
	if got := v.Int("naps"); got != 7 {
		t.Errorf("naps %d: the typed 7 wins", got)
	}
	if got := v.Float64("rate"); got != 9 {
		t.Errorf("rate %v: the group's 9 wins over the top level's", got)
	}
	if got := v.String("transport"); got != "tcp" {
		t.Errorf("transport %q: the top level's", got)
	}
	if got := v.Duration("t1"); got != time.Second {
		t.Errorf("t1 %v: the top level's", got)
	}
	if got := v.Bool("quiet"); got || v.IsSet("quiet") {
		t.Errorf("quiet %v, set %v: the default, unset", got, v.IsSet("quiet"))
	}
	for _, k := range []string{"naps", "rate", "transport", "t1"} {
		if !v.IsSet(k) {
			t.Errorf("%s: not set", k)
		}
	}
	if typed.IsSet("rate") {
		t.Errorf("the layers changed what the user typed")
	}
	if Merge(typed).Int("naps") != 7 || Merge(typedLine(t)).Int("naps") != 1000 {
		t.Errorf("without layers: the typed value, else the default")
	}
}

// A layer leaves out what the user typed: a bad value there is no error,
// as the user's value wins anyway; elsewhere it is refused with its line.
func TestLayerRefusesBadValues(t *testing.T) {
	typed := typedLine(t, "--naps", "3")
	if _, err := NewLayer(define, settings("naps", "many"), func(k string) bool { return typed.IsSet(k) }, nil); err != nil {
		t.Errorf("a typed key's bad value: %v", err)
	}
	_, err := NewLayer(define, settings("quiet", "true", "t1", "soon"), nil,
		func(st profiles.Setting, err error) error { return fmt.Errorf("line %d: %s: %w", st.Line, st.Key, err) })
	if err == nil || !strings.HasPrefix(err.Error(), "line 2: t1: ") {
		t.Errorf("%v (want the bad t1 at line 2)", err)
	}
	want := errors.New("no flags")
	if _, err := NewLayer(func(*flag.FlagSet) error { return want }, nil, nil, nil); err != want {
		t.Errorf("define's error: %v", err)
	}
}

// A name no flag defines: zero values, never set.
func TestUnknownName(t *testing.T) {
	v := Merge(typedLine(t), layer(t, typedLine(t), "naps", "2"))
	if v.IsSet("nope") || v.String("nope") != "" || v.Int("nope") != 0 || v.Value("nope") != nil {
		t.Errorf("an unknown name has a value")
	}
}
