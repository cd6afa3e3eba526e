package registrar

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// model is the location service as it was on the Go heap (a map of AORs,
// each a slice of bindings and a nonce), to check the arena's against.
type model map[string]*modelAOR

type modelAOR struct {
	bindings []Binding
	hasNonce bool
	ts       int64
	nc       uint32
}

func (m model) tidy(aor string) {
	if a := m[aor]; a != nil && len(a.bindings) == 0 && !a.hasNonce {
		delete(m, aor)
	}
}

func (m model) bind(aor, contact, callID string, cseq uint32, exp int64, remove bool) bindResult {
	defer m.tidy(aor)
	a := m[aor]
	if a == nil {
		a = &modelAOR{}
		m[aor] = a
	}
	for i := range a.bindings {
		b := &a.bindings[i]
		if b.Contact != contact {
			continue
		}
		if b.CallID == callID && cseq < b.CSeq {
			return bindOld
		}
		if remove {
			a.bindings = slices.Delete(a.bindings, i, i+1)
			return bindRemoved
		}
		b.Expires, b.CallID, b.CSeq = time.Unix(0, exp), callID, cseq
		return bindRefreshed
	}
	if remove {
		return bindNone
	}
	a.bindings = append(a.bindings, Binding{Contact: contact, Expires: time.Unix(0, exp), CallID: callID, CSeq: cseq})
	return bindAdded
}

func (m model) sweep(now time.Time) (removed int) {
	for k, a := range m {
		kept := a.bindings[:0]
		for _, b := range a.bindings {
			if b.Expires.After(now) {
				kept = append(kept, b)
			} else {
				removed++
			}
		}
		a.bindings = kept
		if len(kept) == 0 {
			delete(m, k)
		}
	}
	return
}

func (m model) all(now time.Time) (out []Binding) {
	for _, a := range m {
		for _, b := range a.bindings {
			if b.Expires.After(now) {
				out = append(out, b)
			}
		}
	}
	return
}

func sortBindings(b []Binding) []string {
	out := make([]string, len(b))
	for i, x := range b {
		out[i] = fmt.Sprintf("%s|%d|%s|%d", x.Contact, x.Expires.UnixNano(), x.CallID, x.CSeq)
	}
	slices.Sort(out)
	return out
}

// TestLocationAgainstModel drives the location service with random
// operations on many AORs (enough for every shard's table to grow, and
// several bindings for some), checks it against the model, then removes
// everything and checks that no block is left in use.
func TestLocationAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	l, m := NewLocation(), model{}
	now := time.Unix(1_000_000, 0)
	const aors = 40000
	aorName := func(i int) string { return fmt.Sprintf("nap%06d@example.com", i) }
	contact := func() string {
		if rng.IntN(50) == 0 { // a long one: a block above 1 KiB
			return "sip:u@h:" + fmt.Sprint(rng.IntN(3)) + ";x=" + strings.Repeat("y", 1500)
		}
		return "sip:u@127.0.0.1:" + fmt.Sprint(5060+rng.IntN(3))
	}
	callID := func() string { return strings.Repeat("c", 1+rng.IntN(3)) + fmt.Sprint(rng.IntN(2)) }
	check := func(step int) {
		t.Helper()
		at := now.Add(time.Duration(rng.IntN(200)) * time.Second)
		got, want := sortBindings(l.All(at)), sortBindings(m.all(at))
		if !slices.Equal(got, want) {
			t.Fatalf("step %d: All: %d bindings, want %d", step, len(got), len(want))
		}
		n, na := l.Count(at)
		wn, wa := 0, 0
		for _, a := range m {
			k := 0
			for _, b := range a.bindings {
				if b.Expires.After(at) {
					k++
				}
			}
			wn += k
			if k > 0 {
				wa++
			}
		}
		if n != wn || na != wa {
			t.Fatalf("step %d: Count %d, %d; want %d, %d", step, n, na, wn, wa)
		}
		for range 50 {
			aor := aorName(rng.IntN(aors))
			var want []Binding
			if a := m[aor]; a != nil {
				for _, b := range a.bindings {
					if b.Expires.After(at) {
						want = append(want, b)
					}
				}
			}
			got := l.Bindings(aor, at)
			if len(got) != len(want) {
				t.Fatalf("step %d: %s: %v, want %v", step, aor, got, want)
			}
			for i := range got { // in order
				if got[i].Contact != want[i].Contact || !got[i].Expires.Equal(want[i].Expires) || got[i].CallID != want[i].CallID || got[i].CSeq != want[i].CSeq {
					t.Fatalf("step %d: %s: %v, want %v", step, aor, got, want)
				}
			}
		}
	}
	for step := range 400_000 {
		aor := aorName(rng.IntN(aors))
		if step < aors {
			aor = aorName(step) // every AOR at least once
		}
		e := l.lock([]byte(aor))
		switch op := rng.IntN(20); {
		case op < 14:
			c, id, cseq := contact(), callID(), uint32(rng.IntN(20))
			exp := now.Add(time.Duration(1+rng.IntN(300)) * time.Second).UnixNano()
			remove := op < 3
			got := e.bind([]byte(c), []byte(id), cseq, exp, remove)
			if want := m.bind(aor, c, id, cseq, exp, remove); got != want {
				t.Fatalf("step %d: bind %s %q: %d, want %d", step, aor, c, got, want)
			}
		case op < 15:
			n := e.clear()
			want := 0
			if a := m[aor]; a != nil {
				want = len(a.bindings)
				a.bindings = nil
				m.tidy(aor)
			}
			if n != want {
				t.Fatalf("step %d: clear %s: %d, want %d", step, aor, n, want)
			}
		default:
			ts, nc, hasNC := int64(1+rng.IntN(2)), uint32(rng.IntN(4)), rng.IntN(4) > 0
			replay, ok := e.replay(ts, hasNC, nc)
			a := m[aor]
			if a == nil {
				a = &modelAOR{}
				m[aor] = a
			}
			want := hasNC && a.hasNonce && a.ts == ts && nc <= a.nc
			if !want {
				a.hasNonce, a.ts, a.nc = true, ts, nc
			}
			if !ok || replay != want {
				t.Fatalf("step %d: replay %s: %v %v, want %v", step, aor, replay, ok, want)
			}
		}
		e.unlock()
		if step%50_000 == 49_999 {
			check(step)
			at := now.Add(time.Duration(rng.IntN(100)) * time.Second)
			if got, want := l.Sweep(at), m.sweep(at); got != want {
				t.Fatalf("step %d: swept %d, want %d", step, got, want)
			}
			check(step)
		}
	}
	if _, _, tables := l.memStats(); tables <= locShards*tableMinSlots*8 {
		t.Errorf("tables %d B: never grew", tables)
	}
	l.Sweep(now.Add(time.Hour))
	m.sweep(now.Add(time.Hour))
	if len(m) != 0 {
		t.Fatalf("model keeps %d AORs", len(m))
	}
	inUse, arenas, tables := l.memStats()
	if inUse != 0 || arenas > locShards*8 || tables > locShards*tableMinSlots*8 {
		t.Errorf("all swept: %d B in use, arenas %d B, tables %d B", inUse, arenas, tables)
	}
}

