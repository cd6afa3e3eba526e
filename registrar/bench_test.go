package registrar

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/digestfast"
	"github.com/regstorm/regstorm/sipwire"
)

// BenchmarkRefresh is the registrar's work for a refresh without auth: an
// existing binding, same Call-ID, higher CSeq, 200 with the Contact list.
func BenchmarkRefresh(b *testing.B) {
	w := New(Config{}).NewWorker()
	reqs := make([][]byte, 2)
	for i := range reqs {
		reqs[i] = reqBytes("nap000001", uint32(i+1), sipwire.UDP)
	}
	if w.Handle(reqs[0]) != Reply {
		b.Fatal("no answer")
	}
	b.ReportAllocs()
	var cseq uint32 = 1
	for b.Loop() {
		cseq++
		req := sipwire.AppendRegister(reqs[1][:0], &sipwire.Register{
			Transport: sipwire.UDP, LocalHost: []byte("127.0.0.1"), LocalPort: 5070, Branch: uint64(cseq),
			User: []byte("nap000001"), Domain: []byte("example.com"), FromTag: []byte("f"),
			CallID: []byte("c-nap000001"), CSeq: cseq, Expires: 300,
		})
		reqs[1] = req
		if w.Handle(req) != Reply {
			b.Fatal("no answer")
		}
	}
}

// BenchmarkChallengeAndAuthorizedRefresh is one authenticated refresh as
// regstorm's NAPs do it: REGISTER → 401, REGISTER with credentials → 200.
func BenchmarkChallengeAndAuthorizedRefresh(b *testing.B) {
	w := New(Config{Auth: true, Password: passwords}).NewWorker()
	var resp sipwire.Msg
	var ch digestfast.Challenge
	user := []byte("nap000001")
	ha1 := new(digestfast.HA1)
	buf := make([]byte, 0, 2048)
	auth := make([]byte, 0, 512)
	chBuf := make([]byte, 0, 512)
	var cseq uint32
	reg := sipwire.Register{
		Transport: sipwire.UDP, LocalHost: []byte("127.0.0.1"), LocalPort: 5070,
		User: user, Domain: []byte("example.com"), FromTag: []byte("f"), CallID: []byte("c-nap000001"), Expires: 300,
	}
	step := func(withAuth bool) int {
		cseq++
		reg.CSeq, reg.Branch, reg.Auth = cseq, uint64(cseq), nil
		if withAuth {
			var err error
			auth, err = digestfast.AppendAuthorization(auth[:0], "Authorization", &ch, user, ha1,
				&digestfast.Request{Method: []byte("REGISTER"), URI: []byte("sip:example.com"), CNonce: []byte("cn"), NC: 1})
			if err != nil {
				b.Fatal(err)
			}
			reg.Auth = auth
		}
		buf = sipwire.AppendRegister(buf[:0], &reg)
		if w.Handle(buf) != Reply || resp.Parse(w.Out) != nil {
			b.Fatal("no answer")
		}
		if resp.StatusCode == 401 {
			chBuf = append(chBuf[:0], resp.WWWAuthenticate[0]...)
			if err := digestfast.ParseChallenge(chBuf, &ch); err != nil {
				b.Fatal(err)
			}
			*ha1, _ = digestfast.ComputeHA1(ch.Algorithm, user, ch.Realm, []byte("secret-nap000001"))
		}
		return resp.StatusCode
	}
	if step(false) != 401 || step(true) != 200 {
		b.Fatal("setup: want 401 then 200")
	}
	b.ReportAllocs()
	for b.Loop() {
		if c := step(false); c != 401 {
			b.Fatalf("refresh without credentials: %d", c)
		}
		if c := step(true); c != 200 {
			b.Fatalf("refresh with credentials: %d", c)
		}
	}
}

// BenchmarkRetransmission is the registrar's work for a retransmission
// of an authorized REGISTER answered 200: found in the transaction table,
// the 200 written again (the bindings read again), nothing checked or
// bound again.
func BenchmarkRetransmission(b *testing.B) {
	r := New(Config{Auth: true, Password: passwords})
	w := r.NewWorker()
	c := newClient(nil, w, "nap000001")
	c.send(5070, 300)
	var req []byte
	c.send(5070, 300, func(reg *sipwire.Register) { req = sipwire.AppendRegister(nil, reg) })
	if w.Out[8] != '2' {
		b.Fatalf("setup: %s", w.Out)
	}
	b.ReportAllocs()
	for b.Loop() {
		if w.Handle(req) != Reply {
			b.Fatal("no answer")
		}
	}
	if w.Retransmissions == 0 || w.Out[8] != '2' {
		b.Fatalf("%d retransmissions: %s", w.Retransmissions, w.Out)
	}
}

