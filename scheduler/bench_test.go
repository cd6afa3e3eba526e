package scheduler

import (
	"math/rand/v2"
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

// BenchmarkRefreshHold holds 10^6 timers re-armed the way refreshes are
// (each at a uniform 150-450 s ahead: --expires 900 --expires-jitter 600,
// refreshed at half) and advances a millisecond at a time for 600 s, as the
// event loop does under load. It reports the slowest Advance call, which is
// how long the loop stalls: the cascade of a level-3 slot (every 262 s)
// once took one call.
func BenchmarkRefreshHold(b *testing.B) {
	const n = 1_000_000
	rng := rand.New(rand.NewPCG(7, 8))
	var w *Wheel
	fired := 0
	w = NewWheel(n, time.Millisecond, func(id uint32, now time.Duration) {
		fired++
		w.Set(id, now+time.Duration(150_000+rng.Int64N(300_000))*time.Millisecond)
	})
	var worst time.Duration
	for b.Loop() {
		base := w.Now()
		for i := 0; i < n; i++ {
			w.Set(uint32(i), base+time.Duration(150_000+rng.Int64N(300_000))*time.Millisecond)
		}
		for ms := time.Duration(1); ms <= 600_000; ms++ {
			start := time.Now()
			w.Advance(base + ms*time.Millisecond)
			worst = max(worst, time.Since(start))
		}
	}
	b.ReportMetric(float64(worst.Microseconds()), "worst-µs/advance")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(fired), "ns/firing")
}