// TestLocationRecordLimits: a record bigger than a block is refused, not
// truncated, and leaves nothing behind.
func TestLocationRecordLimits(t *testing.T) {
	l := NewLocation()
	long := "x" + strings.Repeat("y", 2000) + "@b"
	for _, c := range []struct {
		aor, contact, callID string
		want                 bindResult
	}{
		{"a@b", "sip:a@" + strings.Repeat("h", 70000), "c", bindFull},                         // a length above 65 535
		{long, "sip:a@" + strings.Repeat("h", 65000), strings.Repeat("i", 65000), bindFull},   // a block above 128 KiB
		{"b@b", "sip:a@" + strings.Repeat("h", 65000), strings.Repeat("i", 65000), bindAdded}, // 130 030 B
		{"c@b", "sip:a@" + strings.Repeat("h", 60000), "c", bindAdded},
	} {
		e := l.lock([]byte(c.aor))
		if got := e.bind([]byte(c.contact), []byte(c.callID), 1, 1, false); got != c.want {
			t.Errorf("%d-byte AOR, %d-byte contact, %d-byte Call-ID: %d, want %d", len(c.aor), len(c.contact), len(c.callID), got, c.want)
		}
		e.unlock()
	}
	if b := l.Bindings("c@b", time.Unix(0, 0)); len(b) != 1 || len(b[0].Contact) != 60006 {
		t.Fatalf("%d bindings", len(b))
	}
	if n, aors := l.Count(time.Unix(0, 0)); n != 2 || aors != 2 {
		t.Errorf("%d bindings for %d AORs, want 2, 2", n, aors)
	}
	l.Sweep(time.Unix(0, 2))
	if inUse, _, _ := l.memStats(); inUse != 0 {
		t.Errorf("%d B in use", inUse)
	}
}

// TestArenaClasses: each size gets the smallest class that holds it, and
// a freed block is reused for the same class.
func TestArenaClasses(t *testing.T) {
	for _, c := range []struct{ size, class int }{{1, 8}, {8, 8}, {9, 16}, {105, 112}, {1024, 1024}, {1025, 2048}, {70000, 128 << 10}} {
		k, ok := classOf(c.size)
		if !ok || classSize(k) != c.class {
			t.Errorf("size %d: class %d (%v), want %d", c.size, classSize(k), ok, c.class)
		}
	}
	if _, ok := classOf(128<<10 + 1); ok {
		t.Error("above 128 KiB: a class")
	}
	var a arena
	defer a.reset(false)
	r1, c1 := a.alloc(100)
	r2, _ := a.alloc(100)
	if r1 == 0 || r2 == 0 || r1 == r2 {
		t.Fatalf("refs %d %d", r1, r2)
	}
	a.release(r1, c1)
	if r3, _ := a.alloc(97); r3 != r1 {
		t.Errorf("freed block not reused: %d, want %d", r3, r1)
	}
	if a.inUse != 2*104 {
		t.Errorf("in use %d", a.inUse)
	}
}
