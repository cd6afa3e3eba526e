package metrics

import (
	"strings"
	"testing"
)

func f(v float64) *float64 { return &v }

// Shards' stages merge by index and their reboots by order: counts add,
// to_100_s is the last shard's, to_99_s gives way to an upper bound, the
// latency is the worst shard's.
func TestMergeStorms(t *testing.T) {
	shard := func(reqs int64, p99, t99, t100 float64, at float64) *Summary {
		return &Summary{
			Stages: []*Stage{
				{Stage: 1, AtS: 0, NAPs: 1000, DurationS: 30, Requests: reqs, Retransmissions: 1, LatencyMS: Percentiles{P50: 1, P99: p99, Max: p99 + 1, Count: reqs}},
				{Stage: 2, AtS: 30 + at, NAPs: 5000, DurationS: 60 - at, Requests: 4 * reqs, Timeouts: 2, LatencyMS: Percentiles{P99: p99, Count: 4 * reqs}},
			},
			Events: []*Event{{Kind: "reboot", AtS: 45 + at, NAPs: 250, Back: 250, To99S: f(t99), To100S: f(t100), DurationS: t100,
				PeakRatePerS: 900, Requests: 300, Retransmissions: 7, Timeouts: 1, Refused503: 40, LatencyMS: Percentiles{P50: 2, P99: p99, Count: 300}}},
		}
	}
	a, b := shard(500, 3, 1.1, 1.5, 0), shard(500, 9, 1.4, 1.2, 0.003)
	st, ev, err := MergeStorms([]*Summary{a, b}, []string{"a.hlog", "b.hlog"})
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 2 || st[0].NAPs != 1000 || st[0].Requests != 1000 || st[0].Retransmissions != 2 || st[0].LatencyMS.P99 != 9 ||
		st[0].LatencyMS.Count != 1000 || st[1].NAPs != 5000 || st[1].AtS != 30 || st[1].DurationS != 60 || st[1].Timeouts != 4 {
		t.Errorf("stages %+v %+v", *st[0], *st[1])
	}
	if len(ev) != 1 {
		t.Fatalf("events %v", ev)
	}
	e := ev[0]
	if e.NAPs != 500 || e.Back != 500 || e.Requests != 600 || e.Retransmissions != 14 || e.Timeouts != 2 || e.Refused503 != 80 ||
		e.PeakRatePerS != 1800 || e.AtS != 45 || e.DurationS != 1.5 || e.LatencyMS.P99 != 9 || e.LatencyMS.Count != 600 {
		t.Errorf("event %+v", *e)
	}
	if e.To100S == nil || *e.To100S != 1.5 || e.To99S != nil || e.To99AtMostS == nil || *e.To99AtMostS != 1.4 {
		t.Errorf("recovery: to_100_s %v, to_99_s %v, at most %v; want 1.5, none, 1.4", e.To100S, e.To99S, e.To99AtMostS)
	}
	if *a.Events[0].To100S != 1.5 || a.Events[0].To99S == nil || a.Stages[0].Requests != 500 {
		t.Error("the shards' summaries changed by the merge")
	}
	// A shard that did not get all back: none did, as a whole.
	c := shard(500, 3, 1.1, 1.5, 0)
	c.Events[0].To100S, c.Events[0].To99S = nil, nil
	if _, ev, _ := MergeStorms([]*Summary{a, c}, []string{"a", "c"}); ev[0].To100S != nil || ev[0].To99AtMostS != nil {
		t.Errorf("a shard never back, merged to_100_s %v, to_99_s_at_most %v", ev[0].To100S, ev[0].To99AtMostS)
	}
	// Runs without storms merge to none.
	if st, ev, err := MergeStorms([]*Summary{{}, {}}, []string{"a", "b"}); err != nil || st != nil || ev != nil {
		t.Errorf("no storms: %v %v %v", st, ev, err)
	}
}

// Shards that did not run the same steps or storms are refused, naming
// the files.
func TestMergeStormsRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b *Summary
		want string
	}{
		{"stage count", &Summary{Stages: []*Stage{{Stage: 1, NAPs: 10}}}, &Summary{}, "a.hlog has 1 stages, b.hlog 0"},
		{"stage naps", &Summary{Stages: []*Stage{{Stage: 1, NAPs: 10}}}, &Summary{Stages: []*Stage{{Stage: 1, NAPs: 5}}}, "stage 1: a.hlog has step 1 of 10 NAPs, b.hlog step 1 of 5 NAPs"},
		{"event count", &Summary{Events: []*Event{{Kind: "reboot", AtS: 5}}}, &Summary{}, "a.hlog has 1 events, b.hlog 0 (a SIGUSR2 to some shards only?)"},
		{"event time", &Summary{Events: []*Event{{Kind: "reboot", AtS: 5}}}, &Summary{Events: []*Event{{Kind: "reboot", AtS: 7}}}, "event 1: a.hlog has a reboot at 5.0 s, b.hlog a reboot at 7.0 s"},
	} {
		_, _, err := MergeStorms([]*Summary{tc.a, tc.b}, []string{"a.hlog", "b.hlog"})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
