package scheduler

import (
	"runtime"
	"testing"
	"time"
)

func BenchmarkSetCancel(b *testing.B) {
	w := NewWheel(1<<20, time.Millisecond, func(uint32, time.Duration) {})
	b.ReportAllocs()
	var id uint32
	for b.Loop() {
		id = (id + 7919) & (1<<20 - 1)
		w.Set(id, 1800*time.Second)
		w.Cancel(id)
	}
}

// BenchmarkSetWith1MPending measures Set (re-arm) when 10^6 timers are
// pending, the steady state of a 10^6-NAP run.
func BenchmarkSetWith1MPending(b *testing.B) {
	const n = 1_000_000
	w := NewWheel(n, time.Millisecond, func(uint32, time.Duration) {})
	for i := 0; i < n; i++ {
		w.Set(uint32(i), time.Duration(i%30000)*time.Millisecond+time.Second)
	}
	b.ReportAllocs()
	var id uint32
	for b.Loop() {
		id = (id + 7919) % n
		w.Set(id, time.Duration(id%60000)*time.Millisecond+time.Second)
	}
}

// BenchmarkFire1M fires 10^6 timers spread over a 30 s window (the 10^6
// NAPs with --expires 60 refreshing every 30 s) and reports ns per timer.
func BenchmarkFire1M(b *testing.B) {
	const n = 1_000_000
	fired := 0
	w := NewWheel(n, time.Millisecond, func(uint32, time.Duration) { fired++ })
	b.ReportAllocs()
	for b.Loop() {
		base := w.Now()
		for i := 0; i < n; i++ {
			w.Set(uint32(i), base+time.Duration(i%30000)*time.Millisecond+time.Millisecond)
		}
		w.Advance(base + 31*time.Second)
	}
	if fired != n*b.N {
		b.Fatalf("fired %d", fired)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*b.N), "ns/timer")
}

// TestMemoryFor1MTimers reports (and bounds) the heap of a wheel with 10^6
// pending timers: 4+4+8+2 bytes per id plus fixed heads.
func TestMemoryFor1MTimers(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 20 MB")
	}
	const n = 1_000_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	w := NewWheel(n, time.Millisecond, func(uint32, time.Duration) {})
	for i := 0; i < n; i++ {
		w.Set(uint32(i), time.Duration(i)*time.Millisecond+time.Second)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perTimer := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("10^6 pending timers: %.1f bytes/timer heap", perTimer)
	if perTimer > 24 {
		t.Errorf("%.1f bytes per timer, want <= 24", perTimer)
	}
	runtime.KeepAlive(w)
}
