package metrics

import (
	"testing"
	"time"
)

func TestDiff(t *testing.T) {
	h := NewHistogram()
	for i := 0; i < 100; i++ {
		Latency(h, time.Millisecond)
	}
	before := h.Clone()
	for i := 0; i < 10; i++ {
		Latency(h, 50*time.Millisecond)
	}
	d := Diff(h, before)
	if d.TotalCount() != 10 || d.ValueAtQuantile(50) < 49900 || d.ValueAtQuantile(50) > 50100 {
		t.Fatalf("diff: %d values, p50 %d µs", d.TotalCount(), d.ValueAtQuantile(50))
	}
}
