package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/metrics"
)

// writeStormHlog writes a .hlog carrying s as its summary.
func writeStormHlog(t *testing.T, path string, s *metrics.Summary) {
	t.Helper()
	var b bytes.Buffer
	hl, err := metrics.NewHlog(&b, time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := hl.Summary(s); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// regstorm merge merges the shards' stages and reboots, and refuses
// shards whose storms differ (exit 2, naming the files).
func TestMergeStagesAndEvents(t *testing.T) {
	dir := t.TempDir()
	back := 1.5
	shard := func(naps int, reboots ...float64) *metrics.Summary {
		s := &metrics.Summary{NAPs: naps, Registered: int64(naps), Responses: map[string]int64{}, ThresholdsFailed: []string{},
			Stages: []*metrics.Stage{{Stage: 1, NAPs: 200, DurationS: 1, Requests: int64(naps)}}}
		for _, at := range reboots {
			s.Events = append(s.Events, &metrics.Event{Kind: "reboot", AtS: at, NAPs: naps / 2, Back: int64(naps / 2), To100S: &back})
		}
		return s
	}
	a, b, c := filepath.Join(dir, "a.hlog"), filepath.Join(dir, "b.hlog"), filepath.Join(dir, "c.hlog")
	writeStormHlog(t, a, shard(100, 5))
	writeStormHlog(t, b, shard(100, 5.01))
	writeStormHlog(t, c, shard(101)) // a shard without the reboot
	var out, errb bytes.Buffer
	if code := run([]string{"regstorm", "merge", a, b}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var s metrics.Summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Stages) != 1 || s.Stages[0].NAPs != 200 || s.Stages[0].Requests != 200 ||
		len(s.Events) != 1 || s.Events[0].NAPs != 100 || s.Events[0].Back != 100 || s.Events[0].To100S == nil || *s.Events[0].To100S != 1.5 {
		t.Errorf("merged stages %+v events %+v", s.Stages, s.Events)
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"regstorm", "merge", a, c}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "a.hlog has 1 events, "+c+" 0") || out.Len() != 0 {
		t.Errorf("exit %d, stderr %q, stdout %q: want 2 and the files named, no summary", code, errb.String(), out.String())
	}
}
