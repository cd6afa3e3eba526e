package metrics

import (
	"strings"
	"testing"
	"time"
)

func hist(ds ...time.Duration) *Recorder {
	r := NewRecorder()
	for _, d := range ds {
		r.TransactionDone(d, 0)
	}
	return r
}

// Stages and reboots reach Prometheus: the current stage and its NAPs,
// each stage's latency histogram (the one over frozen, the current one
// the run's less its start), each reboot's once its window is over, and
// the last such reboot's quantiles.
func TestServeMetricsStagesAndRebootLatency(t *testing.T) {
	run := hist(time.Millisecond, 2*time.Millisecond) // stage 1's two
	base := run.Transaction.Clone()                   // stage 2 begins
	run.TransactionDone(3*time.Second, 0)             // stage 2's, an answer after retransmissions
	one := Diff(base, nil)                            // stage 1's, over
	stages := []Stage{{Stage: 1, NAPs: 100, Latency: one}, {Stage: 2, AtS: 30, NAPs: 5000}}
	views := StageViews(stages, base, run.Transaction)
	if views[1].Latency == nil || views[1].Latency.TotalCount() != 1 || views[0].Latency.TotalCount() != 2 {
		t.Fatalf("stage views %+v", views)
	}
	if v := StageViews(stages, base, nil); v[1].Latency != nil {
		t.Error("the current stage's latency without the run's histogram")
	}
	ev := hist(40*time.Millisecond, 900*time.Millisecond)
	closed := Event{Kind: "reboot", NAPs: 50, Back: 50, Latency: ev.Transaction, LatencyMS: PercentilesOf(ev.Transaction), Closed: true}
	open := Event{Kind: "reboot", NAPs: 50, Back: 10} // still followed: not yet
	view := &View{Groups: []GroupView{{Name: "default", Totals: Merge([]*Recorder{run})}}, Stages: views, Events: []Event{closed, open}}
	body := scrape(t, view, nil)
	for _, want := range []string{
		"regstorm_stage 2\n",
		"regstorm_stage_naps 5000\n",
		`regstorm_stage_latency_seconds_count{stage="1"} 2`,
		`regstorm_stage_latency_seconds_bucket{stage="1",le="0.0025"} 2`,
		`regstorm_stage_latency_seconds_count{stage="2"} 1`,
		`regstorm_stage_latency_seconds_bucket{stage="2",le="1"} 0`,
		`regstorm_stage_latency_seconds_bucket{stage="2",le="+Inf"} 1`,
		`regstorm_reboot_latency_seconds_count{reboot="1"} 2`,
		`regstorm_reboot_latency_seconds_bucket{reboot="1",le="0.05"} 1`,
		`regstorm_last_reboot_latency_seconds{quantile="0.5"} 0.04`,
		`regstorm_last_reboot_latency_seconds{quantile="1"} 0.9`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %q in:\n%s", want, body)
		}
	}
	if strings.Contains(body, `reboot="2"`) {
		t.Error("the open reboot's latency exported before its window is over")
	}
	// No stages, no reboots: none of these series.
	body = scrape(t, &View{Groups: []GroupView{{Name: "default", Totals: Merge([]*Recorder{run})}}}, nil)
	for _, name := range []string{"regstorm_stage", "regstorm_reboot_latency", "regstorm_last_reboot_latency"} {
		if strings.Contains(body, "\n"+name) {
			t.Errorf("%s without storms", name)
		}
	}
}
