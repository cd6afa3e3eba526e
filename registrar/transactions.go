package registrar

import (
	"runtime"
	"sync"
	"unsafe"
)

// The server transactions (RFC 3261 §17.2.2): a request the registrar
// already answered, sent again within Timer J, gets that answer again and
// is not handled again. Without them, a REGISTER whose 200 was lost came
// back as a replay of its nonce count and got a 401: the client failed
// while its binding was held.
//
// The table keeps, for each transaction of the last Timer J, its key
// (txKey: a hash of branch, sent-by, method, Call-ID and CSeq), which
// answer it got and when: 16 bytes. The answer's bytes are not kept: a
// retransmission is the same request, and the answer is rebuilt from it
// (answers.go), byte for byte the same. A response is ~400 bytes; at
// 100 000 transactions a second Timer J holds 3.2 million, 1.3 GB of
// responses against 80-150 MB here (24 B a transaction when the rings
// are full, 31 B in BenchmarkTransactionTable's steady state).
//
// Every transport: over TCP, TLS and WebSocket the RFC's Timer J is 0,
// since a client does not retransmit over a reliable transport (Timer E
// is for UDP). Their transactions are kept for Timer J all the same: the
// Worker does not know the transport, an entry costs the same, and a
// client that sends a request again (on a new connection after its old
// one broke, over UDP after TCP) gets its answer, not a replay's 401.
//
// Two copies of one request handled at the same time, by two workers,
// both miss and are both handled. That takes a client sending from two
// places at once: a source's datagrams go to one event loop's socket
// (SO_REUSEPORT hashes the addresses), a stream's requests are read in
// order.
//
// Each shard is a ring of entries in the order they were answered, so
// they expire from its head, and an index into the ring: buckets of one
// cache line, 15 slots of 4 bytes (tag<<24 | position+1, 0 when empty,
// the tag being 8 bits of the key, which spare most slots a look at the
// ring) and a word that says the bucket once overflowed into the next.
// One bucket for 8 ring entries: a bucket holds 8 on average when the
// ring is full, and overflows about once in a hundred times. A lookup
// reads one line, and so does a removal: a slot is emptied where it is,
// nothing shifts, so nothing in the ring is read to remove it (with
// linear probing over slots, removals read the ring to shift slots back:
// over half the table's time; BenchmarkTransactionTable 317 -> 287 ns).
// The overflow words are cleared when the index is built again: when
// the ring is resized, or once an eighth of the buckets more say so than
// when it was built. Ring and
// index are in one mmapped region (as the location service's arenas):
// off the Go heap, whose goal would otherwise double them, and given
// back when the ring shrinks.

const (
	txShardBits = 6
	txShards    = 1 << txShardBits // by the key's top bits
	txMinRing   = 64               // entries per shard at the least: 1 KiB, and a 512-byte index (8 buckets), in a page
	txMaxRing   = 1 << 20          // beyond this a shard drops its oldest (positions fit 24 bits)
	txPosBits   = 24
	txPosMask   = 1<<txPosBits - 1
	txBucket    = 16 // words of an index bucket: 64 bytes
	txSlots     = txBucket - 1
	txPerBucket = 8 // ring entries per bucket
	ansBits     = 4 // the answer, in the low bits of an entry's key
	ansMask     = 1<<ansBits - 1
)

// txEntry is one answered transaction.
type txEntry struct {
	key uint64 // txKey, with the answer in its low ansBits
	at  int64  // when it was answered, Unix ns
}

const txEntrySize = int(unsafe.Sizeof(txEntry{}))

type txShard struct {
	sync.Mutex
	ring    []txEntry // len a power of two: n entries from head, oldest first
	head, n uint32
	idx     []uint32 // len(ring)/txPerBucket buckets
	flagged int      // buckets that overflowed
	built   int      // of them, those flagged when the index was built
	mem     []byte   // the mapping that holds both
}

// transactions is the registrar's table of answered transactions.
type transactions struct {
	j      int64 // Timer J, ns
	shards *[txShards]txShard
}

// newTransactions makes the table, each shard's ring at its smallest
// already: growing maps memory, and unix.Mmap may allocate to record it
// (and the hot path allocates nothing); pages not written to cost no RSS.
func newTransactions(j int64) *transactions {
	t := &transactions{j: j, shards: new([txShards]txShard)}
	for i := range t.shards {
		t.shards[i].resize(txMinRing)
	}
	runtime.AddCleanup(t, func(sh *[txShards]txShard) {
		for i := range sh {
			sh[i].free()
		}
	}, t.shards)
	return t
}

func (t *transactions) shard(key uint64) *txShard { return &t.shards[key>>(64-txShardBits)] }

// find returns the answer of the transaction key and when it was given,
// if that was less than Timer J before now.
func (t *transactions) find(key uint64, now int64) (a answer, at int64, ok bool) {
	s := t.shard(key)
	s.Lock()
	a, at, ok = s.find(key, now, t.j)
	s.Unlock()
	runtime.KeepAlive(t) // its cleanup unmaps the shards
	return a, at, ok
}

// add remembers that the transaction key got answer a at now, and drops
// the transactions of the shard older than Timer J.
func (t *transactions) add(key uint64, a answer, now int64) {
	s := t.shard(key)
	s.Lock()
	s.expire(now, t.j)
	s.push(key|uint64(a), now)
	s.Unlock()
	runtime.KeepAlive(t)
}

