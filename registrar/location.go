package registrar

import (
	"hash/maphash"
	"sync"
	"time"
)

// Binding is one contact of an address of record (RFC 3261 §10.3).
type Binding struct {
	Contact string
	Expires time.Time
	CallID  string
	CSeq    uint32
}

// record is an address of record: its bindings and the last nonce count
// seen with its credentials (replay protection).
type record struct {
	bindings []Binding
	nonce    [64]byte
	nonceLen uint8
	nc       uint32
}

const locShards = 64

// Location is the location service: AOR → bindings, sharded by AOR hash
// so that event loops rarely contend.
type Location struct {
	seed   maphash.Seed
	shards [locShards]struct {
		sync.Mutex
		aors map[string]*record
	}
}

// NewLocation makes an empty location service.
func NewLocation() *Location {
	l := &Location{seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].aors = map[string]*record{}
	}
	return l
}

func (l *Location) shard(aor []byte) int { return int(maphash.Bytes(l.seed, aor) % locShards) }

// with runs fn with the record of aor (created if create is set) under
// its shard's lock; rec is nil when absent and not created.
func (l *Location) with(aor []byte, create bool, fn func(rec *record)) {
	s := &l.shards[l.shard(aor)]
	s.Lock()
	defer s.Unlock()
	rec := s.aors[string(aor)]
	if rec == nil && create {
		rec = &record{}
		s.aors[string(aor)] = rec
	}
	fn(rec)
	if rec != nil && len(rec.bindings) == 0 && rec.nonceLen == 0 {
		delete(s.aors, string(aor))
	}
}

// Bindings returns a copy of the live bindings of aor ("user@domain").
func (l *Location) Bindings(aor string, now time.Time) []Binding {
	var out []Binding
	l.with([]byte(aor), false, func(rec *record) {
		if rec == nil {
			return
		}
		for _, b := range rec.bindings {
			if b.Expires.After(now) {
				out = append(out, b)
			}
		}
	})
	return out
}

// All returns a copy of every live binding.
func (l *Location) All(now time.Time) []Binding {
	var out []Binding
	for i := range l.shards {
		s := &l.shards[i]
		s.Lock()
		for _, rec := range s.aors {
			for _, b := range rec.bindings {
				if b.Expires.After(now) {
					out = append(out, b)
				}
			}
		}
		s.Unlock()
	}
	return out
}

// Count is the number of live bindings and of AORs holding them.
func (l *Location) Count(now time.Time) (bindings, aors int) {
	for i := range l.shards {
		s := &l.shards[i]
		s.Lock()
		for _, rec := range s.aors {
			n := 0
			for _, b := range rec.bindings {
				if b.Expires.After(now) {
					n++
				}
			}
			bindings += n
			if n > 0 {
				aors++
			}
		}
		s.Unlock()
	}
	return
}

// Sweep removes expired bindings (and records left empty).
func (l *Location) Sweep(now time.Time) (removed int) {
	for i := range l.shards {
		s := &l.shards[i]
		s.Lock()
		for k, rec := range s.aors {
			kept := rec.bindings[:0]
			for _, b := range rec.bindings {
				if b.Expires.After(now) {
					kept = append(kept, b)
				} else {
					removed++
				}
			}
			rec.bindings = kept
			if len(kept) == 0 {
				delete(s.aors, k)
			}
		}
		s.Unlock()
	}
	return
}
