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

// TestRandomFineStepsAgainstReference drives the wheel the way an event
// loop does (small steps, timers re-armed from their callbacks, sets and
// cancels between steps), so timers are moved ahead of their slot's time
// (precascade) and also added to a slot while it is being moved; every
// firing must still be exact.
func TestRandomFineStepsAgainstReference(t *testing.T) {
	const n = 5000
	horizon := int64(3 << 18) // three level-3 slots, in ms
	rng := rand.New(rand.NewPCG(3, 4))
	want := map[uint32]time.Duration{}
	fired, rearm := 0, true
	var w *Wheel
	w = NewWheel(n, time.Millisecond, func(id uint32, now time.Duration) {
		if want[id] != now {
			t.Fatalf("id %d fired at %v, want %v", id, now, want[id])
		}
		delete(want, id)
		fired++
		if rearm && rng.IntN(2) == 0 { // re-arm, like a refresh
			at := now + time.Duration(1+rng.Int64N(horizon/2))*time.Millisecond
			w.Set(id, at)
			want[id] = at
		}
	})
	for i := 0; i < n; i++ {
		at := time.Duration(1+rng.Int64N(horizon)) * time.Millisecond
		w.Set(uint32(i), at)
		want[uint32(i)] = at
	}
	end := time.Duration(2*horizon) * time.Millisecond
	for now := time.Duration(0); now < end; now += time.Duration(1+rng.Int64N(300)) * time.Millisecond {
		w.Advance(now)
		for k := rng.IntN(4); k > 0; k-- {
			id := uint32(rng.IntN(n))
			switch rng.IntN(3) {
			case 0:
				w.Cancel(id)
				delete(want, id)
			default:
				at := now + time.Duration(rng.Int64N(horizon))*time.Millisecond
				w.Set(id, at)
				if at <= now {
					at = now + time.Millisecond
				}
				want[id] = at
			}
		}
		for id, at := range want {
			if at <= now {
				t.Fatalf("id %d due at %v not fired by %v", id, at, now)
			}
			break // one sample per step keeps the test fast; the end checks all
		}
	}
	rearm = false
	w.Advance(end + time.Duration(horizon)*time.Millisecond)
	if len(want) != 0 || w.Pending() != 0 {
		t.Fatalf("%d not fired, %d pending", len(want), w.Pending())
	}
	if fired < n {
		t.Fatalf("only %d fired", fired)
	}
}

// TestCascadeIsSpread puts 2^20 timers in one level-3 slot (due between
// 262 s and 524 s) and advances a millisecond at a time, as the event loop
// does under load: no Advance may move more than a few hundred of them,
// where the whole slot used to move in the one call at 262.144 s.
func TestCascadeIsSpread(t *testing.T) {
	if testing.Short() {
		t.Skip("steps 524 288 ticks")
	}
	const n = 1 << 20
	fired := 0
	var last time.Duration
	w := NewWheel(n, time.Millisecond, func(id uint32, now time.Duration) {
		if now < last {
			t.Fatalf("fired at %v after %v", now, last)
		}
		last = now
		fired++
	})
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < n; i++ {
		w.Set(uint32(i), time.Duration(1<<18+rng.Int64N(1<<18))*time.Millisecond)
	}
	most, at := 0, time.Duration(0)
	for ms := time.Duration(1); ms <= 1<<19; ms++ {
		before := w.moved
		w.Advance(ms * time.Millisecond)
		if m := w.moved - before; m > most {
			most, at = m, ms*time.Millisecond
		}
	}
	if fired != n {
		t.Fatalf("%d fired, want %d", fired, n)
	}
	// A tick moves at most precascadePace from each of levels 2 and 3,
	// plus a level-1 slot cascaded whole (2^20 timers over 2^12 such
	// slots: 256 each on average), plus room for the draw's spread.
	t.Logf("at most %d timers moved in one Advance (at %v), %d moves in all", most, at, w.moved)
	if want := 2*precascadePace + n>>12 + 64; most > want {
		t.Errorf("%d timers moved in one Advance at %v, want <= %d", most, at, want)
	}
}
