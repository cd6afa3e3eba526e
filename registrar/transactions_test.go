package registrar

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/regstorm/regstorm/digestfast"
	"github.com/regstorm/regstorm/sipwire"
)

// sendTwice hands req to w, then the same bytes again, after T1, to
// again (a retransmission, maybe to another event loop's worker), and
// returns both answers.
func sendTwice(t *testing.T, now *time.Time, w, again *Worker, req []byte) (first, second []byte) {
	t.Helper()
	if w.Handle(req) != Reply {
		t.Fatal("not answered")
	}
	first = append([]byte(nil), w.Out...)
	*now = now.Add(500 * time.Millisecond)
	if again.Handle(req) != Reply {
		t.Fatal("retransmission not answered")
	}
	return first, append([]byte(nil), again.Out...)
}

func statusOf(t *testing.T, resp []byte) int {
	t.Helper()
	var m sipwire.Msg
	if err := m.Parse(resp); err != nil {
		t.Fatalf("%v\n%s", err, resp)
	}
	return m.StatusCode
}

// A retransmission (the same request bytes) gets the answer its original
// got, byte for byte, from any worker, without being handled again: the
// 401 with the same nonce, and the authenticated REGISTER's 200 rather
// than a 401 for a replayed nonce count (the client whose 200 was lost
// would fail). After Timer J (64*T1, 32 s, in the registrar's clock) the
// same bytes are a new request: now a replay. No real time passes.
func TestRetransmissionGetsTheSameAnswer(t *testing.T) {
	now := time.Unix(1000, 0)
	r := New(Config{Auth: true, Password: passwords, NonceTTL: time.Hour})
	r.Now = func() time.Time { return now }
	w, other := r.NewWorker(), r.NewWorker()
	c := newClient(t, w, "nap000001")

	// The challenge: its retransmission gets the same nonce, T1 later.
	first, again := sendTwice(t, &now, w, other, reqBytes("nap000002", 1, sipwire.UDP))
	if statusOf(t, first) != 401 || !bytes.Equal(first, again) {
		t.Fatalf("a retransmitted unauthenticated REGISTER:\n%s\nthen\n%s", first, again)
	}
	c.send(5070, 3600) // c reads its own challenge

	// The authenticated REGISTER, answered 200; its 200 is lost, and the
	// client sends the same bytes T1 later, then 2*T1 later.
	var req []byte
	c.send(5070, 3600, func(reg *sipwire.Register) {
		req = sipwire.AppendRegister(nil, reg)
	})
	ok := append([]byte(nil), w.Out...)
	if statusOf(t, ok) != 200 {
		t.Fatalf("with credentials:\n%s", ok)
	}
	for _, after := range []time.Duration{500 * time.Millisecond, time.Second} {
		now = now.Add(after)
		for _, x := range []*Worker{w, other} {
			if x.Handle(req) != Reply || !bytes.Equal(x.Out, ok) {
				t.Fatalf("the retransmission %v later was answered\n%s\nnot\n%s", after, x.Out, ok)
			}
		}
	}
	st := sumOf(w, other)
	if st.Replays != 0 || st.Registered != 1 || st.Challenges != 2 {
		t.Errorf("replays %d registered %d challenges %d, want 0, 1, 2", st.Replays, st.Registered, st.Challenges)
	}

	// 32 s after the 200 was sent the transaction is gone: the same bytes
	// are a new request, and their nonce count a replay.
	now = now.Add(32*time.Second - 1500*time.Millisecond - time.Nanosecond)
	if w.Handle(req); !bytes.Equal(w.Out, ok) {
		t.Fatalf("1 ns before Timer J fires:\n%s", w.Out)
	}
	now = now.Add(time.Nanosecond)
	if w.Handle(req); statusOf(t, w.Out) != 401 || w.Replays != 1 {
		t.Fatalf("after Timer J: replays %d\n%s", w.Replays, w.Out)
	}
}

