package profiles

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var known = []string{"target", "transport", "naps", "rate", "duration", "expires", "user-pattern", "password", "sockets", "quiet"}

func TestReadyProfilesLoad(t *testing.T) {
	names := Names()
	if len(names) != 4 {
		t.Fatalf("ready profiles: %v", names)
	}
	for _, n := range names {
		p, err := Load(n, known)
		if err != nil || len(p.Settings) == 0 || p.File {
			t.Errorf("%s: %v %v", n, p, err)
		}
	}
	p, _ := Load("kamailio-udp-auth", known)
	s := p.Settings
	if s[0].Key != "target" || s[0].Value != "sip:127.0.0.1:5090" || s[0].Line != 3 {
		t.Errorf("%+v", s[0])
	}
}

func TestErrorsNameFileLineAndKey(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"naps: 10\nnapz: 5\n":       `:2: unknown key "napz"`,
		"naps: 10\nnaps: 5\n":       `:2: key "naps" given twice`,
		"naps: [1, 2]\n":            `:1: key "naps": want a single value`,
		"- naps\n":                  `a profile is a mapping`,
		"naps: 10\n  bad: indent\n": `p.yaml:2: mapping values are not allowed in this context`,
		// yaml.v3's parser says these one line early.
		"naps: 5\ngroups:\n  - {name: a, naps: 5\n  - {name: b}\n": `p.yaml:3: did not find expected ',' or '}' (a { … } not closed, or a comma missing)`,
		"naps: 5\nrate: 10\nreboots: [{at: 5m}\n":                  `p.yaml:3: did not find expected ',' or ']'`,
		"naps: 5\n- x\n":       `p.yaml:2: did not find expected key`,
		"naps: \"5\nrate: 3\n": `p.yaml:3: found unexpected end of stream`,
	}
	for body, want := range cases {
		f := filepath.Join(dir, "p.yaml")
		os.WriteFile(f, []byte(body), 0o644)
		if _, err := Load(f, known); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
	if _, err := Load("no-such-profile", known); err == nil || !strings.Contains(err.Error(), "soak-100k") {
		t.Errorf("unknown name: %v", err)
	}
}

func TestGroups(t *testing.T) {
	f := filepath.Join(t.TempDir(), "g.yaml")
	os.WriteFile(f, []byte(`target: sip:127.0.0.1:5060
expires: 3600
groups:
  - {name: trunk-a, naps: 100, user-pattern: "a%04d"}
  - name: trunk-b
    naps: 50
    expires: 600
  - {name: spare, naps: 10, register: false}
`), 0o644)
	p, err := Load(f, known)
	if err != nil {
		t.Fatal(err)
	}
	if !p.File || len(p.Settings) != 2 || len(p.Groups) != 3 {
		t.Fatalf("%+v", p)
	}
	b := p.Groups[1]
	if b.Name != "trunk-b" || b.Line != 5 || len(b.Settings) != 2 || b.Settings[1] != (Setting{Key: "expires", Value: "600", Line: 7}) {
		t.Errorf("trunk-b: %+v", b)
	}
	if s := p.Groups[2].Settings; s[1].Key != "register" || s[1].Value != "false" {
		t.Errorf("spare: %+v", s)
	}
}

func TestGroupErrorsNameFileAndLine(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"groups:\n  - {naps: 1}\n":                         `:2: a group needs a name`,
		"groups:\n  - {name: a}\n  - {name: a}\n":          `:3: group name "a" already used at line 2`,
		"groups:\n  - {name: a, duration: 5s}\n":           `:2: unknown key "duration"`,
		"groups: 5\n":                                      `:1: groups: want a list`,
		"groups:\n  - name: a\n    naps: [1]\n":            `:3: key "naps": want a single value`,
		"groups:\n  - {name: a}\ngroups:\n  - {name: b}\n": `:3: key "groups" given twice`,
		"groups:\n  - just-a-string\n":                     `:2: a group is a mapping`,
	}
	for body, want := range cases {
		f := filepath.Join(dir, "p.yaml")
		os.WriteFile(f, []byte(body), 0o644)
		if _, err := Load(f, known); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}

