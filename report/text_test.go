package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/metrics"
)

func TestWriteText(t *testing.T) {
	s := &metrics.Summary{NAPs: 1000, Registered: 998, Unregistered: 990, DurationS: 10, Requests: 40000, Retransmissions: 12,
		Timeouts: 2, Abandoned: 1, RegisterRatePerS: 4000,
		Responses:       map[string]int64{"200": 39000, "401": 900, "423": 5, "503": 8, "404": 2},
		LatencyMS:       metrics.Percentiles{P50: 1.2, P99: 3.4, Max: 80, Count: 40000},
		DrainLatencyMS:  metrics.Percentiles{P50: 0.5, P99: 2.1, Count: 990},
		FailureExamples: map[string]string{"503": "nap000042", "timeout": "nap000017", "404": "nap000007"}}
	var b bytes.Buffer
	if err := WriteText(&b, s); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, want := range []string{"998/1000 NAPs registered", "4000 REGISTER/s", "p50 1.20 ms", "p99 3.40 ms",
		"un-REGISTER p99 2.10 ms", "timeouts 2 (e.g. nap000017)", "503 ×8 (e.g. nap000042)", "404 ×2 (e.g. nap000007)", "abandoned 1"} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in:\n%s", want, text)
		}
	}
	// 401, 407 and 423 are steps of a registration, not failures; the
	// worst failure comes first.
	if strings.Contains(text, "401") || strings.Contains(text, "423") || strings.Index(text, "503") > strings.Index(text, "404") {
		t.Errorf("failures wrong:\n%s", text)
	}
	if n := strings.Count(text, "\n"); n > 5 {
		t.Errorf("%d lines: a short summary, please:\n%s", n, text)
	}

	// A reboot's line: its recovery, and the latency meanwhile.
	back := 2.5
	s.Events = []*metrics.Event{{Kind: "reboot", AtS: 5, NAPs: 500, Back: 500, To100S: &back, PeakRatePerS: 5000, Refused503: 12,
		LatencyMS: metrics.Percentiles{P50: 0.8, P99: 420, Max: 510, Count: 700}}}
	b.Reset()
	_ = WriteText(&b, s)
	if text := b.String(); !strings.Contains(text, "reboot at 5.0 s: 500 NAPs, 500 registered again, 100 % in 2.50 s; peak 5000 REGISTER/s, 0 retransmissions, 0 timeouts, 12 503s; latency p50 0.80 ms, p99 420.00 ms, max 510.00 ms\n") {
		t.Errorf("reboot:\n%s", text)
	}
	s.Events = nil

	// A stage's line: its step, the work meanwhile, its latency.
	s.Stages = []*metrics.Stage{{Stage: 2, AtS: 30, NAPs: 5000, DurationS: 60, Requests: 4100, Retransmissions: 3, Timeouts: 1,
		LatencyMS: metrics.Percentiles{P50: 1.2, P99: 9.5, Max: 40, Count: 4099}}}
	b.Reset()
	_ = WriteText(&b, s)
	if text := b.String(); !strings.Contains(text, "\n  stage 2 at 30.0 s: 5000 NAPs for 60.0 s; 4100 requests, 3 retransmissions, 1 timeouts; latency p50 1.20 ms, p99 9.50 ms, max 40.00 ms\n") {
		t.Errorf("stage:\n%s", text)
	}
	s.Stages = nil

	// A summary without examples (an older file, or merged shards), no
	// failures at all.
	s = &metrics.Summary{NAPs: 10, Registered: 10, Responses: map[string]int64{"200": 10}}
	b.Reset()
	_ = WriteText(&b, s)
	if text := b.String(); strings.Contains(text, "e.g.") || !strings.Contains(text, "no failures") || !strings.Contains(text, "timeouts 0") {
		t.Errorf("clean run:\n%s", text)
	}
}

// With the summary's refusals (final failures by code), a 401 that refused
// the NAP's credentials is a failure; a 401 answered with them is not.
func TestFailuresFromRefusals(t *testing.T) {
	s := &metrics.Summary{NAPs: 10, Responses: map[string]int64{"401": 20, "403": 1},
		Refusals: map[string]int64{"401": 10}, FailureExamples: map[string]string{"401": "nap000003"}}
	if got := Failures(s); got != "failures 401 ×10 (e.g. nap000003)" {
		t.Errorf("%q", got)
	}
	s.Refusals = map[string]int64{}
	if got := Failures(s); got != "no failures" {
		t.Errorf("%q", got)
	}
}

// With the summary's failures, every reason is listed with its NAPs.
func TestFailuresWithExamples(t *testing.T) {
	s := &metrics.Summary{Failures: map[string]*metrics.Failure{
		"403":            {Count: 8, Examples: []metrics.NAPRef{{User: "a0001", Group: "trunk-a", Index: 1}, {User: "a0007", Group: "trunk-a", Index: 7}}},
		"connect-failed": {Count: 2, Examples: []metrics.NAPRef{{User: "b0003", Group: "trunk-b", Index: 3}}},
		"malformed":      {Count: 1},
		"timeout":        {Count: 5},
	}}
	want := "failures 403 ×8 (e.g. a0001 (trunk-a #1), a0007 (trunk-a #7)), connect-failed ×2 (e.g. b0003 (trunk-b #3)), malformed ×1"
	if got := Failures(s); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// No data is never printed as a measured 0; the stop has its own line,
// with the bindings it left at the registrar by why and until when; a
// target that never answered is said to be silent, with why no timeout
// was counted yet.
func TestWriteTextNoDataAndTheDrain(t *testing.T) {
	until := time.Date(2026, 12, 7, 10, 30, 0, 0, time.UTC)
	s := &metrics.Summary{NAPs: 10, Requests: 10, DurationS: 6, RegisterRatePerS: 500,
		Drain: &metrics.DrainSummary{Requests: 10000, RatePerS: 2000, DurationS: 5, Unregistered: 3844,
			LatencyMS:        metrics.Percentiles{P50: 1, P99: 2, Max: 3, Count: 10000},
			UnregisterFailed: map[string]int64{"503": 6100, "no-answer": 56}, BindingsLeftUntil: &until}}
	var b bytes.Buffer
	if err := WriteText(&b, s); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, want := range []string{"latency no data", "500 REGISTER/s over the 6.0 s of the load",
		"stop: 10000 un-REGISTER transactions at 2000/s over 5.0 s, 3844 un-registered, latency p50 1.00 ms, p99 2.00 ms, max 3.00 ms",
		"6156 bindings left at the registrar (un-REGISTER 503 ×6100, no-answer ×56) until 2026-12-07 10:30:00 UTC at the latest"} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in:\n%s", want, text)
		}
	}
	if strings.Contains(text, "0.00 ms") {
		t.Errorf("no data printed as 0:\n%s", text)
	}
	if got := NoneRegistered(s); !strings.Contains(got, "no answer from the target") || !strings.Contains(got, "Timer F") {
		t.Errorf("none registered: %s", got)
	}
	if got, _ := json.Marshal(s); !bytes.Contains(got, []byte(`"latency_ms":null`)) || !bytes.Contains(got, []byte(`"registration_latency_ms":null`)) {
		t.Errorf("no data in JSON is not null: %s", got)
	}
}
