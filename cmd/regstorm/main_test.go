package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUsageErrorsExit2NamingTheFlag(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "users.csv")
	os.WriteFile(bad, []byte("SEQUENTIAL\nnap1;example.com;pw\n# comment\nbad user;x;y\n"), 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--naps", "0"}, "--naps"},
		{[]string{"--transport", "sctp"}, "--transport"},
		{[]string{"--target", "sip:[::1"}, "--target"},
		{[]string{"--target", "sip:host:99999"}, "--target"},
		{[]string{"--sockets", "many"}, "--sockets"},
		{[]string{"--users", filepath.Join(dir, "missing.csv")}, "--users"},
		{[]string{"--users", bad}, "users.csv:4"},
		{[]string{"--user-pattern", "nap%s"}, "--user-pattern"},
		{[]string{"--local-ip", "127.0.0.300"}, "--local-ip"},
		{[]string{"--shard", "2/2"}, "--shard"},
		{[]string{"--naps", "ten"}, "naps"},
		{[]string{"--no-such-flag"}, "no-such-flag"},
		{[]string{"registrar", "--reject", "503"}, "--reject"},
		{[]string{"registrar", "--expires-style", "both"}, "--expires-style"},
		{[]string{"registrar", "--drop", "1.5"}, "--drop"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := run(append([]string{"regstorm"}, c.args...), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q (want 2 and %q)", c.args, code, errb.String(), c.want)
		}
	}
}

func TestPasswordNeverPrinted(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"regstorm", "--password", "s3cr%t-%q", "--naps", "1"}, &out, &errb)
	if code != 2 || strings.Contains(errb.String(), "s3cr") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}

// The default command against the embedded registrar, as the README shows.
func TestDefaultRunWritesTheSummary(t *testing.T) {
	t.Setenv("REGSTORM_NAPS", "300") // every flag is also an env var
	var out, errb bytes.Buffer
	code := run([]string{"regstorm", "--duration", "1s", "--quiet", "--summary", "-"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var s map[string]any
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatalf("stdout is not the JSON summary: %v\n%s", err, out.String())
	}
	for _, k := range []string{"naps", "registered", "unregistered", "transport", "duration_s", "requests", "retransmissions",
		"timeouts", "auth_challenges", "responses", "latency_ms", "register_rate_per_s", "thresholds_failed"} {
		if _, ok := s[k]; !ok {
			t.Errorf("summary lacks %q", k)
		}
	}
	lat := s["latency_ms"].(map[string]any)
	for _, k := range []string{"p50", "p90", "p99", "p999", "max", "count"} {
		if _, ok := lat[k]; !ok {
			t.Errorf("latency_ms lacks %q", k)
		}
	}
	if s["naps"].(float64) != 300 || s["registered"].(float64) != 300 || s["unregistered"].(float64) != 300 {
		t.Errorf("naps %v registered %v unregistered %v", s["naps"], s["registered"], s["unregistered"])
	}
	if errb.Len() != 0 {
		t.Errorf("--quiet printed %q", errb.String())
	}
}

func TestProfileAppliedAndOverridden(t *testing.T) {
	dir := t.TempDir()
	prof := filepath.Join(dir, "p.yaml")
	os.WriteFile(prof, []byte("naps: 250\nduration: 1s\nquiet: true\nexpires: 600\n"), 0o644)
	var out, errb bytes.Buffer
	// --naps on the command line wins over the profile's 250.
	code := run([]string{"regstorm", "--profile", prof, "--naps", "120", "--summary", "-"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var s map[string]any
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if s["naps"].(float64) != 120 || s["registered"].(float64) != 120 {
		t.Errorf("naps %v registered %v", s["naps"], s["registered"])
	}
	if errb.Len() != 0 {
		t.Errorf("the profile's quiet: true was not applied: %q", errb.String())
	}
	for body, want := range map[string]string{
		"naps: 10\nnapz: 3\n": `unknown key "napz"`,
		"naps: lots\n":        `line 1: naps: "lots" is not a valid value`,
		"transport: sctp\n":   `--transport "sctp"`,
	} {
		os.WriteFile(prof, []byte(body), 0o644)
		errb.Reset()
		if code := run([]string{"regstorm", "--profile", prof}, &out, &errb); code != 2 || !strings.Contains(errb.String(), want) {
			t.Errorf("%q: exit %d, %q (want 2 and %q)", body, code, errb.String(), want)
		}
	}
}
