package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/netsim"
	"github.com/regstorm/regstorm/registrar"
)

// byGroup counts reg's bindings at now by user prefix (the group), and
// the highest CSeq and the latest expiry seen for each.
func byGroup(reg *registrar.Registrar, now time.Time) (n map[string]int, cseq map[string]uint32, expires map[string]time.Duration) {
	n, cseq, expires = map[string]int{}, map[string]uint32{}, map[string]time.Duration{}
	for _, b := range reg.Loc.All(now) {
		user, _, _ := strings.Cut(strings.TrimPrefix(b.Contact, "sip:"), "@")
		g := strings.TrimRight(user, "0123456789")
		n[g]++
		cseq[g] = max(cseq[g], b.CSeq)
		expires[g] = max(expires[g], b.Expires.Sub(now))
	}
	return
}

// The seed's "apply a new configuration", end to end: regstorm runs a
// profile with groups; the profile is rewritten (one group removed, one
// added, one set register: false, one's expires changed) and SIGHUP sent.
// In the registrar's own view: the removed and disabled NAPs' bindings
// are gone at once (un-REGISTERed, not expired), the added ones are bound
// at once, the new expires comes with those NAPs' next REGISTER, and the
// untouched NAPs sent nothing extra. Then a broken profile and SIGHUP: an
// error naming file and line, the run unchanged, the summary counting it.
// In simulated time, each SIGHUP at its time exactly (a real process's
// SIGHUP reloading is TestSIGHUPKeepsExpiresJitter's).
func TestSIGHUPAppliesTheProfileAgain(t *testing.T) {
	t.Parallel()
	const target = "127.0.0.1:5070"
	w := newSimWorld(target)
	reg := w.net.Registrar(target)
	now := func() time.Time { return netsim.Epoch.Add(w.net.Now()) }
	dir := t.TempDir()
	prof, sum := filepath.Join(dir, "p.yaml"), filepath.Join(dir, "s.json")
	write := func(body string) {
		if err := os.WriteFile(prof, []byte(body), 0o644); err != nil {
			t.Error(err)
		}
	}
	write(`expires: 3600
groups:
  - {name: keep, naps: 3, user-pattern: "keep%d"}
  - {name: gone, naps: 2, user-pattern: "gone%d"}
  - {name: spare, naps: 2, user-pattern: "spare%d"}
  - {name: slow, naps: 2, user-pattern: "slow%d", expires: 4}
`)
	var before map[string]uint32
	checks := 0 // the checks in simulated time that ran
	w.net.At(3*time.Second, func() {
		checks++
		var n map[string]int
		n, before, _ = byGroup(reg, now())
		if len(reg.Loc.All(now())) != 9 || n["gone"] != 2 {
			t.Errorf("not registered at 3 s: bindings by group %v", n)
		}
		write(`expires: 3600
groups:
  - {name: keep, naps: 3, user-pattern: "keep%d"}
  - {name: spare, naps: 2, user-pattern: "spare%d", register: false}
  - {name: slow, naps: 2, user-pattern: "slow%d", expires: 30}
  - {name: fresh, naps: 2, user-pattern: "fresh%d"}
`)
	})
	w.hup(3 * time.Second)
	// One round trip (20 ms) on: the un-REGISTERs and the new REGISTERs
	// answered.
	w.net.At(3*time.Second+25*time.Millisecond, func() {
		checks++
		if n, _, _ := byGroup(reg, now()); n["gone"] != 0 || n["spare"] != 0 || n["fresh"] != 2 {
			t.Errorf("a round trip after SIGHUP: bindings by group %v (want gone 0, spare 0, fresh 2)", n)
		}
	})
	// slow refreshes every 2 s (expires 4): its next REGISTER asks for 30 s.
	w.net.At(5*time.Second+100*time.Millisecond, func() {
		checks++
		n, cseq, exp := byGroup(reg, now())
		if exp["slow"] <= 20*time.Second {
			t.Errorf("slow's binding expires in %v, want the new 30 s after its next REGISTER", exp["slow"])
		}
		if n["keep"] != 3 || cseq["keep"] != before["keep"] {
			t.Errorf("keep: %d bindings, CSeq %d (was %d): an untouched NAP sent something", n["keep"], cseq["keep"], before["keep"])
		}
		// A broken profile: refused with file and line, nothing changes.
		write("groups:\n  - {name: keep, naps: 3}\n  - {name: keep, naps: 1}\n")
	})
	w.hup(5*time.Second + 100*time.Millisecond)
	w.net.At(6*time.Second, func() {
		checks++
		if n := len(reg.Loc.All(now())); n != 7 {
			t.Errorf("%d bindings after the refused profile, want 7 (keep 3, slow 2, fresh 2)", n)
		}
	})
	code, _, errb := w.run(t, time.Minute, "--target", "sip:"+target, "--profile", prof, "--summary", sum, "--drain", "5s", "--duration", "7s")
	if code != 0 || checks != 4 {
		t.Fatalf("exit %d, %d of 4 checks run: %s", code, checks, errb)
	}
	if !strings.Contains(errb.String(), "reload:") {
		t.Errorf("no progress line says a reload happened: %s", errb)
	}
	if !strings.Contains(errb.String(), "p.yaml:3:") {
		t.Errorf("no error naming the file and line: %s", errb)
	}
	if n := w.net.Bindings(target); n != 0 {
		t.Errorf("%d bindings left after the drain", n)
	}
	b, err := os.ReadFile(sum)
	if err != nil {
		t.Fatal(err)
	}
	var s metrics.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.Reloads.Applied != 1 || s.Reloads.Refused != 1 || len(s.Reloads.Changes) != 1 || !strings.Contains(s.Reloads.Changes[0], "gone removed") {
		t.Errorf("reloads %+v", s.Reloads)
	}
	if g := s.Groups["gone"]; g == nil || !g.Removed || g.Unregistered != 2 {
		t.Errorf("removed group in the summary: %+v", g)
	}
	if s.NAPs != 7 || s.Registered != 7 {
		t.Errorf("naps %d registered %d, want 7 and 7 (keep, slow, fresh)", s.NAPs, s.Registered)
	}
	var reqs int64
	for _, g := range s.Groups {
		reqs += g.Requests
	}
	if reqs != s.Requests {
		t.Errorf("groups' requests add up to %d, total %d", reqs, s.Requests)
	}
}