// stages as a list of steps, reboots as a list of events: read with each
// entry's line; the string form of stages stays a setting.
func TestStagesAndRebootsLists(t *testing.T) {
	f := filepath.Join(t.TempDir(), "s.yaml")
	os.WriteFile(f, []byte(`naps: 10
stages:
  - {duration: 30s, naps: 1000, rate: 200}
  - duration: 1m
    naps: 5000
  - {duration: 30s, naps: 0}
reboots:
  - {at: 5m, fraction: 0.5, group: trunk-a}
  - {at: 8m}
`), 0o644)
	p, err := Load(f, append(known, "stages"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Stage{{30 * time.Second, 1000, 200, 3}, {time.Minute, 5000, 0, 4}, {30 * time.Second, 0, 0, 6}}
	if fmt.Sprint(p.Stages) != fmt.Sprint(want) {
		t.Errorf("stages %v, want %v", p.Stages, want)
	}
	if wr := []Reboot{{5 * time.Minute, 0.5, "trunk-a", 8}, {8 * time.Minute, 1, "", 9}}; fmt.Sprint(p.Reboots) != fmt.Sprint(wr) {
		t.Errorf("reboots %v, want %v", p.Reboots, wr)
	}
	if len(p.Settings) != 1 || p.Settings[0].Key != "naps" {
		t.Errorf("settings %v", p.Settings)
	}
	os.WriteFile(f, []byte("stages: 30s:1000:200,1m:5000\n"), 0o644)
	if p, err := Load(f, append(known, "stages")); err != nil || len(p.Stages) != 0 || len(p.Settings) != 1 || p.Settings[0].Value != "30s:1000:200,1m:5000" {
		t.Errorf("the string form: %+v %v", p, err)
	}
}

func TestStagesAndRebootsErrorsNameFileAndLine(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"stages: []\n":                                     `:1: stages: want a list of entries such as {duration: 30s`,
		"stages:\n  - 30s:100\n":                           `:2: stages: an entry is a mapping`,
		"stages:\n  - {duration: 30s}\n":                   `:2: stages: an entry needs naps`,
		"stages:\n  - {naps: 3}\n":                         `:2: stages: an entry needs duration`,
		"stages:\n  - {duration: 30s, naps: 1, ramp: 2}\n": `:2: unknown key "ramp" (keys here: duration, naps, rate)`,
		"stages:\n  - {duration: 30s, naps: 1}\n  - {duration: 0s, naps: 1}\n":    `:3: stages: duration "0s": want a positive duration`,
		"stages:\n  - {duration: 30s, naps: 1}\n  - duration: 1m\n    naps: -1\n": `:4: stages: naps "-1": want a number of NAPs`,
		"stages:\n  - {duration: 30s, naps: 1, rate: fast}\n":                     `:2: stages: rate "fast": want NAPs a second`,
		"stages:\n  - {duration: 30s, naps: 1, rate: -1}\n":                       `:2: stages: rate "-1"`,
		"stages:\n  - {duration: 30s, naps: [1]}\n":                               `:2: key "naps": want a single value`,
		"stages: 1s:1\nstages:\n  - {duration: 1s, naps: 1}\n":                    `:2: key "stages" given twice`,
		"reboots: 5m\n":                                    `:1: reboots: want a list of entries such as {at: 5m`,
		"reboots:\n  - {fraction: 0.5}\n":                  `:2: reboots: an entry needs at`,
		"reboots:\n  - {at: soon}\n":                       `:2: reboots: at "soon": want a positive time`,
		"reboots:\n  - {at: -5m}\n":                        `:2: reboots: at "-5m"`,
		"reboots:\n  - {at: 5m, fraction: 0}\n":            `:2: reboots: fraction "0": want more than 0, at most 1`,
		"reboots:\n  - {at: 5m, fraction: 1.5}\n":          `:2: reboots: fraction "1.5"`,
		"reboots:\n  - {at: 5m, fraction: NaN}\n":          `:2: reboots: fraction "NaN"`,
		"reboots:\n  - {at: 5m, group: \"\"}\n":            `:2: reboots: group "": want a group's name`,
		"reboots:\n  - {at: 5m, naps: 3}\n":                `:2: unknown key "naps" (keys here: at, fraction, group)`,
		"reboots:\n  - {at: 5m}\nreboots:\n  - {at: 6m}\n": `:3: key "reboots" given twice`,
	}
	for body, want := range cases {
		f := filepath.Join(dir, "p.yaml")
		os.WriteFile(f, []byte(body), 0o644)
		if _, err := Load(f, append(known, "stages")); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}
