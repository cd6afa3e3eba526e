package runspec

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/profiles"
	"github.com/regstorm/regstorm/sipwire"
)

// source is a spec's source: a command line and a profile file's text.
func source(t *testing.T, yaml string, args ...string) Source {
	t.Helper()
	src := Source{Typed: line(t, args...), Define: runFlags,
		Explain: func(key, value string, err error) string { return err.Error() }}
	if yaml == "" {
		return src
	}
	var known []string
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	_ = runFlags(fs)
	fs.VisitAll(func(f *flag.Flag) { known = append(known, f.Name) })
	file := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := profiles.Load(file, known)
	if err != nil {
		t.Fatal(err)
	}
	src.Profile = p
	return src
}

// Each group is complete: its keys over the top-level ones, under what
// the user typed; the command line is not parsed again per group.
func TestBuildGroups(t *testing.T) {
	s, err := Build(source(t, `
target: 192.0.2.7
transport: tcp
expires: 300
groups:
  - {name: a, naps: 3, expires: 120}
  - {name: b, naps: 4, transport: udp, register: false}
`, "--expires", "900"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Plan(); err != nil {
		t.Fatal(err)
	}
	gs := s.Groups()
	if len(gs) != 2 {
		t.Fatalf("%d groups", len(gs))
	}
	a, b := gs[0], gs[1]
	if a.Name != "a" || a.NAPs != 3 || a.NAP.Expires != 900 || a.NAP.Transport != sipwire.TCP || !a.Register || a.Target != "192.0.2.7:5060" {
		t.Errorf("a: %+v", a)
	}
	if b.Name != "b" || b.NAPs != 4 || b.NAP.Transport != sipwire.UDP || b.Register {
		t.Errorf("b: %+v", b)
	}
	if o := s.Options(); len(o.Groups) != 2 || o.Groups[0].NAP.Expires != 900 || o.Groups[1].Name != "b" {
		t.Errorf("options: %d groups %+v", len(o.Groups), o.Groups)
	}
}

// A group's own rate is its own; the others share the run's; a --rate
// typed wins everywhere.
func TestBuildGroupRate(t *testing.T) {
	const yaml = `
target: 192.0.2.7
rate: 100
groups:
  - {name: a, naps: 3, rate: 40}
  - {name: b, naps: 4}
`
	s, err := Build(source(t, yaml))
	if err != nil {
		t.Fatal(err)
	}
	if gs := s.Groups(); gs[0].Rate != 40 || gs[1].Rate != 0 || s.Options().Rate != 100 {
		t.Errorf("rates: a %v, b %v, run %v (want 40, 0: sharing the run's, 100)", gs[0].Rate, gs[1].Rate, s.Options().Rate)
	}
	s, err = Build(source(t, yaml, "--rate", "500"))
	if err != nil {
		t.Fatal(err)
	}
	if gs := s.Groups(); gs[0].Rate != 0 || s.Options().Rate != 500 {
		t.Errorf("with --rate 500: a %v, run %v", gs[0].Rate, s.Options().Rate)
	}
}

// Without a profile's groups, the top level is the one group, "default".
func TestBuildDefaultGroup(t *testing.T) {
	s, err := Build(source(t, "", "--naps", "5"))
	if err != nil {
		t.Fatal(err)
	}
	if gs := s.Groups(); len(gs) != 1 || gs[0].Name != "default" || gs[0].NAPs != 5 || !gs[0].Register {
		t.Errorf("%+v", gs)
	}
}

// A group's refusal names the profile's file, line and group; a bad
// value, its line; a value the user overrode is no error.
func TestBuildRefusals(t *testing.T) {
	_, err := Build(source(t, "groups:\n  - {name: a, naps: 1}\n  - {name: b, naps: 0}\n"))
	if err == nil || !strings.Contains(err.Error(), `p.yaml:3: group "b": --naps 0: must be at least 1`) {
		t.Errorf("group b: %v", err)
	}
	_, err = Build(source(t, "t1: soon\n"))
	if err == nil || !strings.Contains(err.Error(), `p.yaml:1: t1: "soon" is not a valid value`) {
		t.Errorf("t1: %v", err)
	}
	if _, err := Build(source(t, "t1: soon\n", "--t1", "1s")); err != nil {
		t.Errorf("t1 typed over a bad value: %v", err)
	}
	_, err = Build(source(t, "register: maybe\n"))
	if err == nil || !strings.Contains(err.Error(), `register: "maybe": want true or false`) {
		t.Errorf("register: %v", err)
	}
}

// The spec holds the run's steps: the profile's stages and reboots,
// checked against its groups and its length; a typed --reboot-at wins.
func TestBuildSteps(t *testing.T) {
	const yaml = `
groups:
  - {name: a, naps: 2}
stages:
  - {duration: 2s, naps: 4, rate: 10}
  - {duration: 1s, naps: 1}
reboots:
  - {at: 1s, fraction: 0.5, group: a}
`
	s, err := Build(source(t, yaml))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Stages) != 2 || s.Stages[0] != (Stage{2 * time.Second, 4, 10}) || len(s.Reboots.Times) != 1 || s.Reboots.Times[0].Req.Group != "a" {
		t.Errorf("stages %+v, reboots %+v", s.Stages, s.Reboots)
	}
	_, err = Build(source(t, yaml, "--reboot-at", "5s"))
	if err == nil || !strings.Contains(err.Error(), "--reboot-at: 5s is not before the end of the load, at 3s (the stages' total)") {
		t.Errorf("--reboot-at past the stages: %v", err)
	}
	_, err = Build(source(t, strings.Replace(yaml, "group: a", "group: b", 1)))
	if err == nil || !strings.Contains(err.Error(), `reboots: no group "b" (groups: a)`) {
		t.Errorf("a reboot of no group: %v", err)
	}
}