// SIGHUP without a profile file to read again changes nothing and says so.
func TestSIGHUPWithoutProfile(t *testing.T) {
	t.Parallel()
	srv := startRegistrar(t, registrar.Config{})
	cmd, errb := startProcess(t, "--target", "sip:"+srv.Addr, "--naps", "5", "--quiet")
	if !waitFor(10*time.Second, func() bool { return bindings(srv) == 5 }) {
		t.Fatalf("not registered: %s", errb)
	}
	_ = cmd.Process.Signal(syscall.SIGHUP)
	if !waitFor(2*time.Second, func() bool { return strings.Contains(errb.String(), "no --profile file") }) {
		t.Errorf("SIGHUP without a profile: %q", errb)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if code, ok := waitExit(cmd, 20*time.Second); !ok || code != 0 || bindings(srv) != 0 {
		t.Fatalf("exit %d, %d bindings left: %s", code, bindings(srv), errb)
	}
}

// SIGUSR1 during a run against a silent registrar: one line with the
// census (the NAPs trying or waiting to retry, adding up to the NAPs) and
// the failures so far.
func TestSIGUSR1PrintsTheCensus(t *testing.T) {
	t.Parallel()
	srv := startRegistrar(t, registrar.Config{Silent: true})
	cmd, errb := startProcess(t, "--target", "sip:"+srv.Addr, "--naps", "100", "--drain", "1s",
		"--t1", "10ms", "--t2", "80ms", "--timer-f", "640ms", "--retry", "100ms")
	if !waitFor(5*time.Second, func() bool { return strings.Contains(errb.String(), "registered 0/100") }) {
		t.Fatalf("not started: %q", errb)
	}
	// Ask until the first Timer F (640 ms) has passed: some NAPs timed out.
	var line string
	if !waitFor(5*time.Second, func() bool {
		n := strings.Count(errb.String(), "SIGUSR1:")
		_ = cmd.Process.Signal(syscall.SIGUSR1)
		waitFor(time.Second, func() bool { return strings.Count(errb.String(), "SIGUSR1:") > n })
		out := errb.String()
		line = out[strings.LastIndex(out, "SIGUSR1:"):]
		line = line[:strings.IndexByte(line, '\n')+1]
		return strings.Contains(line, "timeouts ")
	}) {
		t.Fatalf("no census with timeouts: %q", errb)
	}
	var reg, trying, retry, conn, unreg, idle, stopped, total int
	if _, err := fmt.Sscanf(line[len("SIGUSR1: "):], "registered %d, trying %d, waiting to retry %d, connecting %d, un-registering %d, idle %d, stopped %d (of %d NAPs)",
		&reg, &trying, &retry, &conn, &unreg, &idle, &stopped, &total); err != nil {
		t.Fatalf("census line %q: %v", line, err)
	}
	if total != 100 || trying+retry != 100 || reg != 0 {
		t.Errorf("census %q: want the 100 NAPs trying or waiting to retry", line)
	}
	if !strings.Contains(line, "timeouts ") {
		t.Errorf("census %q: want the timeouts so far", line)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if code, ok := waitExit(cmd, 20*time.Second); !ok {
		t.Fatalf("exit %d: %s", code, errb)
	}
}

// A reload that changes expires keeps each NAP's --expires-jitter (each
// asks for the new expires less its own jitter, not exactly the new
// value), and one that changes only the jitter is a change, said as such.
//
// The command passes the new expires-jitter to the engine (each group's
// NAP config); the engine drops it: engine/group.go softChanges does not
// compare ExpiresJitter, and engine/reload.go resize sets each NAP's
// Expires to the new value itself. With both fixed (nap.Machine exporting
// the per-NAP value for resize) this passes; until then it fails, and is
// skipped.
func TestSIGHUPKeepsExpiresJitter(t *testing.T) {
	t.Parallel()

	srv := startRegistrar(t, registrar.Config{})
	prof := filepath.Join(t.TempDir(), "p.yaml")
	write := func(body string) {
		if err := os.WriteFile(prof, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("naps: 40\nexpires: 4\n")
	cmd, errb := startProcess(t, "--target", "sip:"+srv.Addr, "--profile", prof)
	if !waitFor(10*time.Second, func() bool { return bindings(srv) == 40 }) {
		t.Fatalf("not registered: %d bindings; %s", bindings(srv), errb)
	}
	write("naps: 40\nexpires: 60\nexpires-jitter: 30\n")
	_ = cmd.Process.Signal(syscall.SIGHUP)
	// Each NAP refreshes within 2 s (expires 4): then asks for 30..60 s.
	spread := func() (lo, hi time.Duration) {
		now := time.Now()
		lo = time.Hour
		for _, b := range srv.Reg.Loc.All(now) {
			lo, hi = min(lo, b.Expires.Sub(now)), max(hi, b.Expires.Sub(now))
		}
		return
	}
	if !waitFor(5*time.Second, func() bool { lo, _ := spread(); return lo > 20*time.Second }) {
		lo, hi := spread()
		t.Fatalf("after the reload the bindings expire in %v..%v, want each refreshed for 30..60 s; %s", lo, hi, errb)
	}
	if lo, hi := spread(); hi-lo < 10*time.Second {
		t.Errorf("the 40 NAPs' bindings expire in %v..%v: the jitter (0..30 s each) was dropped", lo, hi)
	}
	if !waitFor(2*time.Second, func() bool { return strings.Contains(errb.String(), "expires-jitter 0→30") }) {
		t.Errorf("the reload does not say the jitter changed: %s", errb)
	}
	// The jitter alone.
	write("naps: 40\nexpires: 60\nexpires-jitter: 10\n")
	_ = cmd.Process.Signal(syscall.SIGHUP)
	if !waitFor(3*time.Second, func() bool { return strings.Contains(errb.String(), "expires-jitter 30→10") }) {
		t.Errorf("a reload of the jitter alone: %s", errb)
	}
	if strings.Contains(errb.String(), "nothing changed") {
		t.Errorf("a reload said nothing changed: %s", errb)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if code, ok := waitExit(cmd, 20*time.Second); !ok || code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
}