// Without auth: a REGISTER's 200 and a 423 come back the same, and the
// binding is not refreshed by the retransmission.
func TestRetransmissionWithoutAuth(t *testing.T) {
	now := time.Unix(1000, 0)
	r := New(Config{MinExpires: 60})
	r.Now = func() time.Time { return now }
	w := r.NewWorker()
	req := reqBytes("nap000001", 1, sipwire.UDP)
	if w.Handle(req) != Reply || statusOf(t, w.Out) != 200 {
		t.Fatalf("REGISTER:\n%s", w.Out)
	}
	ok := append([]byte(nil), w.Out...)
	now = now.Add(2 * time.Second)
	if w.Handle(req); !bytes.Equal(w.Out, ok) {
		t.Fatalf("retransmission 2 s later:\n%s\nnot\n%s", w.Out, ok)
	}
	if b := r.Loc.Bindings("nap000001@example.com", now); len(b) != 1 || !b[0].Expires.Equal(time.Unix(1300, 0)) {
		t.Errorf("the retransmission refreshed the binding: %+v", b)
	}
	brief := sipwire.AppendRegister(nil, &sipwire.Register{
		LocalHost: []byte("127.0.0.1"), LocalPort: 5070, Branch: 7, User: []byte("nap000002"),
		Domain: []byte("example.com"), FromTag: []byte("f"), CallID: []byte("c2"), CSeq: 1, Expires: 30,
	})
	first, again := sendTwice(t, &now, w, w, brief)
	if statusOf(t, first) != 423 || !bytes.Equal(first, again) {
		t.Fatalf("423 then\n%s", again)
	}
}

func sumOf(ws ...*Worker) (st Worker) {
	for _, w := range ws {
		st.Replays += w.Replays
		st.Registered += w.Registered
		st.Challenges += w.Challenges
	}
	return st
}

// dialer opens a client of one transport on a server and returns how to
// send a message on it and read one answer.
func dialer(t *testing.T, s *Server, transport string) (roundTrip func(req []byte) []byte) {
	t.Helper()
	var c net.Conn
	var err error
	addr := s.AddrOf(transport)
	switch transport {
	case "udp", "tcp":
		c, err = net.Dial(transport, addr)
	case "tls":
		c, err = tls.Dial("tcp", addr, rootOf(s))
	case "ws", "wss":
		d := ws.Dialer{Protocols: []string{"sip"}, TLSConfig: rootOf(s), Timeout: 5 * time.Second}
		c, _, _, err = d.Dial(context.Background(), transport+"://"+addr+"/")
	}
	if err != nil {
		t.Fatalf("%s: %v", transport, err)
	}
	t.Cleanup(func() { c.Close() })
	sc := bufio.NewScanner(c)
	sc.Split(sipwire.SplitMessage)
	return func(req []byte) []byte {
		t.Helper()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		switch transport {
		case "udp":
			buf := make([]byte, 65536)
			if _, err := c.Write(req); err != nil {
				t.Fatal(err)
			}
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("%s: %v", transport, err)
			}
			return buf[:n]
		case "ws", "wss":
			if err := wsutil.WriteClientText(c, req); err != nil {
				t.Fatal(err)
			}
			_, p := readFrame(t, c)
			return p
		}
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		if !sc.Scan() {
			t.Fatalf("%s: no answer: %v", transport, sc.Err())
		}
		return append([]byte(nil), sc.Bytes()...)
	}
}

// authorizedRegister is user's REGISTER answering the 401 challenge with
// credentials (nc 1), with CSeq and branch 2.
func authorizedRegister(t *testing.T, challenge []byte, user string, tr sipwire.Transport) []byte {
	t.Helper()
	var m sipwire.Msg
	var ch digestfast.Challenge
	if err := m.Parse(challenge); err != nil || m.StatusCode != 401 {
		t.Fatalf("not a challenge: %v\n%s", err, challenge)
	}
	if err := digestfast.ParseChallenge(append([]byte(nil), m.WWWAuthenticate[0]...), &ch); err != nil {
		t.Fatal(err)
	}
	ha1, _ := digestfast.ComputeHA1(ch.Algorithm, []byte(user), ch.Realm, []byte("secret-"+user))
	auth, err := digestfast.AppendAuthorization(nil, "Authorization", &ch, []byte(user), &ha1,
		&digestfast.Request{Method: []byte("REGISTER"), URI: []byte("sip:example.com"), CNonce: []byte("cn"), NC: 1})
	if err != nil {
		t.Fatal(err)
	}
	return sipwire.AppendRegister(nil, &sipwire.Register{
		Transport: tr, LocalHost: []byte("127.0.0.1"), LocalPort: 5070, Branch: 2,
		User: []byte(user), Domain: []byte("example.com"), FromTag: []byte("f"),
		CallID: []byte("c-" + user), CSeq: 2, Expires: 300, Auth: auth,
	})
}

