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
// responses against 80-150 MB here (24 B a transaction with full rings,
// bench/RESULTS.md).
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
// they expire from its head, and an open-addressing index (linear
// probing, backward-shift deletion) of 4-byte slots into the ring, twice
// its size: tag<<24 | position+1, 0 when empty, where the tag is 8 bits
// of the key that spare most probes a look at the ring. Both are in one
// mmapped region (as the location service's arenas): off the Go heap,
// whose goal would otherwise double them, and given back when the ring
// shrinks.

const (
	txShardBits = 6
	txShards    = 1 << txShardBits // by the key's top bits
	txMinRing   = 64               // entries per shard at the least: 1 KiB, and a 512-byte index, in a page
	txMaxRing   = 1 << 20          // beyond this a shard drops its oldest (positions fit 24 bits)
	txPosBits   = 24
	txPosMask   = 1<<txPosBits - 1
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
	idx     []uint32 // 2*len(ring) slots
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

func (s *txShard) home(key uint64) int { return int(key>>ansBits) & (len(s.idx) - 1) }

func tagOf(key uint64) uint32 { return uint32(key>>40) & 0xff }

func (s *txShard) find(key uint64, now, j int64) (answer, int64, bool) {
	if len(s.idx) == 0 {
		return 0, 0, false
	}
	mask, tag := len(s.idx)-1, tagOf(key)
	for i := s.home(key); ; i = (i + 1) & mask {
		v := s.idx[i]
		if v == 0 {
			return 0, 0, false
		}
		if v>>txPosBits != tag {
			continue
		}
		// An entry of the same key past Timer J (not yet dropped) may
		// precede its new one: look on.
		if e := &s.ring[v&txPosMask-1]; e.key&^ansMask == key && live(e.at, now, j) {
			return answer(e.key & ansMask), e.at, true
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
}

// index adds the slot of ring position pos.
func (s *txShard) index(pos uint32) {
	key := s.ring[pos].key
	mask := len(s.idx) - 1
	i := s.home(key)
	for s.idx[i] != 0 {
		i = (i + 1) & mask
	}
	s.idx[i] = tagOf(key)<<txPosBits | (pos + 1)
}

// unindex removes the slot of ring position pos, shifting back the slots
// after it whose home allows, so that every slot stays reachable from
// its home (as table.remove).
func (s *txShard) unindex(pos uint32) {
	key := s.ring[pos].key
	want := tagOf(key)<<txPosBits | (pos + 1)
	mask := len(s.idx) - 1
	i := s.home(key)
	for s.idx[i] != want {
		i = (i + 1) & mask
	}
	for j := i; ; {
		j = (j + 1) & mask
		v := s.idx[j]
		if v == 0 {
			break
		}
		// The slot at j stays if its home is cyclically in (i, j].
		if k := s.home(s.ring[v&txPosMask-1].key); (j-k)&mask < (j-i)&mask {
			continue
		}
		s.idx[i] = v
		i = j
	}
	s.idx[i] = 0
}

// resize moves the entries to a ring of c (a power of two, ≥ n) and
// indexes them again; false if memory cannot be mapped.
func (s *txShard) resize(c int) bool {
	mem, err := mmap(c*txEntrySize + 2*c*4)
	if err != nil {
		return false
	}
	ring := unsafe.Slice((*txEntry)(unsafe.Pointer(&mem[0])), c)
	for i := uint32(0); i < s.n; i++ {
		ring[i] = s.ring[(s.head+i)&uint32(len(s.ring)-1)]
	}
	s.free()
	s.ring, s.mem, s.head = ring, mem, 0
	s.idx = unsafe.Slice((*uint32)(unsafe.Pointer(&mem[c*txEntrySize])), 2*c)
	for i := uint32(0); i < s.n; i++ {
		s.index(i)
	}
	return true
}

// free unmaps the ring and the index (keeping n: resize refills them).
func (s *txShard) free() {
	if s.mem != nil {
		munmap(s.mem)
	}
	s.ring, s.idx, s.mem = nil, nil, nil
}