// BenchmarkLocationMemory fills the location service with b.N bindings, one
// per AOR, from REGISTERs shaped as regstorm's NAPs send them to
// `regstorm registrar` (AOR nap000001@127.0.0.1, Contact
// sip:nap000001@127.0.0.1:PORT;transport=udp, Call-ID N-I@regstorm), and
// reports per binding: the live Go heap and the RSS it added (after a GC,
// without the empty registrar's), and the location service's own count
// of its off-heap memory: the blocks in use, what its arenas have written
// to (blocks, free ones included), its hash tables; and the transaction
// table's mapped memory (in the RSS too: the fill is within Timer J).
// bench/registrar-memory.sh measures the registrar process's RSS:
//
//	go test ./registrar -run '^$' -bench LocationMemory -benchtime 1000000x
func BenchmarkLocationMemory(b *testing.B) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rss0 := vmRSS(b)
	r := New(Config{})
	w := r.NewWorker()
	var fill napRegisters
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if w.Handle(fill.next(i)) != Reply || w.Out[8] != '2' {
			b.Fatalf("binding %d: %s", i, w.Out)
		}
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	rss1 := vmRSS(b)
	if n, _ := r.Loc.Count(time.Now()); n != b.N {
		b.Fatalf("%d bindings held, want %d", n, b.N)
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(b.N), "heap-B/binding")
	b.ReportMetric(float64(after.HeapObjects-before.HeapObjects)/float64(b.N), "objects/binding")
	b.ReportMetric(float64(rss1-rss0)/float64(b.N), "rss-B/binding")
	inUse, arenas, tables := r.Loc.memStats()
	b.ReportMetric(float64(inUse)/float64(b.N), "blocks-B/binding")
	b.ReportMetric(float64(arenas)/float64(b.N), "arenas-B/binding")
	b.ReportMetric(float64(tables)/float64(b.N), "tables-B/binding")
	_, txns := r.txns.stats()
	b.ReportMetric(float64(txns)/float64(b.N), "txns-B/binding")
	runtime.KeepAlive(r)
}

// vmRSS is this process's resident set size in bytes (Linux).
func vmRSS(b *testing.B) int64 {
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	b.Skip("no VmRSS")
	return 0
}

// BenchmarkSweep: one pass of the sweep over 10^6 live bindings (none
// expired), the work the registrar's sweep does every sweepEvery.
func BenchmarkSweep(b *testing.B) {
	r := New(Config{})
	w := r.NewWorker()
	var fill napRegisters
	const n = 1_000_000
	for i := 0; i < n; i++ {
		if w.Handle(fill.next(i)) != Reply {
			b.Fatalf("binding %d: %s", i, w.Out)
		}
	}
	now := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if removed := r.Loc.Sweep(now); removed != 0 {
			b.Fatalf("swept %d live bindings", removed)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/binding")
}

// napRegisters builds the first REGISTER of NAP i (nap000001 for 0, one
// binding each, expires 3600) in buffers it reuses.
type napRegisters struct{ buf, user, callID []byte }

func (f *napRegisters) next(i int) []byte {
	f.user = fmt.Appendf(f.user[:0], "nap%06d", i+1)
	f.callID = fmt.Appendf(f.callID[:0], "43989322-%d@regstorm", i)
	f.buf = sipwire.AppendRegister(f.buf[:0], &sipwire.Register{
		Transport: sipwire.UDP, LocalHost: []byte("127.0.0.1"), LocalPort: 20000 + i%40000, Branch: uint64(i),
		User: f.user, Domain: []byte("127.0.0.1"), FromTag: []byte("rsbpit63ckxs"),
		CallID: f.callID, CSeq: 1, Expires: 3600, UserAgent: []byte("regstorm"),
	})
	return f.buf
}

// BenchmarkTransactionTable is the table's work for a new transaction (a
// lookup that misses, then an insert that drops the oldest) in its steady
// state at 100 000 transactions a second: Timer J holds 3.2 million. It
// reports the bytes mapped per transaction held.
func BenchmarkTransactionTable(b *testing.B) {
	tx := newTransactions(int64(DefaultTimerJ))
	const rate = 100_000
	step := int64(time.Second) / rate
	now := int64(1e18)
	key := func(i int) uint64 { return draw64(uint64(i)) &^ ansMask }
	for i := range 32 * rate { // a Timer J's worth first
		now += step
		tx.add(key(i), ansOK, now)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		now += step
		k := key(32*rate + i)
		if _, _, ok := tx.find(k, now); ok {
			b.Fatal("found a new transaction")
		}
		tx.add(k, ansOK, now)
	}
	b.StopTimer()
	held, mapped := tx.stats()
	b.ReportMetric(float64(mapped)/float64(held), "B/transaction")
}

// draw64 is SplitMix64's finaliser: distinct keys from a counter.
func draw64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
