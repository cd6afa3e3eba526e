package metrics

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func sample() *Summary {
	return &Summary{NAPs: 100, Registered: 98, Unregistered: 97, Requests: 500, Timeouts: 2, RegisterRatePerS: 4000,
		Responses: map[string]int64{"200": 400, "401": 90, "503": 8, "404": 2},
		LatencyMS: Percentiles{P50: 3, P99: 63.2, Max: 80}}
}

func TestThresholdsCrossed(t *testing.T) {
	ts, err := ParseThresholds(" p99 > 50ms, timeouts>0,registered<100%, rate<5000, 5xx>=8, 4xx>2, 401>0, p50>0.01s, max<=80000us, requests==500")
	if err != nil {
		t.Fatal(err)
	}
	s := sample()
	lines := Check(ts, s)
	// 4xx excludes 401/407/423: only the 404 counts, so 4xx>2 does not hold.
	want := []string{"p99>50ms", "timeouts>0", "registered<100%", "rate<5000", "5xx>=8", "401>0", "max<=80000us", "requests==500"}
	if strings.Join(s.ThresholdsFailed, " ") != strings.Join(want, " ") {
		t.Errorf("failed %v, want %v", s.ThresholdsFailed, want)
	}
	if !strings.Contains(lines[0], "measured 63.2") {
		t.Errorf("%q", lines[0])
	}
}

func TestThresholdsBad(t *testing.T) {
	for expr, want := range map[string]string{
		"p99~50ms":       "want metric, operator, value",
		"p99=>50ms":      "unknown operator",
		"p98>50ms":       `unknown metric "p98"`,
		"p99>fast":       "not a number",
		"p99>50%":        "latency unit",
		"timeouts>5ms":   "does not apply",
		"":               "no condition",
		">5":             "want metric",
		"requests>=1e3x": `unit "x" does not apply`,
	} {
		if _, err := ParseThresholds(expr); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", expr, err, want)
		}
	}
}

func TestHlogRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	start := time.Unix(1_700_000_000, 0)
	l, err := NewHlog(&buf, start)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		h := NewHistogram()
		for v := 1; v <= 100; v++ {
			Latency(h, time.Duration(v*(i+1))*time.Millisecond)
		}
		if err := l.Interval(h, start.Add(time.Duration(i)*time.Second), start.Add(time.Duration(i+1)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Summary(sample()); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	h, n, s, err := ReadHlog(&buf)
	if err != nil || n != 3 || h.TotalCount() != 300 || s == nil || s.Requests != 500 {
		t.Fatalf("n %d count %d summary %+v err %v", n, h.TotalCount(), s, err)
	}
	if !strings.Contains(text, "#[Histogram log format version") || !strings.Contains(text, `"StartTimestamp"`) {
		t.Error("not the standard log header")
	}
	m := MergeSummaries([]*Summary{s, sample()}, h)
	if m.Requests != 1000 || m.Responses["503"] != 16 || m.LatencyMS.Count != 300 || m.NAPs != 200 {
		t.Errorf("%+v", m)
	}
}

// A crossed condition prints its measured value rounded, in the
// condition's unit.
func TestCheckPrintsUnits(t *testing.T) {
	s := sample()
	s.NAPs, s.Registered, s.RegisterRatePerS, s.LatencyMS.P99 = 1000, 998, 999.7573873751696, 63.2456
	ts, err := ParseThresholds("rate<1000,registered<100%,p99>50ms,timeouts>0,5xx>=8,registered<999,p99>0.01s")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"rate<1000 (measured 999.8/s)", "registered<100% (measured 99.8%)", "p99>50ms (measured 63.25ms)",
		"timeouts>0 (measured 2)", "5xx>=8 (measured 8)", "registered<999 (measured 998)", "p99>0.01s (measured 63.25ms)"}
	if got := Check(ts, s); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The counts added to the summary after merge was written are summed too,
// so that requests = final responses + timeouts + abandoned + in_flight
// holds for merged shards as well.
func TestMergeSummariesNewCounts(t *testing.T) {
	a, b := sample(), sample()
	a.Abandoned, b.Abandoned = 1, 2
	a.MessagesSent, b.MessagesSent = 10, 20
	a.MessagesReceived, b.MessagesReceived = 9, 19
	a.FailureExamples = map[string]string{"503": "nap000001"}
	b.FailureExamples = map[string]string{"503": "nap000002", "timeout": "nap000003"}
	m := MergeSummaries([]*Summary{a, b}, NewHistogram())
	if m.Abandoned != 3 || m.MessagesSent != 30 || m.MessagesReceived != 28 {
		t.Errorf("abandoned %d, sent %d, received %d", m.Abandoned, m.MessagesSent, m.MessagesReceived)
	}
	if m.FailureExamples["503"] != "nap000001" || m.FailureExamples["timeout"] != "nap000003" {
		t.Errorf("examples %v", m.FailureExamples)
	}
}

// --fail-on 'capacity<R' reads a capacity search's rate; a summary
// without a search reads 0 (and so crosses it).
func TestThresholdCapacity(t *testing.T) {
	ts, err := ParseThresholds("capacity<2000")
	if err != nil {
		t.Fatal(err)
	}
	s := &Summary{Capacity: []byte(`{"rate_per_s":1607,"confirmed":true}`)}
	if got := Check(ts, s); len(got) != 1 || got[0] != "capacity<2000 (measured 1607/s)" {
		t.Errorf("crossed %q", got)
	}
	s = &Summary{Capacity: []byte(`{"rate_per_s":2310}`)}
	if got := Check(ts, s); len(got) != 0 {
		t.Errorf("crossed %q at 2310/s", got)
	}
}
