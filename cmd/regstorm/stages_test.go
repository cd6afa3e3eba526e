package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/metrics"
)

// A population that rises and falls: the registrar's bindings follow it
// at each stage, in the registrar's own view; the run lasts the stages.
// In simulated time: each stage begins at its time exactly.
func TestStagesPopulationFollowed(t *testing.T) {
	t.Parallel()
	const target = "127.0.0.1:5070"
	w := newSimWorld(target)
	var at []int // the bindings near the end of each stage
	for _, d := range []time.Duration{800 * time.Millisecond, 1800 * time.Millisecond, 2800 * time.Millisecond} {
		w.net.At(d, func() { at = append(at, w.net.Bindings(target)) })
	}
	code, out, errb := w.run(t, time.Minute, "--target", "sip:"+target, "--stages", "1s:200,1s:500,1s:100", "--quiet", "--summary", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if strings.Contains(errb.String(), "regstorm: stage") {
		t.Errorf("--quiet, yet the stages were said:\n%s", errb.String())
	}
	var s metrics.Summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if len(at) != 3 || at[0] != 200 || at[1] != 500 || at[2] != 100 {
		t.Errorf("bindings at the end of each stage: %v, want [200 500 100]", at)
	}
	if len(s.Stages) != 3 || s.Stages[0].NAPs != 200 || s.Stages[1].NAPs != 500 || s.Stages[2].NAPs != 100 ||
		s.Stages[0].Requests != 200 || s.Stages[1].Requests != 300 || s.Stages[1].LatencyMS.Count != 300 ||
		s.Stages[0].AtS != 0 || s.Stages[1].AtS != 1 || s.Stages[2].AtS != 2 ||
		s.Stages[2].Requests != 400 { // the un-REGISTERs of the NAPs taken away
		for _, st := range s.Stages {
			t.Logf("stage %+v", *st)
		}
		t.Errorf("stages: want 200, 500, 100 NAPs at 0, 1 and 2 s; 200 REGISTERs, 300, then 400 un-REGISTERs")
	}
	if s.NAPs != 100 || s.Registered != 100 || s.DurationS != 3 || s.Reloads.Applied != 2 || w.net.Bindings(target) != 0 {
		t.Errorf("naps %d registered %d duration %v s reloads %+v; %d bindings left", s.NAPs, s.Registered, s.DurationS, s.Reloads, w.net.Bindings(target))
	}
}

// A shard's stages say each step's whole population, the first one too
// (a merge checks that the shards ran the same steps), and count the
// shard's own work.
func TestStagesOfAShardSayTheStep(t *testing.T) {
	t.Parallel()
	const target = "127.0.0.1:5070"
	code, out, errb := newSimWorld(target).run(t, time.Minute, "--target", "sip:"+target, "--shard", "1/2", "--stages", "500ms:200,500ms:300", "--quiet", "--summary", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var s metrics.Summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Stages) != 2 || s.Stages[0].NAPs != 200 || s.Stages[1].NAPs != 300 || s.Stages[0].Requests != 100 || s.Stages[1].Requests != 50 {
		for _, st := range s.Stages {
			t.Logf("stage %+v", *st)
		}
		t.Errorf("want stages of 200 and 300 NAPs, this shard's 100 then 50 REGISTERs")
	}
}

// Prometheus sees the stages of each snapshot: the current one's latency
// is the run's histogram less the one at its start.
func TestPromObserverStages(t *testing.T) {
	t.Parallel()
	base := metrics.NewHistogram()
	metrics.Latency(base, time.Millisecond)
	now := base.Clone()
	metrics.Latency(now, 5*time.Millisecond)
	metrics.Latency(now, 7*time.Millisecond)
	tot := metrics.NewTotals()
	tot.Transaction = now
	var p promObserver
	p.Observe(&engine.Snapshot{Totals: tot, StageBase: base,
		Stages: []metrics.Stage{{Stage: 1, NAPs: 10, Latency: base}, {Stage: 2, NAPs: 20}}})
	v := p.view()
	if len(v.Stages) != 2 || v.Stages[0].Latency.TotalCount() != 1 || v.Stages[1].Latency == nil || v.Stages[1].Latency.TotalCount() != 2 {
		t.Fatalf("stages %+v", v.Stages)
	}
}
