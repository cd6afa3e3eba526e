package profiles

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		"naps: 10\n  bad: indent\n": `yaml`,
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
