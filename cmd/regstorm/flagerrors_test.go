package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A time flag takes a Go duration, and a value that does not parse is
// said as written, --flag VALUE, with an example; --expires (and the
// profile's expires) take integer seconds or a duration.
func TestFlagValuesSaidAsWrittenWithAnExample(t *testing.T) {
	dir := t.TempDir()
	prof := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(prof, []byte("naps: 5\nduration: 10\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"--duration", "10"}, "", "regstorm: --duration 10: a duration needs a unit, e.g. 10s or 5m\n"},
		{[]string{"run", "--duration=1.5"}, "", "--duration 1.5: a duration needs a unit, e.g. 1.5s or 5m"},
		{[]string{"--keepalive-interval", "soon"}, "", "--keepalive-interval soon: not a duration: want a number and a unit, e.g. 90s, 5m or 1h30m"},
		{[]string{"--naps", "1"}, "REGSTORM_DURATION=10", "REGSTORM_DURATION=10 (--duration): a duration needs a unit, e.g. 10s or 5m"},
		{[]string{"--expires", "soon"}, "", "--expires soon: want seconds, e.g. 3600, or a duration, e.g. 1h or 90m"},
		{[]string{"--expires", "1500ms"}, "", "--expires 1500ms: 1.5s is not whole seconds"},
		{[]string{"--expires-jitter", "x"}, "", "--expires-jitter x: want seconds"},
		{[]string{"--naps", "many"}, "", "--naps many: want a whole number"},
		{[]string{"--rate", "fast"}, "", "--rate fast: want a number"},
		{[]string{"--udp-gso=maybe"}, "", "--udp-gso maybe: want true or false"},
		{[]string{"--duration"}, "", "--duration needs a value"},
		{[]string{"--reboot-at", "10", "--duration", "20s"}, "", `"10" is not a positive time since the start (a list such as 5m,7m30s): a duration needs a unit, e.g. 10s or 5m`},
		{[]string{"--stages", "10:100"}, "", `"10" is not a positive duration: a duration needs a unit`},
		{[]string{"--profile", prof}, "", `p.yaml:2: duration: "10" is not a valid value: a duration needs a unit, e.g. 10s or 5m`},
		{[]string{"registrar", "--delay", "5"}, "", "--delay 5: a duration needs a unit, e.g. 5s or 5m"},
		{[]string{"registrar", "--min-expires", "soon"}, "", "--min-expires soon: want seconds"},
		{[]string{"registrar", "--min-expires", "2m", "--max-expires", "1m"}, "", "--min-expires 120 is above --max-expires 60"},
		{[]string{"merge", "--shards", "x", "a.hlog"}, "", "--shards x: want a whole number"},
	} {
		if c.env != "" {
			k, v, _ := strings.Cut(c.env, "=")
			t.Setenv(k, v)
		}
		var out, errb bytes.Buffer
		code := run(append([]string{"regstorm"}, c.args...), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v %s: exit %d, %q (want 2 and %q)", c.args, c.env, code, errb.String(), c.want)
		}
		if c.env != "" {
			k, _, _ := strings.Cut(c.env, "=")
			os.Unsetenv(k)
		}
	}
}

// --expires 1h is 3600 s, as the profile's expires: 1h is.
func TestExpiresTakesADuration(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prof := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(prof, []byte("expires: 1h30m\nexpires-jitter: 5m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for args, want := range map[string][2]uint32{
		"--expires 1h":                          {3600, 0},
		"--expires 600 --expires-jitter 1m":     {600, 60},
		"--profile " + prof:                     {5400, 300},
		"--profile " + prof + " --expires 7200": {7200, 300},
	} {
		rc, err := loadConfig(append([]string{"regstorm", "--naps", "1"}, strings.Fields(args)...))
		if err != nil {
			t.Errorf("%s: %v", args, err)
			continue
		}
		if n := rc.opts.Groups[0].NAP; n.Expires != want[0] || n.ExpiresJitter != want[1] {
			t.Errorf("%s: expires %d, jitter %d (want %v)", args, n.Expires, n.ExpiresJitter, want)
		}
	}
	// The help shows the default as seconds.
	var out, errb bytes.Buffer
	run([]string{"regstorm", "--help"}, &out, &errb)
	if !strings.Contains(out.String(), "(default: 3600)") {
		t.Errorf("--help: no (default: 3600) for --expires")
	}
}
