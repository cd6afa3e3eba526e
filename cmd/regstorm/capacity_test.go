package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/capacity"
	"github.com/regstorm/regstorm/registrar"
)

// A search without a target, or in a mode that does not exist, or with
// search settings that do not hold (refresh mode: a population smaller
// than a confirmation, bindings that would refresh on their own within
// the search), is refused before anything starts.
func TestCapacityBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"regstorm", "capacity"}, "--target"},
		{[]string{"regstorm", "capacity", "--target", "sip:127.0.0.1:9", "--mode", "renew"}, "--mode renew"},
		{[]string{"regstorm", "capacity", "--target", "sip:127.0.0.1:9", "--mode", "refresh", "--naps", "1000"}, "--naps 1000 is fewer bindings"},
		{[]string{"regstorm", "capacity", "--target", "sip:127.0.0.1:9", "--mode", "refresh", "--expires", "600"}, "--expires 600 would make"},
		{[]string{"regstorm", "capacity", "--target", "sip:127.0.0.1:9", "--mode", "refresh", "--fill-rate", "0"}, "--fill-rate 0"},
		{[]string{"regstorm", "capacity", "--target", "sip:127.0.0.1:9", "--start-rate", "0"}, "start rate"},
		{[]string{"regstorm", "capacity", "--target", "sip:127.0.0.1:9", "--transport", "carrier-pigeon"}, "--transport"},
	} {
		var out, errb bytes.Buffer
		if code := run(c.args, &out, &errb); code != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, %q (want 2 naming %s)", c.args, code, errb.String(), c.want)
		}
	}
}

// The run's flags read a search's command line without the subcommand
// and the search's own flags, values included.
func TestRunArgsOfACapacitySearch(t *testing.T) {
	got := strings.Join(runArgsOf([]string{"regstorm", "capacity", "--target", "sip:h", "--mode", "register", "--max-time=5m",
		"--run-failing-trials", "--transport", "tcp", "--trial-duration", "5s", "--unregister", "--fill-rate", "900"}), " ")
	if got != "regstorm --target sip:h --transport tcp" {
		t.Errorf("%s", got)
	}
}

// A process started by a test that shares its host with other work (the
// test binary as regstorm, REGSTORM_TEST_GENERATOR_CHECK=rate-only)
// leaves out the generator checks that the host's other loads trip (its
// CPUs busy, the timer lag they cause): the rate offered and the drops
// stay checked. The checks themselves are capacity's unit tests'.
func init() {
	if os.Getenv("REGSTORM_TEST_EXEC") == "1" && os.Getenv("REGSTORM_TEST_GENERATOR_CHECK") == "rate-only" {
		capacityDefaults = func() capacity.Params {
			p := capacity.DefaultParams()
			p.Generator.MaxCPUBusy, p.Generator.MaxTimerLagP99, p.Generator.MaxTimerLagMax = 0, 0, 0
			return p
		}
	}
}

// A shard needs a schedule (a search cannot be split), a common start
// and a file for the merge, and gates nothing itself; a schedule's rates
// must rise, leave time between steps and fit in --max-time.
func TestCapacityScheduleBadInput(t *testing.T) {
	at := time.Now().Add(time.Minute).UTC().Format(time.RFC3339)
	base := []string{"regstorm", "capacity", "--target", "sip:127.0.0.1:9"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--shard", "0/2", "--start-at", at}, "--shard: a search needs"},
		{[]string{"--shard", "0/2", "--rates", "1000,2000", "--summary", "s.json"}, "--shard needs --start-at"},
		{[]string{"--start-at", at}, "--start-at: a search does not wait"},
		{[]string{"--rates", "1000,fast"}, `--rates "1000,fast"`},
		{[]string{"--rates", "2000,1000"}, "--rates: rate 1000 after 2000"},
		{[]string{"--rates", "1000", "--settle", "500ms"}, "--rates: settle 500ms"},
		{[]string{"--rates", "100,200,300,400,500,600"}, "--rates: the schedule lasts"},
		{[]string{"--shard", "1/2", "--rates", "1000", "--start-at", at, "--summary", "s.json", "--fail-on", "capacity<900"}, "--fail-on"},
		{[]string{"--shard", "1/2", "--rates", "1000", "--start-at", at}, "--summary"},
	} {
		var out, errb bytes.Buffer
		args := append(append([]string{}, base...), c.args...)
		if code := run(args, &out, &errb); code != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, %q (want 2 naming %s)", c.args, code, errb.String(), c.want)
		}
	}
}

