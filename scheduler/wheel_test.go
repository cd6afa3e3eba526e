package scheduler

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

type firing struct {
	id uint32
	at time.Duration
}

func TestFiresAtExactDeadlines(t *testing.T) {
	var got []firing
	w := NewWheel(16, time.Millisecond, func(id uint32, now time.Duration) { got = append(got, firing{id, now}) })
	deadlines := map[uint32]time.Duration{
		0: 500 * time.Millisecond, 1: 1500 * time.Millisecond, 2: 32 * time.Second,
		3: 37 * time.Second, 4: 1800 * time.Second, 5: 64 * time.Millisecond,
		6: 63 * time.Millisecond, 7: 4096 * time.Millisecond, 8: 262144 * time.Millisecond,
		9: 24 * time.Hour, 10: time.Millisecond,
	}
	for id, at := range deadlines {
		w.Set(id, at)
	}
	w.Advance(25 * time.Hour)
	if len(got) != len(deadlines) {
		t.Fatalf("%d fired, want %d", len(got), len(deadlines))
	}
	for i, f := range got {
		if f.at != deadlines[f.id] {
			t.Errorf("id %d fired at %v, want %v", f.id, f.at, deadlines[f.id])
		}
		if i > 0 && f.at < got[i-1].at {
			t.Errorf("out of order: %v after %v", f.at, got[i-1].at)
		}
	}
	if w.Pending() != 0 {
		t.Errorf("%d still pending", w.Pending())
	}
}

func TestAdvanceStopsAtTarget(t *testing.T) {
	var got []firing
	w := NewWheel(4, time.Millisecond, func(id uint32, now time.Duration) { got = append(got, firing{id, now}) })
	w.Set(0, 10*time.Second)
	w.Advance(9999 * time.Millisecond)
	if len(got) != 0 || w.Now() != 9999*time.Millisecond {
		t.Fatalf("fired early: %v, now %v", got, w.Now())
	}
	w.Advance(10 * time.Second)
	if len(got) != 1 || got[0].at != 10*time.Second {
		t.Fatalf("got %v", got)
	}
}

func TestCancelAndReset(t *testing.T) {
	fired := map[uint32]time.Duration{}
	w := NewWheel(8, time.Millisecond, func(id uint32, now time.Duration) { fired[id] = now })
	w.Set(1, 5*time.Second)
	w.Set(2, 5*time.Second)
	w.Set(3, 5*time.Second)
	w.Cancel(2)
	w.Set(3, 7*time.Second) // re-set replaces the earlier deadline
	w.Cancel(5)             // not scheduled: no-op
	if w.Pending() != 2 {
		t.Errorf("Pending() = %d after set, cancel and re-set, want 2", w.Pending())
	}
	if at, ok := w.Scheduled(3); !ok || at != 7*time.Second {
		t.Errorf("Scheduled(3) = %v %v", at, ok)
	}
	w.Advance(time.Minute)
	if _, ok := fired[2]; ok {
		t.Error("cancelled timer fired")
	}
	if fired[1] != 5*time.Second || fired[3] != 7*time.Second || len(fired) != 2 {
		t.Errorf("fired %v", fired)
	}
}

func TestPastDeadlineFiresNextTickAndRoundsUp(t *testing.T) {
	var got []firing
	w := NewWheel(4, time.Millisecond, func(id uint32, now time.Duration) { got = append(got, firing{id, now}) })
	w.Advance(time.Second)
	w.Set(0, 0)
	w.Set(1, time.Second+100*time.Microsecond) // rounds up, never early
	w.Advance(2 * time.Second)
	if len(got) != 2 || got[0].at != time.Second+time.Millisecond || got[1].at != time.Second+time.Millisecond {
		t.Errorf("got %v", got)
	}
}

func TestRescheduleFromCallback(t *testing.T) {
	// A periodic timer re-armed from its own callback: the refresh pattern.
	var at []time.Duration
	var w *Wheel
	w = NewWheel(1, time.Millisecond, func(id uint32, now time.Duration) {
		at = append(at, now)
		if len(at) < 48 {
			w.Set(id, now+1800*time.Second)
		}
	})
	w.Set(0, 1800*time.Second)
	w.Advance(100 * time.Hour)
	if len(at) != 48 {
		t.Fatalf("%d firings", len(at))
	}
	for i, a := range at {
		if a != time.Duration(i+1)*1800*time.Second {
			t.Fatalf("firing %d at %v", i, a)
		}
	}
}

// TestRandomAgainstSort checks many random deadlines, sets and cancels
// against a plain sorted reference.
func TestRandomAgainstSort(t *testing.T) {
	const n = 20000
	rng := rand.New(rand.NewPCG(1, 2))
	var got []firing
	w := NewWheel(n, time.Millisecond, func(id uint32, now time.Duration) { got = append(got, firing{id, now}) })
	want := map[uint32]time.Duration{}
	for i := 0; i < n; i++ {
		id := uint32(i)
		at := time.Duration(rng.Int64N(int64(48*time.Hour/time.Millisecond))) * time.Millisecond
		w.Set(id, at)
		want[id] = at
		if rng.IntN(5) == 0 {
			w.Cancel(id)
			delete(want, id)
		}
	}
	// Advance in uneven steps, so cascades happen between and inside steps.
	for now := time.Duration(0); now < 49*time.Hour; now += time.Duration(rng.Int64N(int64(20 * time.Minute))) {
		w.Advance(now)
	}
	w.Advance(49 * time.Hour)
	if len(got) != len(want) {
		t.Fatalf("%d fired, want %d", len(got), len(want))
	}
	for _, f := range got {
		if want[f.id] != f.at {
			t.Fatalf("id %d at %v, want %v", f.id, f.at, want[f.id])
		}
	}
	if !sort.SliceIsSorted(got, func(i, j int) bool { return got[i].at < got[j].at }) {
		t.Fatal("not in deadline order")
	}
}

func TestSetCancelAllocs(t *testing.T) {
	w := NewWheel(1024, time.Millisecond, func(uint32, time.Duration) {})
	n := testing.AllocsPerRun(1000, func() {
		w.Set(7, 1800*time.Second)
		w.Set(8, 5*time.Second)
		w.Cancel(7)
		w.Cancel(8)
	})
	if n != 0 {
		t.Errorf("Set/Cancel allocate %v", n)
	}
}

func TestSimClock(t *testing.T) {
	var seen []time.Duration
	var s *Sim
	s = NewSim(2, time.Millisecond, func(id uint32, now time.Duration) { seen = append(seen, s.Clock.Now()) })
	s.Wheel.Set(0, 1500*time.Millisecond)
	s.RunUntil(10 * time.Second)
	if len(seen) != 1 || seen[0] != 1500*time.Millisecond || s.Clock.Now() != 10*time.Second {
		t.Errorf("seen %v now %v", seen, s.Clock.Now())
	}
	s.Clock.Set(time.Second) // never backwards
	if s.Clock.Now() != 10*time.Second {
		t.Error("clock went backwards")
	}
}