// Over every transport, in real time: the 401 sent again, then the
// authenticated REGISTER's 200 sent again, each on the same flow, come
// back byte for byte. Over streams a client does not retransmit (RFC
// 3261 §17.1.2.1, Timer E is for UDP), but one that sends a request again
// (on a new connection, say) gets the same answer: the table keeps every
// transport's transactions for Timer J.
func TestRetransmissionOverEveryTransport(t *testing.T) {
	all := []string{"udp", "tcp", "tls", "ws", "wss"}
	s, err := Listen(New(Config{Auth: true, Password: passwords}), "127.0.0.1", 0, all)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, tr := range all {
		wire := sipwire.TCP
		if tr == "udp" {
			wire = sipwire.UDP
		}
		user := fmt.Sprintf("nap%06d", i+1)
		send := dialer(t, s, tr)
		req := reqBytes(user, 1, wire)
		challenge := send(req)
		time.Sleep(time.Millisecond) // another nonce, were it made again
		if again := send(req); !bytes.Equal(again, challenge) {
			t.Errorf("%s: the 401 sent again:\n%s\nthen\n%s", tr, challenge, again)
		}
		auth := authorizedRegister(t, challenge, user, wire)
		ok := send(auth)
		if statusOf(t, ok) != 200 {
			t.Fatalf("%s: with credentials:\n%s", tr, ok)
		}
		if again := send(auth); !bytes.Equal(again, ok) {
			t.Errorf("%s: the 200 sent again:\n%s\nthen\n%s", tr, ok, again)
		}
	}
	// The UDP client again, from another socket (another event loop,
	// maybe): its 401, then its 200.
	send := dialer(t, s, "udp")
	challenge := send(reqBytes("nap000001", 1, sipwire.UDP))
	if again := send(authorizedRegister(t, challenge, "nap000001", sipwire.UDP)); statusOf(t, again) != 200 {
		t.Errorf("udp, from another socket:\n%s", again)
	}
	st := s.Stats()
	if st.Retransmissions != 2*int64(len(all))+2 || st.Replays != 0 || st.Registered != int64(len(all)) {
		t.Errorf("%d retransmissions, %d replays, %d registered; want %d, 0, %d",
			st.Retransmissions, st.Replays, st.Registered, 2*len(all)+2, len(all))
	}
}

// The table against a map, in simulated time: transactions added as
// Handle adds them (a key not live), found while less than Timer J old,
// forgotten after; growing from a burst and, once the burst is past
// Timer J, shrinking back by sweep.
func TestTransactionsAgainstModel(t *testing.T) {
	const j = int64(32 * time.Second)
	tx := newTransactions(j)
	type entry struct {
		a  answer
		at int64
	}
	model := map[uint64]entry{}
	rng := mrand.New(mrand.NewPCG(1, 2))
	keys := make([]uint64, 20000)
	for i := range keys {
		keys[i] = rng.Uint64() &^ ansMask
	}
	now := int64(1e18)
	check := func(k uint64) {
		t.Helper()
		m, inModel := model[k]
		want := inModel && now-m.at < j
		a, at, ok := tx.find(k, now)
		if ok != want || (ok && (a != m.a || at != m.at)) {
			t.Fatalf("key %x at %d: found %v (%d, %d), want %v (%+v)", k, now, ok, a, at, want, m)
		}
	}
	step := func(rate int, n int) { // n transactions, rate a second
		for i := 0; i < n; i++ {
			now += int64(time.Second) / int64(rate)
			k := keys[rng.IntN(len(keys))]
			check(k)
			if _, _, ok := tx.find(k, now); !ok {
				a := answer(1 + rng.IntN(int(ansRejected)))
				tx.add(k, a, now)
				model[k] = entry{a, now}
			}
			check(keys[rng.IntN(len(keys))])
		}
	}
	held := func() int {
		n := 0
		for _, m := range model {
			if now-m.at < j {
				n++
			}
		}
		return n
	}
	step(100, 5000)   // a trickle: every key seen once at most
	step(2000, 60000) // a burst of 30 s: keys come back while live and after
	tx.sweep(now)
	n, burst := tx.stats()
	if n != held() || burst < 4*txShards*txMinRing*(txEntrySize+8) {
		t.Fatalf("%d held after the sweep in %d bytes, want %d in more than the smallest rings", n, burst, held())
	}
	now += j // the burst is over Timer J ago
	tx.sweep(now)
	n, idle := tx.stats()
	if n != 0 || idle != txShards*txMinRing*(txEntrySize+8) {
		t.Errorf("after Timer J: %d held in %d bytes, want 0 in %d (the burst took %d)", n, idle, txShards*txMinRing*(txEntrySize+8), burst)
	}
	step(2000, 10000)
	for _, k := range keys[:100] {
		check(k)
	}
	// The wall clock set back by more than Timer J: what seems to come
	// from the future is forgotten.
	now -= 2 * j
	for _, k := range keys {
		if _, _, ok := tx.find(k, now); ok {
			t.Fatalf("found after the clock went back 64 s")
		}
	}
	tx.sweep(now)
	if n, _ := tx.stats(); n != 0 {
		t.Errorf("%d held after the clock went back", n)
	}
}

