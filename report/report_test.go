package report

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/metrics"
)

func summary() *metrics.Summary {
	h := metrics.NewHistogram()
	for i := 1; i <= 10000; i++ {
		metrics.Latency(h, time.Duration(i)*time.Microsecond*10)
	}
	s := &metrics.Summary{NAPs: 100, Registered: 100, Transport: "udp", Requests: 200, DurationS: 3,
		Responses: map[string]int64{"200": 190, "401": 5, "503": 5}, ThresholdsFailed: []string{"p99>50ms"},
		LatencyMS: metrics.PercentilesOf(h), LatencyDistribution: metrics.Distribution(h), RegistrationDistribution: metrics.Distribution(h)}
	for i := 1; i <= 3; i++ {
		p50, p99 := float64(i), float64(10*i)
		s.Timeline = append(s.Timeline, metrics.TimePoint{T: float64(i), Registered: int64(33 * i), Rate: 66,
			P50MS: &p50, P99MS: &p99, Failures: int64(i), Timeouts: 1, Retransmissions: int64(2 * i)})
	}
	return s
}

func TestWriteHTMLHasEveryChart(t *testing.T) {
	var b bytes.Buffer
	if err := WriteHTML(&b, summary(), "regstorm <test> & co"); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	if n := strings.Count(html, "<svg"); n != 6 {
		t.Errorf("%d charts, want 6", n)
	}
	for _, series := range []string{"transaction", "registration", "registered", "REGISTER/s", "p50", "p99", "failures", "timeouts", "retransmissions"} {
		re := regexp.MustCompile(`data-series="` + regexp.QuoteMeta(series) + `" d="M[0-9.]+,[0-9.]+ (L[0-9.]+,[0-9.]+ ?){2,}"`)
		if !re.MatchString(html) {
			t.Errorf("series %q missing or empty", series)
		}
	}
	for _, code := range []string{"200", "401", "503"} {
		if !strings.Contains(html, `data-code="`+code+`"`) {
			t.Errorf("no bar for %s", code)
		}
	}
	if !strings.Contains(html, "regstorm &lt;test&gt; &amp; co") || !strings.Contains(html, "p99&gt;50ms") {
		t.Error("title or crossed threshold not shown (escaped)")
	}
	// Self-contained: no script, no external fetch.
	for _, bad := range []string{"<script", "src=", "<link", "@import", "url("} {
		if strings.Contains(html, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
}

func TestPercentileAxis(t *testing.T) {
	for p, want := range map[float64]float64{0: 0, 90: 1, 99: 2, 99.9: 3} {
		if got := percentileX(p); got < want-1e-9 || got > want+1e-9 {
			t.Errorf("x(%v) = %v, want %v", p, got, want)
		}
	}
}

// A reboot is marked on every timeline, with its recovery, and has its
// row of figures.
func TestWriteHTMLMarksEvents(t *testing.T) {
	s := summary()
	all := 1.25
	s.Events = []*metrics.Event{{Kind: "reboot", AtS: 2, NAPs: 50, Back: 50, To100S: &all, PeakRatePerS: 400, Retransmissions: 3,
		Refused503: 7, LatencyMS: metrics.Percentiles{P50: 1, P90: 2, P99: 30, Max: 40, Count: 60}}}
	var b bytes.Buffer
	if err := WriteHTML(&b, s, "t"); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	if n := strings.Count(html, `class="event"`); n != 4 {
		t.Errorf("%d event marks, want 4 (each of the four timelines: latency, failures, registered, REGISTER/s)", n)
	}
	for _, want := range []string{"reboot 50, all back in 1.2 s", "reboot at 2.0 s (50 NAPs)", "100 % in 1.25 s; peak 400 REGISTER/s; 3 retransmissions",
		"7 503s; latency p50 / p90 / p99 / max 1.000 / 2.000 / 30.000 / 40.000 ms"} {
		if !strings.Contains(html, want) {
			t.Errorf("no %q", want)
		}
	}
}

// Stages have their table, each step a row with its latency, and their
// boundaries marked on both timelines, apart from the reboots' marks.
func TestWriteHTMLStages(t *testing.T) {
	s := summary()
	s.Stages = []*metrics.Stage{
		{Stage: 1, AtS: 0, NAPs: 100, DurationS: 2, Requests: 100, LatencyMS: metrics.Percentiles{P50: 1, P90: 2, P99: 3, Max: 4, Count: 100}},
		{Stage: 2, AtS: 2, NAPs: 500, DurationS: 3, Requests: 420, Retransmissions: 6, Timeouts: 1, LatencyMS: metrics.Percentiles{P50: 1.5, P90: 2.5, P99: 35, Max: 45, Count: 419}},
	}
	var b bytes.Buffer
	if err := WriteHTML(&b, s, "t"); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	if n := strings.Count(html, `class="stage"`); n != 8 {
		t.Errorf("%d stage marks, want 8 (2 stages on each of the four timelines: latency, failures, registered, REGISTER/s)", n)
	}
	if strings.Contains(html, `class="event"`) {
		t.Error("stage boundaries drawn as reboots")
	}
	for _, want := range []string{"<h2>Stages</h2>", "stage 2: 500",
		`<tr><td class="v">2</td><td class="v">2.0 s</td><td class="v">500</td><td class="v">3.0 s</td><td class="v">420</td><td class="v">6</td><td class="v">1</td><td class="v">1.500 / 2.500 / 35.000 / 45.000 ms</td><td class="v">419</td></tr>`} {
		if !strings.Contains(html, want) {
			t.Errorf("no %q", want)
		}
	}
	// Without stages, no table.
	s.Stages = nil
	b.Reset()
	_ = WriteHTML(&b, s, "t")
	if strings.Contains(b.String(), "<h2>Stages</h2>") || strings.Contains(b.String(), `class="stage"`) {
		t.Error("a stages table without stages")
	}
}

// Registered NAPs are drawn from t = 0; a second in which no transaction
// ended is a gap in the latency lines, never a 0.
func TestWriteHTMLTimelineFromZeroWithGaps(t *testing.T) {
	s := summary()
	s.Timeline[1].P50MS, s.Timeline[1].P99MS = nil, nil
	var b bytes.Buffer
	if err := WriteHTML(&b, s, "t"); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	if !regexp.MustCompile(`data-series="registered" d="M70.0,255.0 L`).MatchString(html) {
		t.Error("registered does not start at t = 0 with 0 NAPs")
	}
	// p50: a point at 1 s, a gap at 2 s, a point at 3 s: two moves, no line.
	m := regexp.MustCompile(`data-series="p50" d="(M[0-9.]+,[0-9.]+) (M[0-9.]+,[0-9.]+)"`).FindStringSubmatch(html)
	if m == nil {
		t.Errorf("p50 with a gap at 2 s not drawn as two separate points:\n%s", regexp.MustCompile(`data-series="p50" d="[^"]*"`).FindString(html))
	}
}

// A capacity search's summary renders as the search: its sentence, the
// rates of its trials against their outcome, the rate found, a row each.
func TestWriteHTMLCapacitySearch(t *testing.T) {
	raw := []byte(`{"mode":"register","transport":"udp","auth":false,"rate_per_s":1607,"confirmed":true,"limited_by":"registrar",
		"failed":{"rate_per_s":1692,"trial":2,"first_failure":{"reason":"503","at_s":4},"failures":{"503":14}},
		"trials":[{"n":1,"phase":"probe","rate_per_s":1692,"attempts":6820,"failures":{"503":14},"first_failure":{"reason":"503","at_s":4},
		  "latency_ms":{"p50":0.06,"p90":0.1,"p99":0.18,"max":1,"count":6806},"generator":{"limited":false,"reasons":[],"rate_offered_per_s":1690},"outcome":"fail"},
		 {"n":2,"phase":"confirm","rate_per_s":1607,"attempts":9641,"failures":{},"latency_ms":{"p50":0.06,"p90":0.1,"p99":0.17,"max":1,"count":9641},
		  "generator":{"limited":false,"reasons":[],"rate_offered_per_s":1606},"outcome":"pass"}]}`)
	var b bytes.Buffer
	if err := WriteHTML(&b, &metrics.Summary{Capacity: raw}, "search"); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	for _, want := range []string{"Registration Rate: 1 607/s over UDP", `data-series="rate offered" d="M`, `data-series="found: 1607/s"`,
		`data-series="registration latency p99" d="M`, "503 at 4.0 s", ">confirm<", ">pass<", ">fail<"} {
		if !strings.Contains(html, want) {
			t.Errorf("no %q in the capacity page", want)
		}
	}
}
