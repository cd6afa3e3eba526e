// Package scheduler holds a hierarchical timer wheel (Varghese & Lauck) for
// hundreds of thousands of NAPs, and the clocks that drive it.
//
// Timers are small integers (a NAP's index), not objects: the wheel keeps
// parallel slices indexed by id, so 10^6 pending timers are ~20 MB with no
// pointer for the garbage collector to scan, and Set and Cancel are O(1)
// with no allocation. Each id has at most one pending deadline; a NAP with
// several (retransmit, Timer F) asks for the earliest.
//
// A coarse slot is not cascaded all at once when its time comes: with 10^7
// refresh timers a level-3 slot (2^18 ticks) holds millions, and moving them
// in one Advance stalled the event loop for seconds every 262 s. Each level
// keeps two sets of slots, for its current rotation and the next one, and
// Advance moves the next coarse slot's timers down into the next rotation a
// bounded number per elapsed tick, ahead of that slot's time.
package scheduler

import (
	"math/bits"
	"time"
)

const (
	slotBits  = 6
	slotCount = 1 << slotBits // slots per level
	levels    = 11            // 11 × 6 bits cover every int64 tick
	none      = 0             // list terminator; ids are stored +1
)

// Wheel is a hierarchical timing wheel. Deadlines are kept exact: a timer
// placed in a coarse level is cascaded down as its time approaches, never
// rounded. It is not safe for concurrent use: one wheel per event loop.
type Wheel struct {
	res  time.Duration // duration of one tick
	now  int64         // last tick processed
	fire func(id uint32, now time.Duration)

	// Slot lists by level, rotation parity and slot. A level's rotation is
	// one slot of the level above; parity tells the current rotation from
	// the next, which only the early cascade (precascade) fills.
	heads    [levels][2][slotCount]uint32
	occupied [levels][2]uint64 // bit s set: heads[l][p][s] is not empty

	next, prev []uint32 // doubly linked slot lists, ids +1
	when       []int64  // deadline tick; -1 when not scheduled
	loc        []uint16 // (level*2+parity)*slotCount + slot, for O(1) unlink
	pending    int
	moved      int // cascade moves, for tests of how work is spread
}

// NewWheel makes a wheel for ids 0..capacity-1 with the given tick
// resolution, calling fire for each timer that expires during Advance. fire
// may Set or Cancel any timer, including the one that fired.
func NewWheel(capacity int, resolution time.Duration, fire func(id uint32, now time.Duration)) *Wheel {
	w := &Wheel{
		res:  resolution,
		fire: fire,
		next: make([]uint32, capacity),
		prev: make([]uint32, capacity),
		when: make([]int64, capacity),
		loc:  make([]uint16, capacity),
	}
	for i := range w.when {
		w.when[i] = -1
	}
	return w
}

// Now is the time the wheel has been advanced to.
func (w *Wheel) Now() time.Duration { return time.Duration(w.now) * w.res }

// Pending is the number of scheduled timers.
func (w *Wheel) Pending() int { return w.pending }

// Grow extends the id space to capacity (used when NAPs are added).
func (w *Wheel) Grow(capacity int) {
	n := capacity - len(w.when)
	if n <= 0 {
		return
	}
	w.next = append(w.next, make([]uint32, n)...)
	w.prev = append(w.prev, make([]uint32, n)...)
	w.loc = append(w.loc, make([]uint16, n)...)
	from := len(w.when)
	w.when = append(w.when, make([]int64, n)...)
	for i := from; i < len(w.when); i++ {
		w.when[i] = -1
	}
}

// Scheduled reports whether id has a pending deadline, and when.
func (w *Wheel) Scheduled(id uint32) (time.Duration, bool) {
	t := w.when[id]
	return time.Duration(t) * w.res, t >= 0
}

// Set schedules id at the absolute time at, replacing any earlier deadline.
// A time not after Now fires at the next tick. Times are rounded up to the
// resolution, so a timer never fires early.
func (w *Wheel) Set(id uint32, at time.Duration) {
	if w.when[id] >= 0 {
		w.unlink(id)
	} else {
		w.pending++
	}
	t := int64((at + w.res - 1) / w.res)
	if t <= w.now {
		t = w.now + 1
	}
	w.when[id] = t
	w.insert(id, t)
}

// Cancel removes id's pending deadline, if any.
func (w *Wheel) Cancel(id uint32) {
	if w.when[id] >= 0 {
		w.unlink(id)
		w.when[id] = -1
		w.pending--
	}
}

// parity is the parity of tick t's rotation at level l (the rotation's
// number is t's index in level l+1).
func parity(t int64, l int) int {
	shift := uint(l+1) * slotBits
	if shift >= 63 {
		return 0
	}
	return int(t>>shift) & 1
}

// insert links id into the slot that holds tick t: the level is the
// highest 6-bit group in which t and now differ, so the timer is cascaded
// exactly when now reaches that group's boundary.
func (w *Wheel) insert(id uint32, t int64) {
	w.place(id, t, (bits.Len64(uint64(t^w.now))-1)/slotBits)
}

