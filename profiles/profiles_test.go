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
		s, err := Load(n, known)
		if err != nil || len(s) == 0 {
			t.Errorf("%s: %v %v", n, s, err)
		}
	}
	s, _ := Load("kamailio-udp-auth", known)
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
