package registrar

import (
	"hash/maphash"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"github.com/regstorm/regstorm/sipwire"
)

// Binding is one contact of an address of record (RFC 3261 §10.3).
type Binding struct {
	Contact string
	Expires time.Time
	CallID  string
	CSeq    uint32
}

// rec is a record in a shard's arena: an AOR's head record (in the table,
// alen > 0), which may hold a binding and the AOR's nonce state, or one
// of its further bindings (chained by next from the head, alen 0). The
// header is followed by the nonce state (with recNonce), then the AOR,
// the contact and the Call-ID bytes: one block. Most AORs have one
// binding: one block of 24 B + their bytes, and one table slot.
type rec struct {
	exp   int64  // expiry, Unix ns (with recBound)
	cseq  uint32 // of the request that made or last refreshed it
	next  ref    // the AOR's next binding (0: none)
	alen  uint16 // the AOR's length (head only)
	clen  uint16 // the contact's
	ilen  uint16 // the Call-ID's
	flags uint8
	class uint8 // the block's size class
}

const (
	recBound = 1 << iota // the record holds a binding (always, but a head's)
	recNonce             // a nonceState follows the header (head only)

	recHdr = int(unsafe.Sizeof(rec{}))
)

// nonceState is the last nonce seen with an AOR's credentials and its
// count (replay protection). A nonce is known by its timestamp: its MAC
// is a function of it, and it passed the MAC check.
type nonceState struct {
	ts int64
	nc uint32
	_  uint32
}

const nonceHdr = int(unsafe.Sizeof(nonceState{}))

const (
	locShardBits = 6
	locShards    = 1 << locShardBits // by the hash's top bits; its low ones place it in the table
)

type shard struct {
	sync.Mutex
	mem arena
	t   table
}

// Location is the location service: AOR → bindings, sharded by AOR hash
// so that event loops rarely contend. Its records live outside the Go
// heap (arena.go), freed when the Location is collected.
type Location struct {
	seed   maphash.Seed
	shards *[locShards]shard
}

// NewLocation makes an empty location service.
func NewLocation() *Location {
	l := &Location{seed: maphash.MakeSeed(), shards: new([locShards]shard)}
	runtime.AddCleanup(l, func(sh *[locShards]shard) {
		for i := range sh {
			sh[i].mem.reset(false)
			sh[i].t.free()
		}
	}, l.shards)
	return l
}

func (s *shard) rec(r ref) *rec { return (*rec)(s.mem.ptr(r)) }

func (s *shard) nonce(r ref) *nonceState { return (*nonceState)(unsafe.Add(s.mem.ptr(r), recHdr)) }

// data is the AOR, the contact and the Call-ID of record r.
func (s *shard) data(r ref, x *rec) (aor, contact, callID []byte) {
	off := recHdr
	if x.flags&recNonce != 0 {
		off += nonceHdr
	}
	d := s.mem.bytes(r, off, int(x.alen)+int(x.clen)+int(x.ilen))
	return d[:x.alen], d[x.alen : int(x.alen)+int(x.clen)], d[int(x.alen)+int(x.clen):]
}

// make writes a new record of these bytes (copied) with the header of
// from, without its next and class, and with nonce state if withNonce
// (from's, or zero); ref 0 if it does not fit.
func (s *shard) make(from *rec, nonce *nonceState, withNonce bool, aor, contact, callID []byte) ref {
	if len(aor) > 0xffff || len(contact) > 0xffff || len(callID) > 0xffff {
		return 0
	}
	size := recHdr + len(aor) + len(contact) + len(callID)
	if withNonce {
		size += nonceHdr
	}
	r, c := s.mem.alloc(size)
	if r == 0 {
		return 0
	}
	x := s.rec(r)
	*x = rec{alen: uint16(len(aor)), clen: uint16(len(contact)), ilen: uint16(len(callID)), class: c}
	if from != nil {
		x.exp, x.cseq, x.flags = from.exp, from.cseq, from.flags&recBound
	}
	if withNonce {
		x.flags |= recNonce
		*s.nonce(r) = nonceState{}
		if nonce != nil {
			*s.nonce(r) = *nonce
		}
	}
	a, ct, id := s.data(r, x)
	copy(a, aor)
	copy(ct, contact)
	copy(id, callID)
	return r
}

