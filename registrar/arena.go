package registrar

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The location service keeps its bindings outside the Go heap, in
// anonymous memory mapped by chunks (issue 17). The Go heap's goal is
// twice what it last marked live (GOGC=100), and the registrar makes
// garbage with every datagram (the event loop's), so a location service
// on the Go heap costs twice its size in RSS. Out of the heap it costs
// what it touches, and the garbage collector neither scans nor paces on
// it. Nothing stored there may point into the Go heap: records hold
// lengths and refs (offsets), never pointers.

const (
	chunkShift     = 20 // 1 MiB chunks: only the pages written count in RSS
	chunkSize      = 1 << chunkShift
	unitShift      = 3 // blocks are 8-byte aligned; a ref counts 8-byte units
	chunkUnitShift = chunkShift - unitShift
	chunkUnitMask  = 1<<chunkUnitShift - 1
	maxChunks      = 1 << (32 - chunkUnitShift) // refs are 32 bits: 4 GiB per arena

	smallClasses = 1024 >> unitShift    // classes 1..128: 8, 16, … 1 024 bytes
	nClasses     = smallClasses + 1 + 7 // then 2, 4, … 128 KiB
	maxBlock     = 128 << 10
)

// ref locates a block in an arena: its offset in 8-byte units, chunk in
// the high bits; 0 is none (the first unit of the first chunk is never
// handed out).
type ref uint32

// arena hands out blocks of 8-byte multiples (up to 1 KiB, then powers of
// two up to 128 KiB) from mmapped chunks, by bumping a pointer; a freed
// block goes on its size class's free list (linked through its first 4
// bytes) and serves the next block of that class. Not goroutine-safe: a
// shard's lock guards its arena.
type arena struct {
	chunks [][]byte
	top    uint32 // units used in the last chunk
	free   [nClasses]ref
	inUse  int // bytes in the blocks handed out
}

// classOf is the size class of a block of size bytes, false if too big.
func classOf(size int) (uint8, bool) {
	if size <= 1024 {
		return uint8((max(size, 1) + 7) >> unitShift), true
	}
	c, s := smallClasses+1, 2048
	for ; s < size; c, s = c+1, s*2 {
	}
	return uint8(c), s <= maxBlock
}

// classSize is the size in bytes of a block of class c.
func classSize(c uint8) int {
	if c <= smallClasses {
		return int(c) << unitShift
	}
	return 2048 << (c - smallClasses - 1)
}

// alloc returns a block of at least size bytes and its class (ref 0 when
// size is too big or memory cannot be mapped). Its contents are garbage.
func (a *arena) alloc(size int) (ref, uint8) {
	c, ok := classOf(size)
	if !ok {
		return 0, 0
	}
	if r := a.free[c]; r != 0 {
		a.free[c] = ref(*(*uint32)(a.ptr(r)))
		a.inUse += classSize(c)
		return r, c
	}
	units := uint32(classSize(c) >> unitShift)
	if len(a.chunks) == 0 || a.top+units > 1<<chunkUnitShift {
		if len(a.chunks) == maxChunks {
			return 0, 0
		}
		mem, err := mmap(chunkSize)
		if err != nil {
			return 0, 0
		}
		a.chunks = append(a.chunks, mem)
		a.top = 0
		if len(a.chunks) == 1 {
			a.top = 1 // ref 0 is none
		}
	}
	r := ref(uint32(len(a.chunks)-1)<<chunkUnitShift | a.top)
	a.top += units
	a.inUse += classSize(c)
	return r, c
}

// release puts a block of class c back for reuse.
func (a *arena) release(r ref, c uint8) {
	*(*uint32)(a.ptr(r)) = uint32(a.free[c])
	a.free[c] = r
	a.inUse -= classSize(c)
}

// ptr is the address of block r (8-byte aligned).
func (a *arena) ptr(r ref) unsafe.Pointer {
	return unsafe.Pointer(&a.chunks[r>>chunkUnitShift][(r&chunkUnitMask)<<unitShift])
}

// bytes is n bytes of block r from byte off.
func (a *arena) bytes(r ref, off, n int) []byte {
	c := a.chunks[r>>chunkUnitShift]
	at := int(r&chunkUnitMask)<<unitShift + off
	return c[at : at+n : at+n]
}

// mapped is the memory the arena has written to: its chunks but the
// unused rest of the last one (never touched, so not resident).
func (a *arena) mapped() int {
	if len(a.chunks) == 0 {
		return 0
	}
	return (len(a.chunks)-1)*chunkSize + int(a.top)<<unitShift
}

// reset forgets every block and unmaps all chunks but the first (all of
// them when keepOne is false).
func (a *arena) reset(keepOne bool) {
	keep := 0
	if keepOne && len(a.chunks) > 0 {
		keep = 1
	}
	for _, c := range a.chunks[keep:] {
		munmap(c)
	}
	clear(a.chunks[keep:])
	a.chunks = a.chunks[:keep]
	a.top = uint32(keep) // ref 0 stays none
	a.free = [nClasses]ref{}
	a.inUse = 0
}

// table is an open-addressing hash table (linear probing, backward-shift
// deletion) from an AOR's hash to its head record, in mmapped memory:
// each slot is tag<<32 | ref, 0 when empty, where tag is the low 32 bits
// of the AOR's hash and its home slot is tag & mask. Growing rehashes by
// the tags alone.
type table struct {
	mem   []byte
	slots []uint64
	n     int
}

const tableMinSlots = 512 // 4 KiB, one page

func (t *table) home(s uint64) int { return int(uint32(s>>32)) & (len(t.slots) - 1) }

// insert adds tag → r (absent), growing the table to keep it at most 3/4
// full; false if memory cannot be mapped.
func (t *table) insert(tag uint32, r ref) (slot int, ok bool) {
	if (t.n+1)*4 > len(t.slots)*3 && !t.grow() {
		return 0, false
	}
	s := uint64(tag)<<32 | uint64(r)
	mask := len(t.slots) - 1
	i := t.home(s)
	for t.slots[i] != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = s
	t.n++
	return i, true
}

func (t *table) grow() bool {
	n := max(tableMinSlots, 2*len(t.slots))
	mem, err := mmap(n * 8)
	if err != nil {
		return false
	}
	old, oldMem := t.slots, t.mem
	t.mem, t.slots = mem, unsafe.Slice((*uint64)(unsafe.Pointer(&mem[0])), n)
	mask := n - 1
	for _, s := range old {
		if s == 0 {
			continue
		}
		i := t.home(s)
		for t.slots[i] != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
	if oldMem != nil {
		munmap(oldMem)
	}
	return true
}

// remove empties slot i, shifting back the entries after it whose home
// slot allows, so that every entry stays reachable from its home.
func (t *table) remove(i int) {
	mask := len(t.slots) - 1
	j := i
	for {
		j = (j + 1) & mask
		s := t.slots[j]
		if s == 0 {
			break
		}
		// An entry at j stays if its home is cyclically in (i, j].
		if k := t.home(s); (j-k)&mask < (j-i)&mask {
			continue
		}
		t.slots[i] = s
		i = j
	}
	t.slots[i] = 0
	t.n--
}

// free unmaps the table.
func (t *table) free() {
	if t.mem != nil {
		munmap(t.mem)
	}
	*t = table{}
}

func mmap(n int) ([]byte, error) {
	return unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
}

func munmap(b []byte) { _ = unix.Munmap(b) }