// place links id into level l's slot for tick t, in the rotation t is in.
func (w *Wheel) place(id uint32, t int64, l int) {
	s := int(t>>(uint(l)*slotBits)) & (slotCount - 1)
	p := parity(t, l)
	w.loc[id] = uint16((l*2+p)*slotCount + s)
	h := w.heads[l][p][s]
	w.next[id] = h
	w.prev[id] = none
	if h != none {
		w.prev[h-1] = id + 1
	}
	w.heads[l][p][s] = id + 1
	w.occupied[l][p] |= 1 << uint(s)
}

func (w *Wheel) unlink(id uint32) {
	lp, s := int(w.loc[id])/slotCount, int(w.loc[id])%slotCount
	l, p := lp/2, lp%2
	n, pr := w.next[id], w.prev[id]
	if pr != none {
		w.next[pr-1] = n
	} else {
		w.heads[l][p][s] = n
		if n == none {
			w.occupied[l][p] &^= 1 << uint(s)
		}
	}
	if n != none {
		w.prev[n-1] = pr
	}
}

// nextEvent returns the next tick after now at which a slot must be
// processed (a level-0 slot firing, or a higher slot cascading), and
// whether there is one.
func (w *Wheel) nextEvent() (int64, bool) {
	best, found := int64(0), false
	for l := 0; l < levels; l++ {
		shift := uint(l) * slotBits
		cur := int(w.now>>shift) & (slotCount - 1)
		p := parity(w.now, l)
		var rot int64 // start of the current rotation
		if shift+slotBits < 63 {
			rot = w.now >> (shift + slotBits) << (shift + slotBits)
		}
		// Slots strictly after the current one in this rotation: earlier
		// than anything in a higher level or a later rotation.
		if cur < slotCount-1 {
			if mask := w.occupied[l][p] &^ (1<<uint(cur+1) - 1); mask != 0 {
				t := rot | int64(bits.TrailingZeros64(mask))<<shift
				if !found || t < best {
					best = t
				}
				return best, true
			}
		}
		// Slots of the next rotation, filled ahead of time by precascade.
		if mask := w.occupied[l][p^1]; mask != 0 && l < levels-1 {
			t := rot + 1<<(shift+slotBits) + int64(bits.TrailingZeros64(mask))<<shift
			if !found || t < best {
				best, found = t, true
			}
		}
	}
	return best, found
}

// NextDeadline is the time of the next slot to process, for a driver that
// sleeps until then. It may be a cascade point earlier than any deadline.
func (w *Wheel) NextDeadline() (time.Duration, bool) {
	t, ok := w.nextEvent()
	return time.Duration(t) * w.res, ok
}

// Advance processes every tick up to and including to, firing expired
// timers in deadline order; timers with the same tick fire in an order
// that is not specified. Time never goes backwards.
func (w *Wheel) Advance(to time.Duration) {
	target := int64(to / w.res)
	from := w.now
	for {
		t, ok := w.nextEvent()
		if !ok || t > target {
			if target > w.now {
				w.now = target
			}
			break
		}
		w.now = t
		// The lowest level whose current slot boundary is t: level 0 fires,
		// higher levels cascade (their timers re-insert into lower levels).
		for l := levels - 1; l >= 1; l-- {
			shift := uint(l) * slotBits
			if t&(1<<shift-1) != 0 {
				continue
			}
			s, p := int(t>>shift)&(slotCount-1), parity(t, l)
			for h := w.heads[l][p][s]; h != none; h = w.heads[l][p][s] {
				id := h - 1
				w.unlink(id)
				w.insert(id, w.when[id])
				w.moved++
			}
		}
		s, p := int(t)&(slotCount-1), parity(t, 0)
		now := time.Duration(t) * w.res
		for h := w.heads[0][p][s]; h != none; h = w.heads[0][p][s] {
			id := h - 1
			w.unlink(id)
			w.when[id] = -1
			w.pending--
			w.fire(id, now)
		}
	}
	if w.now > from {
		w.precascade(w.now - from)
	}
}

// precascadePace is how many timers per elapsed tick precascade moves
// from each level's next slot: enough to empty a level-2 slot (4 096
// ticks) of 524 288 timers, a level-3 slot of 3·10^7, before their time.
const precascadePace = 128

// precascade moves timers of each level's next slot (from level 2 up)
// down into the next rotation of the level below, precascadePace per
// elapsed tick, so that slot is empty, or nearly, when its time comes.
// Level-1 slots span 64 ticks: cascading one at once costs what firing
// its timers costs.
func (w *Wheel) precascade(elapsed int64) {
	for l := 2; l < levels; l++ {
		if w.occupied[l][0]|w.occupied[l][1] == 0 {
			continue
		}
		shift := uint(l) * slotBits
		cur := int(w.now>>shift) & (slotCount - 1)
		p, s := parity(w.now, l), cur+1
		if cur == slotCount-1 {
			if l == levels-1 {
				continue
			}
			p, s = p^1, 0
		}
		for budget := elapsed * precascadePace; budget > 0 && w.heads[l][p][s] != none; budget-- {
			id := w.heads[l][p][s] - 1
			w.unlink(id)
			w.place(id, w.when[id], l-1)
			w.moved++
		}
	}
}