// remake replaces record r by one with these bytes (which may be r's
// own), keeping its header, next and nonce state (or adding one);
// ref 0 (r kept) if it does not fit.
func (s *shard) remake(r ref, withNonce bool, aor, contact, callID []byte) ref {
	x := s.rec(r)
	var n *nonceState
	if x.flags&recNonce != 0 {
		n, withNonce = s.nonce(r), true
	}
	nr := s.make(x, n, withNonce, aor, contact, callID)
	if nr == 0 {
		return 0
	}
	s.rec(nr).next = x.next
	s.mem.release(r, x.class)
	return nr
}

// aorEntry is an AOR's place in its (locked) shard: its table slot and
// head record, if any.
type aorEntry struct {
	l    *Location // kept alive until unlock: its cleanup unmaps the shards
	s    *shard
	aor  []byte
	tag  uint32
	slot int
	head ref
}

// lock locks aor's shard and finds its head record; unlock must follow.
func (l *Location) lock(aor []byte) aorEntry {
	h := maphash.Bytes(l.seed, aor)
	e := aorEntry{l: l, s: &l.shards[h>>(64-locShardBits)], aor: aor, tag: uint32(h)}
	e.s.Lock()
	e.find()
	return e
}

func (e *aorEntry) find() {
	t := &e.s.t
	if len(t.slots) == 0 {
		return
	}
	mask := len(t.slots) - 1
	for i := int(e.tag) & mask; ; i = (i + 1) & mask {
		sl := t.slots[i]
		if sl == 0 {
			return
		}
		if uint32(sl>>32) != e.tag {
			continue
		}
		r := ref(sl)
		if a, _, _ := e.s.data(r, e.s.rec(r)); string(a) == string(e.aor) {
			e.slot, e.head = i, r
			return
		}
	}
}

// unlock drops the head record if it holds nothing any more (no binding,
// no nonce state), and unlocks the shard.
func (e *aorEntry) unlock() {
	s := e.s
	if e.head != 0 {
		if x := s.rec(e.head); x.flags&(recBound|recNonce) == 0 && x.next == 0 {
			s.drop(e.slot, e.head)
		}
	}
	s.Unlock()
	runtime.KeepAlive(e.l)
}

// drop removes the head record r from table slot i (and its chain).
func (s *shard) drop(i int, r ref) {
	s.t.remove(i)
	for r != 0 {
		x := s.rec(r)
		next := x.next
		s.mem.release(r, x.class)
		r = next
	}
	if s.t.n == 0 { // empty: give back the memory, keep a chunk
		s.mem.reset(true)
		if len(s.t.slots) > tableMinSlots {
			s.t.free()
		}
	}
}

// setHead makes r the head record (replacing the old one in its slot, or
// inserting it); false if the table cannot grow.
func (e *aorEntry) setHead(r ref) bool {
	if e.head != 0 {
		e.s.t.slots[e.slot] = uint64(e.tag)<<32 | uint64(r)
	} else {
		i, ok := e.s.t.insert(e.tag, r)
		if !ok {
			return false
		}
		e.slot = i
	}
	e.head = r
	return true
}

type bindResult uint8

const (
	bindNone      bindResult = iota // nothing to remove
	bindAdded                       // a new binding
	bindRefreshed                   // an existing binding, new expiry
	bindRemoved                     // expires 0: removed
	bindOld                         // an older CSeq for the same Call-ID (refused)
	bindFull                        // no memory for it (refused)
)

// bind adds, refreshes or removes (remove) the binding of contact. It
// refuses a CSeq older than the stored one for the same Call-ID.
func (e *aorEntry) bind(contact, callID []byte, cseq uint32, exp int64, remove bool) bindResult {
	s := e.s
	var prev ref
	for r := e.head; r != 0; prev, r = r, s.rec(r).next {
		x := s.rec(r)
		aor, c, id := s.data(r, x)
		if x.flags&recBound == 0 || !sipwire.SameURI(c, contact) {
			continue
		}
		if string(id) == string(callID) && cseq < x.cseq {
			return bindOld
		}
		if remove {
			if r == e.head { // the AOR stays in the head, unbound
				x.flags &^= recBound
				x.clen, x.ilen = 0, 0
			} else {
				s.rec(prev).next = x.next
				s.mem.release(r, x.class)
			}
			return bindRemoved
		}
		x.exp, x.cseq = exp, cseq
		switch {
		case string(id) == string(callID):
		case len(id) == len(callID):
			copy(id, callID)
		default:
			nr := s.remake(r, false, aor, c, callID)
			if nr == 0 {
				return bindFull
			}
			if r == e.head {
				e.setHead(nr)
			} else {
				s.rec(prev).next = nr
			}
		}
		return bindRefreshed
	}
	if remove {
		return bindNone // removing what is not there is fine
	}
	bound := rec{exp: exp, cseq: cseq, flags: recBound}
	switch {
	case e.head == 0:
		r := s.make(&bound, nil, false, e.aor, contact, callID)
		if r == 0 || !e.setHead(r) {
			if r != 0 {
				s.mem.release(r, s.rec(r).class)
			}
			return bindFull
		}
	case s.rec(e.head).flags&recBound == 0 && s.rec(e.head).next == 0:
		// The head holds no binding: it takes this one.
		h := s.rec(e.head)
		var n *nonceState
		if h.flags&recNonce != 0 {
			n = s.nonce(e.head)
		}
		r := s.make(&bound, n, n != nil, e.aor, contact, callID)
		if r == 0 {
			return bindFull
		}
		s.mem.release(e.head, h.class)
		e.setHead(r)
	default: // after the last one
		r := s.make(&bound, nil, false, nil, contact, callID)
		if r == 0 {
			return bindFull
		}
		s.rec(prev).next = r
	}
	return bindAdded
}

