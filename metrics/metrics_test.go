package metrics

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestMergeAndSummary(t *testing.T) {
	a, b := NewRecorder(), NewRecorder()
	for i := 1; i <= 100; i++ {
		Latency(a.Transaction, time.Duration(i)*time.Millisecond)
	}
	Latency(b.Transaction, 2*time.Second)
	a.Requests, b.Requests = 60, 41
	a.Response(200)
	b.Response(200)
	b.Response(503)
	a.Registered, b.Registered = 3, 4
	tot := Merge([]*Recorder{a, b})
	if tot.Requests != 101 || tot.Responses[200] != 2 || tot.Responses[503] != 1 || tot.Registered != 7 {
		t.Fatalf("%+v", tot)
	}
	s := NewSummary(tot, 10, "udp", 7, 2)
	if s.LatencyMS.Count != 101 || s.LatencyMS.Max < 1999 || s.LatencyMS.P50 < 49 || s.LatencyMS.P50 > 52 {
		t.Errorf("latency %+v", s.LatencyMS)
	}
	if s.RegisterRatePerS != 50.5 || s.Responses["503"] != 1 {
		t.Errorf("rate %v responses %v", s.RegisterRatePerS, s.Responses)
	}
	var buf bytes.Buffer
	if err := s.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil || m["thresholds_failed"] == nil {
		t.Errorf("JSON %v: %s", err, buf.String())
	}
}

func TestLatencyClampsOutOfRange(t *testing.T) {
	h := NewHistogram()
	Latency(h, 0)
	Latency(h, 5*time.Hour)
	if h.TotalCount() != 2 {
		t.Errorf("%d recorded", h.TotalCount())
	}
}