// sweep drops every transaction older than Timer J and shrinks the shards
// left mostly empty, so that memory taken by a burst goes back once the
// burst is over Timer J ago, even if nothing comes after it.
func (t *transactions) sweep(now int64) {
	for i := range t.shards {
		s := &t.shards[i]
		s.Lock()
		s.expire(now, t.j)
		if c := len(s.ring); c > txMinRing && int(s.n) <= c/4 {
			s.resize(max(txMinRing, 2*pow2(int(s.n))))
		}
		s.Unlock()
	}
	runtime.KeepAlive(t)
}

// stats counts the transactions held and the bytes mapped for them.
func (t *transactions) stats() (held, mapped int) {
	for i := range t.shards {
		s := &t.shards[i]
		s.Lock()
		held += int(s.n)
		mapped += len(s.mem)
		s.Unlock()
	}
	runtime.KeepAlive(t)
	return held, mapped
}

// pow2 is the smallest power of two ≥ n (1 for 0).
func pow2(n int) int {
	p := 1
	for p < n {
		p *= 2
	}
	return p
}

// live says whether an entry answered at is still within Timer J of now;
// one from more than Timer J ahead (the wall clock went back) is not.
func live(at, now, j int64) bool { return now-at < j && at-now < j }

// home is the index of the bucket of key.
func (s *txShard) home(key uint64) int {
	return int(key>>ansBits) & (len(s.idx)/txBucket - 1)
}

// bucket is bucket b: txSlots slots, then the overflow word.
func (s *txShard) bucket(b int) []uint32 {
	return s.idx[b*txBucket : (b+1)*txBucket : (b+1)*txBucket]
}

func (s *txShard) next(b int) int { return (b + 1) & (len(s.idx)/txBucket - 1) }

func tagOf(key uint64) uint32 { return uint32(key>>40) & 0xff }

func (s *txShard) find(key uint64, now, j int64) (answer, int64, bool) {
	tag := tagOf(key)
	for b := s.home(key); ; b = s.next(b) {
		bk := s.bucket(b)
		for _, v := range bk[:txSlots] {
			if v>>txPosBits != tag || v == 0 {
				continue
			}
			// An entry of the same key past Timer J (not yet dropped)
			// may be here too: look on.
			if e := &s.ring[v&txPosMask-1]; e.key&^ansMask == key && live(e.at, now, j) {
				return answer(e.key & ansMask), e.at, true
			}
		}
		if bk[txSlots] == 0 {
			return 0, 0, false
		}
	}
}

// expire drops the entries older than Timer J from the head. Entries
// are in the order they were added, which is the order of their times
// but for the few µs between two workers' clocks.
func (s *txShard) expire(now, j int64) {
	for s.n > 0 && !live(s.ring[s.head].at, now, j) {
		s.drop()
	}
}

// drop removes the oldest entry.
func (s *txShard) drop() {
	s.unindex(s.head)
	s.head = (s.head + 1) & uint32(len(s.ring)-1)
	s.n--
}

// push appends an entry, growing the ring when full (or dropping the
// oldest when it cannot grow).
func (s *txShard) push(key uint64, at int64) {
	if int(s.n) == len(s.ring) {
		if len(s.ring) == txMaxRing || !s.resize(max(txMinRing, 2*len(s.ring))) {
			if s.n == 0 {
				return
			}
			s.drop()
		}
	}
	pos := (s.head + s.n) & uint32(len(s.ring)-1)
	s.ring[pos] = txEntry{key: key, at: at}
	s.n++
	s.index(pos)
	if s.flagged-s.built > len(s.idx)/txBucket/8 {
		s.reindex()
	}
}

// index adds the slot of ring position pos: in the key's bucket, or the
// first after it with room, marking those it passed as overflowed.
func (s *txShard) index(pos uint32) {
	key := s.ring[pos].key
	v := tagOf(key)<<txPosBits | (pos + 1)
	for b := s.home(key); ; b = s.next(b) {
		bk := s.bucket(b)
		for i := range txSlots {
			if bk[i] == 0 {
				bk[i] = v
				return
			}
		}
		if bk[txSlots] == 0 {
			bk[txSlots] = 1
			s.flagged++
		}
	}
}

// unindex empties the slot of ring position pos.
func (s *txShard) unindex(pos uint32) {
	key := s.ring[pos].key
	want := tagOf(key)<<txPosBits | (pos + 1)
	for b := s.home(key); ; b = s.next(b) {
		bk := s.bucket(b)
		for i := range txSlots {
			if bk[i] == want {
				bk[i] = 0
				return
			}
		}
	}
}

// reindex builds the index again, its overflow words cleared but where
// the entries overflow now.
func (s *txShard) reindex() {
	clear(s.idx)
	s.flagged = 0
	for i := uint32(0); i < s.n; i++ {
		s.index((s.head + i) & uint32(len(s.ring)-1))
	}
	s.built = s.flagged
}

// resize moves the entries to a ring of c (a power of two, ≥ n) and
// indexes them again; false if memory cannot be mapped.
func (s *txShard) resize(c int) bool {
	mem, err := mmap(c*txEntrySize + c/txPerBucket*txBucket*4)
	if err != nil {
		return false
	}
	ring := unsafe.Slice((*txEntry)(unsafe.Pointer(&mem[0])), c)
	for i := uint32(0); i < s.n; i++ {
		ring[i] = s.ring[(s.head+i)&uint32(len(s.ring)-1)]
	}
	s.free()
	s.ring, s.mem, s.head = ring, mem, 0
	s.idx = unsafe.Slice((*uint32)(unsafe.Pointer(&mem[c*txEntrySize])), c/txPerBucket*txBucket)
	s.reindex()
	return true
}

// free unmaps the ring and the index (keeping n: resize refills them).
func (s *txShard) free() {
	if s.mem != nil {
		munmap(s.mem)
	}
	s.ring, s.idx, s.mem = nil, nil, nil
}