// clear removes every binding (Contact: *) and says how many there were.
func (e *aorEntry) clear() (n int) {
	if e.head == 0 {
		return 0
	}
	s := e.s
	h := s.rec(e.head)
	if h.flags&recBound != 0 {
		n++
		h.flags &^= recBound
		h.clen, h.ilen = 0, 0
	}
	for r := h.next; r != 0; {
		x := s.rec(r)
		next := x.next
		s.mem.release(r, x.class)
		r = next
		n++
	}
	h.next = 0
	return n
}

// each calls fn with every binding of the AOR, live or not, in order.
func (e *aorEntry) each(fn func(contact []byte, exp int64)) {
	for r := e.head; r != 0; r = e.s.rec(r).next {
		if x := e.s.rec(r); x.flags&recBound != 0 {
			_, c, _ := e.s.data(r, x)
			fn(c, x.exp)
		}
	}
}

// replay checks a nonce (known by its timestamp) and count against the
// last ones seen with the AOR's credentials and, unless it is a replay
// (the same nonce, a count not above the last), remembers them. ok is
// false when there is no memory to remember them.
func (e *aorEntry) replay(ts int64, hasNC bool, nc uint32) (replay, ok bool) {
	s := e.s
	switch {
	case e.head == 0:
		r := s.make(nil, nil, true, e.aor, nil, nil)
		if r == 0 || !e.setHead(r) {
			if r != 0 {
				s.mem.release(r, s.rec(r).class)
			}
			return false, false
		}
	case s.rec(e.head).flags&recNonce == 0:
		a, c, id := s.data(e.head, s.rec(e.head))
		r := s.remake(e.head, true, a, c, id)
		if r == 0 {
			return false, false
		}
		e.setHead(r)
	}
	n := s.nonce(e.head)
	if hasNC && n.ts == ts && nc <= n.nc {
		return true, true
	}
	n.ts, n.nc = ts, nc
	return false, true
}

// binding converts record r for the exported API.
func (s *shard) binding(r ref, x *rec) Binding {
	_, c, id := s.data(r, x)
	return Binding{Contact: string(c), Expires: time.Unix(0, x.exp), CallID: string(id), CSeq: x.cseq}
}

// Bindings returns a copy of the live bindings of aor ("user@domain").
func (l *Location) Bindings(aor string, now time.Time) []Binding {
	var out []Binding
	e := l.lock([]byte(aor))
	defer e.unlock()
	t := now.UnixNano()
	for r := e.head; r != 0; r = e.s.rec(r).next {
		if x := e.s.rec(r); x.flags&recBound != 0 && x.exp > t {
			out = append(out, e.s.binding(r, x))
		}
	}
	return out
}

// heads calls fn with every head record of the shard (locked by the
// caller) and, if fn says so, drops it. Dropping while iterating is safe
// from a slot left empty: the backward shift moves entries only within
// their cluster, never across an empty slot, and the slot is examined
// again.
func (s *shard) heads(fn func(r ref) (drop bool)) {
	n := len(s.t.slots)
	if n == 0 || s.t.n == 0 {
		return
	}
	start := 0
	for s.t.slots[start] != 0 {
		start++
	}
	for k := 1; k <= n; k++ {
		i := (start + k) & (n - 1)
		for s.t.slots[i] != 0 {
			r := ref(s.t.slots[i])
			if !fn(r) {
				break
			}
			s.drop(i, r)
			if s.t.n == 0 {
				return
			}
		}
	}
}

