package registrar

import (
	"runtime"
	"sync/atomic"
	"testing"
)

// Idle workers survive garbage collections: the server keeps every worker
// it made for Stats, so one made again after a collection dropped the old
// one would stay in memory for good.
func TestWorkersAreReusedAcrossCollections(t *testing.T) {
	p := &workers{reg: New(Config{})}
	a, b := p.get(), p.get()
	atomic.AddInt64(&a.Requests, 3)
	atomic.AddInt64(&b.Requests, 4)
	p.put(a)
	p.put(b)
	for range 3 {
		runtime.GC()
	}
	for range 100 {
		w := p.get()
		if w != a && w != b {
			t.Fatal("a new worker while two were idle")
		}
		p.put(w)
	}
	n, sum := 0, int64(0)
	p.each(func(w *Worker) { n++; sum += atomic.LoadInt64(&w.Requests) })
	if n != 2 || sum != 7 {
		t.Errorf("%d workers, %d requests counted; want 2 and 7", n, sum)
	}
}

// BenchmarkWorkersGetPut is the pool's cost per message handled, with as
// many goroutines as cores taking workers at once (the event loops).
func BenchmarkWorkersGetPut(b *testing.B) {
	p := &workers{reg: New(Config{})}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p.put(p.get())
		}
	})
}
