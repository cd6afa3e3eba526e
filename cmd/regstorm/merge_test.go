package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/metrics"
)

// writeShard writes shard k/n's .hlog, as `regstorm run --shard k/n
// --start-at at --hlog` does, its load begun late after at.
func writeShard(t *testing.T, path string, k, n int, at time.Time, late time.Duration) {
	t.Helper()
	var b bytes.Buffer
	l, err := metrics.NewHlog(&b, at)
	if err != nil {
		t.Fatal(err)
	}
	h := metrics.NewHistogram()
	metrics.Latency(h, time.Duration(k+1)*time.Millisecond)
	if err := l.Interval(h, at, at.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	s := &metrics.Summary{NAPs: 10, Registered: 10, Requests: 10, Responses: map[string]int64{"200": 10},
		Shard: &metrics.ShardInfo{K: k, N: n}, StartAt: at, StartedAt: at.Add(late)}
	if err := l.Summary(s); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A merge of shards knows N and each file's k (issue 19): it merges each k
// of N once, and refuses, naming the files or the missing k, a shard
// missing, a shard twice, shards of another N or of another --start-at, a
// run without --shard among shards, and a --shards that the files
// contradict.
func TestMergeKnowsTheShards(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	path := func(name string) string { return filepath.Join(dir, name) }
	for k := 0; k < 4; k++ {
		writeShard(t, path(fmt.Sprintf("shard-%d.hlog", k)), k, 4, at, time.Duration(k)*time.Millisecond)
	}
	writeShard(t, path("again-1.hlog"), 1, 4, at, 5*time.Millisecond) // shard 1 of the same run, another copy
	writeShard(t, path("of-5.hlog"), 3, 5, at, 0)
	writeShard(t, path("other-run.hlog"), 3, 4, at.Add(time.Hour), 0)
	writeHlog(t, path("alone.hlog"), 10)
	all := []string{path("shard-0.hlog"), path("shard-1.hlog"), path("shard-2.hlog"), path("shard-3.hlog")}

	var out, errb bytes.Buffer
	if code := run(append([]string{"regstorm", "merge", "--shards", "4"}, path("shard-*.hlog")), &out, &errb); code != 0 {
		t.Fatalf("4 of 4: exit %d, %s", code, errb.String())
	}
	m := decode(t, out.Bytes())
	if m["naps"] != 40.0 || m["shards"] != 4.0 || m["start_spread_ms"] != 3.0 || m["start_at"] != "2026-11-30T12:00:00Z" || m["shard"] != nil {
		t.Errorf("merged: naps %v shards %v start_spread_ms %v start_at %v shard %v", m["naps"], m["shards"], m["start_spread_ms"], m["start_at"], m["shard"])
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{all[0], all[1], all[3]}, "shard 2 of 4 missing (3 of 4 files given)"},
		{[]string{all[0]}, "shards 1, 2, 3 of 4 missing"},
		{[]string{"--shards", "4", all[0], all[1], all[2], all[3], path("again-1.hlog")}, "shard-1.hlog and " + path("again-1.hlog") + " are both shard 1/4"},
		{[]string{all[0], all[1], all[2], path("of-5.hlog")}, "is shard 3/5"},
		{[]string{all[0], all[1], all[2], path("other-run.hlog")}, "was for --start-at 2026-11-30T12:00:00Z, " + path("other-run.hlog") + " for 2026-11-30T13:00:00Z"},
		{[]string{all[0], all[1], all[2], all[3], path("alone.hlog")}, "alone.hlog has no shard number"},
		{[]string{"--shards", "5", all[0], all[1], all[2], all[3]}, "--shards 5, but the files are shards of 4"},
		{[]string{"--shards", "2", path("alone.hlog")}, "--shards 2: " + path("alone.hlog") + " has no shard number"},
		{[]string{"--shards", "0", all[0]}, "--shards 0"},
	} {
		out.Reset()
		errb.Reset()
		code := run(append([]string{"regstorm", "merge"}, c.args...), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), c.want) || out.Len() != 0 {
			t.Errorf("merge %v: exit %d, stdout %q, stderr %q (want 2 and %q)", c.args, code, out.String(), errb.String(), c.want)
		}
	}
	// Shards that began far apart merge, and the merge says so.
	writeShard(t, path("late-3.hlog"), 3, 4, at, 4*time.Second)
	out.Reset()
	errb.Reset()
	if code := run([]string{"regstorm", "merge", all[0], all[1], all[2], path("late-3.hlog")}, &out, &errb); code != 0 || !strings.Contains(errb.String(), "began 4.0 s apart") {
		t.Errorf("a late shard: exit %d, %q", code, errb.String())
	}
}

// The merged summary is written without HTML escaping, as a run's is: a
// crossed threshold reads as given, not "requests\u003c1000".
func TestMergeWritesThresholdsAsGiven(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.hlog")
	writeHlog(t, a, 10)
	var out, errb bytes.Buffer
	if code := run([]string{"regstorm", "merge", "--fail-on", "requests<1000,p99>0.5ms", a}, &out, &errb); code != 1 {
		t.Fatalf("exit %d (want 1): %s", code, errb.String())
	}
	if !strings.Contains(out.String(), `"requests<1000",`) || !strings.Contains(out.String(), `"p99>0.5ms"`) || strings.Contains(out.String(), `\u00`) {
		t.Errorf("thresholds_failed not as given: %s", out.String())
	}
}

// With --warnings FILE the merge's warnings go there, not to stderr: its
// stdout and stderr together (a pod's log, kubectl logs) are the summary
// alone, which report takes.
func TestMergeWarningsGoElsewhere(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	var files []string
	for k := 0; k < 2; k++ { // begun 1.5 s apart
		f := filepath.Join(dir, fmt.Sprintf("shard-%d.hlog", k))
		writeShard(t, f, k, 2, at, time.Duration(k)*1500*time.Millisecond)
		files = append(files, f)
	}
	var log bytes.Buffer // stdout and stderr as one, as kubectl logs gives them
	if code := run(append([]string{"regstorm", "merge", "--summary=-"}, files...), &log, &log); code != 0 || !strings.Contains(log.String(), "began 1.5 s apart") {
		t.Fatalf("without --warnings: exit %d, want the warning on stderr: %s", code, log.String())
	}
	warnings := filepath.Join(dir, "termination-log")
	log.Reset()
	if code := run(append([]string{"regstorm", "merge", "--summary=-", "--warnings=" + warnings}, files...), &log, &log); code != 0 {
		t.Fatalf("exit %d: %s", code, log.String())
	}
	summary := filepath.Join(dir, "summary.json")
	if err := os.WriteFile(summary, log.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"regstorm", "report", summary, "--html", filepath.Join(dir, "r.html")}, &out, &errb); code != 0 {
		t.Errorf("report refuses the merge's log: exit %d, %s\n%s", code, errb.String(), log.String())
	}
	if b, err := os.ReadFile(warnings); err != nil || !strings.Contains(string(b), "began 1.5 s apart") {
		t.Errorf("--warnings file: %q, %v", b, err)
	}
	// An unwritable one is refused before anything (exit 2).
	log.Reset()
	if code := run(append([]string{"regstorm", "merge", "--warnings", filepath.Join(dir, "no", "w")}, files...), &log, &log); code != 2 || !strings.Contains(log.String(), "--warnings") {
		t.Errorf("--warnings in a missing directory: exit %d, %s", code, log.String())
	}
}