// All returns a copy of every live binding.
func (l *Location) All(now time.Time) []Binding {
	defer runtime.KeepAlive(l) // its cleanup unmaps the shards
	var out []Binding
	t := now.UnixNano()
	for i := range l.shards {
		s := &l.shards[i]
		s.Lock()
		s.heads(func(h ref) bool {
			for r := h; r != 0; r = s.rec(r).next {
				if x := s.rec(r); x.flags&recBound != 0 && x.exp > t {
					out = append(out, s.binding(r, x))
				}
			}
			return false
		})
		s.Unlock()
	}
	return out
}

// Count is the number of live bindings and of AORs holding them.
func (l *Location) Count(now time.Time) (bindings, aors int) {
	defer runtime.KeepAlive(l) // its cleanup unmaps the shards
	t := now.UnixNano()
	for i := range l.shards {
		s := &l.shards[i]
		s.Lock()
		s.heads(func(h ref) bool {
			n := 0
			for r := h; r != 0; r = s.rec(r).next {
				if x := s.rec(r); x.flags&recBound != 0 && x.exp > t {
					n++
				}
			}
			bindings += n
			if n > 0 {
				aors++
			}
			return false
		})
		s.Unlock()
	}
	return
}

// sweepChunk is how many table slots Sweep examines per hold of a
// shard's lock (about 0.1 ms): an event loop waits for it at most that
// long. A whole shard in one hold is 10^7 / 64 bindings at 57 ns each at
// 10^7 bindings, about 9 ms.
const sweepChunk = 2048

// Sweep removes expired bindings (and records left empty), a chunk of
// slots at a time, letting the event loops in between. Records that
// moved meanwhile may be missed until the next sweep; a record is never
// removed before it has expired.
func (l *Location) Sweep(now time.Time) (removed int) {
	defer runtime.KeepAlive(l) // its cleanup unmaps the shards
	t := now.UnixNano()
	for i := range l.shards {
		s := &l.shards[i]
		for from, more := 0, true; more; from += sweepChunk {
			s.Lock()
			var n int
			n, more = s.sweepSlots(from, from+sweepChunk, t)
			removed += n
			s.Unlock()
			runtime.Gosched()
		}
	}
	return
}

// sweepSlots removes the expired bindings of the AORs in table slots
// [from, to) (locked by the caller); more is false past the table's end
// or once it is empty. Slot 0 is not an empty one: a cluster wrapping
// round the table's end may shift entries seen already back into the
// last slots, where they are seen again, which does no harm; none is
// missed, since a removal shifts only entries after it into its slot.
func (s *shard) sweepSlots(from, to int, t int64) (removed int, more bool) {
	for i := from; i < min(to, len(s.t.slots)); i++ {
		for s.t.slots[i] != 0 {
			h := ref(s.t.slots[i])
			n, empty := s.sweepAOR(h, t)
			removed += n
			if !empty {
				break
			}
			s.drop(i, h)
			if s.t.n == 0 {
				return removed, false
			}
		}
	}
	return removed, to < len(s.t.slots)
}

// sweepAOR removes the expired bindings of the AOR whose head record is
// h; empty: nothing is left in it (no binding, no further record).
func (s *shard) sweepAOR(h ref, t int64) (removed int, empty bool) {
	hx := s.rec(h)
	if hx.flags&recBound != 0 && hx.exp <= t {
		hx.flags &^= recBound
		hx.clen, hx.ilen = 0, 0
		removed++
	}
	prev := h
	for r := hx.next; r != 0; {
		x := s.rec(r)
		next := x.next
		if x.exp <= t {
			s.rec(prev).next = next
			s.mem.release(r, x.class)
			removed++
		} else {
			prev = r
		}
		r = next
	}
	return removed, hx.flags&recBound == 0 && hx.next == 0
}

// memStats says where the location service's memory goes: the bytes of
// the blocks in use, the bytes its arenas have written to, and its hash
// tables' bytes; bench_test.go reports them.
func (l *Location) memStats() (inUse, arenas, tables int) {
	defer runtime.KeepAlive(l) // its cleanup unmaps the shards
	for i := range l.shards {
		s := &l.shards[i]
		s.Lock()
		inUse += s.mem.inUse
		arenas += s.mem.mapped()
		tables += len(s.t.mem)
		s.Unlock()
	}
	return
}