// Config.TimerJ: a shorter one forgets sooner; a negative one keeps
// nothing, and the same bytes are handled again.
func TestTimerJConfig(t *testing.T) {
	if j := New(Config{}).Config().TimerJ; j != 32*time.Second {
		t.Errorf("default Timer J %v", j)
	}
	now := time.Unix(1000, 0)
	for _, tc := range []struct {
		j     time.Duration
		after time.Duration
		again bool // answered from the table
	}{
		{2 * time.Second, 1999 * time.Millisecond, true},
		{2 * time.Second, 2 * time.Second, false},
		{-1, 0, false},
	} {
		r := New(Config{TimerJ: tc.j})
		r.Now = func() time.Time { return now }
		w := r.NewWorker()
		req := reqBytes("nap000001", 1, sipwire.UDP)
		w.Handle(req)
		now = now.Add(tc.after)
		w.Handle(req)
		if got := w.Retransmissions == 1; got != tc.again || w.Registered != map[bool]int64{true: 1, false: 2}[tc.again] {
			t.Errorf("Timer J %v, %v later: %d retransmissions, %d registered", tc.j, tc.after, w.Retransmissions, w.Registered)
		}
	}
}

// Neither a new transaction nor a retransmission allocates: with auth, a
// 401 and a 200 sent again; without, new refreshes.
func TestTransactionsNoAllocs(t *testing.T) {
	r := New(Config{Auth: true, Password: passwords})
	w := r.NewWorker()
	c := newClient(t, w, "nap000001")
	var challenge, authorized []byte
	c.send(5070, 3600, func(reg *sipwire.Register) { challenge = sipwire.AppendRegister(nil, reg) })
	c.send(5070, 3600, func(reg *sipwire.Register) { authorized = sipwire.AppendRegister(nil, reg) })
	for _, req := range [][]byte{challenge, authorized} {
		if a := testing.AllocsPerRun(100, func() { w.Handle(req) }); a != 0 {
			t.Errorf("%v allocs per retransmission of\n%s", a, req)
		}
	}
	if w.Retransmissions != 202 {
		t.Errorf("%d retransmissions, want 202", w.Retransmissions)
	}
	w = New(Config{Style: StyleHeader, MinExpires: 60}).NewWorker()
	reqs := make([][]byte, 102)
	for i := range reqs {
		reqs[i] = reqBytes("nap000001", uint32(i+1), sipwire.UDP)
	}
	next := 0
	if a := testing.AllocsPerRun(100, func() { w.Handle(reqs[next]); next++ }); a != 0 {
		t.Errorf("%v allocs per new transaction", a)
	}
	if w.Registered != 101 || w.Retransmissions != 0 {
		t.Errorf("%d registered, %d retransmissions", w.Registered, w.Retransmissions)
	}
}

// Keys that all want the same bucket overflow into the next ones, are
// found there, and are removed from there; the index is built again
// once an eighth of its buckets overflowed, and finds the same.
func TestTransactionsOverflowingBuckets(t *testing.T) {
	const j = int64(time.Second)
	var s txShard
	if !s.resize(txMinRing) {
		t.Fatal("no memory")
	}
	defer s.free()
	buckets := len(s.idx) / txBucket
	var keys []uint64
	for k := uint64(1); len(keys) < txMinRing; k++ {
		if key := draw64(k) &^ ansMask; s.home(key) == buckets-1 { // the last: overflows wrap to the first
			keys = append(keys, key)
		}
	}
	for i, k := range keys {
		s.push(k|uint64(ansForbidden), int64(i))
	}
	// 64 entries from one bucket take 5 (15 slots each): 4 overflowed,
	// and the index was built again on the way, as they did.
	if s.flagged != 4 || s.built != 4 || len(s.ring) != txMinRing {
		t.Errorf("%d buckets flagged, %d when the index was built, ring of %d; want 4, 4, %d", s.flagged, s.built, len(s.ring), txMinRing)
	}
	now := int64(txMinRing)
	s.expire(j+txMinRing/2-1, j) // the first half: at 0 to 31
	for i, k := range keys {
		_, at, ok := s.find(k, now, j)
		if want := i >= txMinRing/2; ok != want || (ok && at != int64(i)) {
			t.Fatalf("key %d: found %v at %d, want %v", i, ok, at, want)
		}
	}
	for b := range buckets {
		for _, v := range s.bucket(b)[:txSlots] {
			if v != 0 && s.ring[v&txPosMask-1].at < txMinRing/2 {
				t.Fatalf("a slot left for a dropped entry: %x", v)
			}
		}
	}
}