// A capacity merge takes a schedule's shards only: a run's summary or
// .hlog among them, or a search's result, is refused naming the file.
func TestMergeCapacityRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	shard := write("shard-0.json", `{"capacity":{"mode":"register","transport":"udp","trials":[],"schedule":{"rates_per_s":[1000],"start_at":"2026-12-07T04:00:00Z","shard":{"k":0,"n":2}}}}`)
	search := write("search.json", `{"capacity":{"mode":"register","transport":"udp","trials":[]}}`)
	summary := write("run.json", `{"naps":10,"registered":10}`)
	hlog := write("run.hlog", "#[regstorm: transaction latency]\n")
	for _, c := range []struct {
		files []string
		want  string
	}{
		{[]string{shard, summary}, "run.json is not a capacity --summary"},
		{[]string{hlog, shard}, "run.hlog is not a capacity --summary"},
		{[]string{search}, "search.json is not a shard's schedule"},
		{[]string{shard}, "shard 1 of 2 missing"},
	} {
		var out, errb bytes.Buffer
		if code := run(append([]string{"regstorm", "merge"}, c.files...), &out, &errb); code != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, %q (want 2 and %q)", c.files, code, errb.String(), c.want)
		}
	}
}

// Two shard processes run a schedule of two 1-second steps against a
// registrar capped at 500 requests a second (a burst of 100, so that a
// stall of the loaded host up to 0.3 s trips nothing): each offers
// half of each rate, on AoRs of its own, both switching at the same
// instants; merged, 300/s passes and 1 000/s fails with 503, as one
// process's schedule would say.
func TestCapacityScheduleAcrossTwoProcesses(t *testing.T) {
	srv := startRegistrar(t, registrar.Config{MaxRate: 500, MaxBurst: 100})
	dir := t.TempDir()
	start := time.Now().Add(time.Second).Truncate(time.Millisecond)
	t.Setenv("REGSTORM_TEST_GENERATOR_CHECK", "rate-only") // other tests and builds share the host's CPUs
	var files []string
	var cmds []*exec.Cmd
	var errs []*syncBuffer
	for k := range 2 {
		f := filepath.Join(dir, fmt.Sprintf("shard-%d.json", k))
		cmd, errb := startProcess(t, "capacity", "--target", "sip:"+srv.Addr, "--rates", "300,1000",
			"--confirm-size", "0", "--confirm-duration", "1s", "--settle", "1s", "--max-time", "10s",
			"--shard", fmt.Sprintf("%d/2", k), "--start-at", start.Format(time.RFC3339Nano), "--summary", f)
		files, cmds, errs = append(files, f), append(cmds, cmd), append(errs, errb)
	}
	for k, cmd := range cmds {
		if code, ok := waitExit(cmd, 15*time.Second); code != 0 || !ok {
			t.Fatalf("shard %d: exit %d: %s", k, code, errs[k].String())
		}
		if !strings.Contains(errs[k].String(), fmt.Sprintf("shard %d/2 done", k)) {
			t.Errorf("shard %d said %q", k, errs[k].String())
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"regstorm", "merge", files[0], files[1], "--summary", "-"}, &out, &errb); code != 0 {
		t.Fatalf("merge: exit %d: %s", code, errb.String())
	}
	var doc struct{ Capacity capacity.Result }
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	c := doc.Capacity
	if c.RatePerS != 300 || !c.Confirmed || c.LimitedBy != capacity.LimitedByRegistrar || c.AtLeast || len(c.Trials) != 2 ||
		c.Schedule == nil || c.Schedule.Shards != 2 {
		t.Fatalf("merged: %s\n%s", errb.String(), out.String())
	}
	if !strings.HasPrefix(errb.String(), "Registration Rate: 300/s over UDP without auth, zero failures in a confirmation of 300 registrations; 1 000/s failed: 503 from") {
		t.Errorf("sentence %q", errb.String())
	}
	one, two := c.Trials[0], c.Trials[1]
	if one.Outcome != capacity.OutcomePass || one.Attempts != 300 || one.Successes != 300 ||
		two.Outcome != capacity.OutcomeFail || two.Failures["503"] == 0 || two.Attempts > 1000 {
		t.Errorf("steps: %+v\n%+v", one, two)
	}
	// Each step began at its fixed time in both shards: the second 2 s
	// (1 s of step, 1 s of pause) after the first.
	for i, tr := range c.Trials {
		due := start.Add(time.Duration(i) * 2 * time.Second)
		if d := tr.StartedAt.Sub(due); d < 0 || d > 100*time.Millisecond {
			t.Errorf("step %d began %v after its time", i+1, d)
		}
	}
	if sp := c.Schedule.StartSpreadMS; sp == nil || *sp > 100 {
		t.Errorf("the shards began a step %v ms apart", sp)
	}
	// The merge gates on the rate found, as a search does.
	var gated bytes.Buffer
	if code := run([]string{"regstorm", "merge", files[0], files[1], "--summary", filepath.Join(dir, "m.json"), "--fail-on", "capacity<400"},
		&bytes.Buffer{}, &gated); code != 1 || !strings.Contains(gated.String(), "--fail-on crossed: capacity") {
		t.Errorf("--fail-on capacity<400: exit %d, %q", code, gated.String())
	}
	// Every registration that passed holds a binding of its own AoR: the
	// shards' AoRs were disjoint, and fresh from one step to the next.
	if _, aors := srv.Reg.Loc.Count(time.Now()); int64(aors) != one.Successes+two.Successes {
		t.Errorf("%d AoRs held, %d registrations passed", aors, one.Successes+two.Successes)
	}
}
