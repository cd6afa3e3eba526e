package registrar

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regstorm/regstorm/digestfast"
	"github.com/regstorm/regstorm/sipwire"
)

func passwords(user []byte) ([]byte, bool) {
	if strings.HasPrefix(string(user), "nap") {
		return []byte("secret-" + string(user)), true
	}
	return nil, false
}

type client struct {
	t    *testing.T
	w    *Worker
	user string
	cseq uint32
	pass string
	nc   uint32
	ch   *digestfast.Challenge
	resp sipwire.Msg
}

func newClient(t *testing.T, w *Worker, user string) *client {
	return &client{t: t, w: w, user: user, pass: "secret-" + user}
}

// send builds a REGISTER for contact port and expires, with credentials
// for the last challenge if any, and returns the parsed response.
func (c *client) send(port int, expires int64, mod ...func(r *sipwire.Register)) *sipwire.Msg {
	c.cseq++
	r := &sipwire.Register{
		LocalHost: []byte("127.0.0.1"), LocalPort: port, Branch: uint64(c.cseq),
		User: []byte(c.user), Domain: []byte("example.com"), FromTag: []byte("f1"),
		CallID: []byte("call-" + c.user), CSeq: c.cseq, Expires: expires,
	}
	if c.ch != nil {
		c.nc++
		ha1, _ := digestfast.ComputeHA1(c.ch.Algorithm, []byte(c.user), c.ch.Realm, []byte(c.pass))
		auth, err := digestfast.AppendAuthorization(nil, "Authorization", c.ch, []byte(c.user), &ha1,
			&digestfast.Request{Method: []byte("REGISTER"), URI: []byte("sip:example.com"), CNonce: []byte("cn"), NC: c.nc})
		if err != nil {
			c.t.Fatal(err)
		}
		r.Auth = auth
	}
	for _, f := range mod {
		f(r)
	}
	return c.raw(sipwire.AppendRegister(nil, r))
}

func (c *client) raw(req []byte) *sipwire.Msg {
	if v := c.w.Handle(req); v == Ignore {
		return nil
	}
	if err := c.resp.Parse(append([]byte(nil), c.w.Out...)); err != nil {
		c.t.Fatalf("registrar sent an unparsable response: %v\n%s", err, c.w.Out)
	}
	if c.resp.StatusCode == 401 {
		c.ch = &digestfast.Challenge{}
		if err := digestfast.ParseChallenge(append([]byte(nil), c.resp.WWWAuthenticate[0]...), c.ch); err != nil {
			c.t.Fatal(err)
		}
		c.nc = 0
	}
	return &c.resp
}

func TestRegisterNoAuth(t *testing.T) {
	r := New(Config{})
	c := newClient(t, r.NewWorker(), "nap000001")
	resp := c.send(5070, 3600)
	if resp.StatusCode != 200 || resp.NumContacts != 1 || resp.Contacts[0].Expires != 3600 {
		t.Fatalf("%d, %d contacts, expires %d", resp.StatusCode, resp.NumContacts, resp.Contacts[0].Expires)
	}
	_ = resp.ParseAddresses()
	if len(resp.To.Tag) == 0 || string(resp.Via.Branch) != "z9hG4bKrs00000000000000000000000000000001" || resp.CSeq != 1 {
		t.Errorf("to-tag %q branch %q cseq %d", resp.To.Tag, resp.Via.Branch, resp.CSeq)
	}
	b := r.Loc.Bindings("nap000001@example.com", time.Now())
	if len(b) != 1 || b[0].Contact != "sip:nap000001@127.0.0.1:5070;transport=udp" {
		t.Fatalf("bindings %+v", b)
	}
	// A second contact for the same AOR: the 200 lists both.
	resp = c.send(5071, 600)
	if resp.NumContacts != 2 {
		t.Errorf("%d contacts listed", resp.NumContacts)
	}
	// Refresh (CSeq 3) is fine; then an older CSeq for the same Call-ID
	// and binding is refused.
	if resp = c.send(5070, 3600); resp.StatusCode != 200 {
		t.Fatalf("refresh: %d", resp.StatusCode)
	}
	c.cseq = 1
	if resp = c.send(5070, 3600); resp.StatusCode != 500 {
		t.Errorf("older CSeq answered %d", resp.StatusCode)
	}
}

func TestMinMaxExpiresAndStyles(t *testing.T) {
	r := New(Config{MinExpires: 60, MaxExpires: 300})
	c := newClient(t, r.NewWorker(), "nap000001")
	resp := c.send(5070, 30)
	if resp.StatusCode != 423 || resp.MinExpires != 60 {
		t.Fatalf("%d min-expires %d", resp.StatusCode, resp.MinExpires)
	}
	if n, _ := r.Loc.Count(time.Now()); n != 0 {
		t.Error("423 created a binding")
	}
	resp = c.send(5070, 3600)
	if resp.StatusCode != 200 || resp.Contacts[0].Expires != 300 || resp.Expires != -1 {
		t.Fatalf("clamp (contact style): %d expires %d header %d", resp.StatusCode, resp.Contacts[0].Expires, resp.Expires)
	}
	h := New(Config{MaxExpires: 120, Style: StyleHeader})
	c = newClient(t, h.NewWorker(), "nap000002")
	resp = c.send(5070, 3600)
	if resp.StatusCode != 200 || resp.Contacts[0].Expires != -1 || resp.Expires != 120 {
		t.Fatalf("header style: contact expires %d, Expires %d", resp.Contacts[0].Expires, resp.Expires)
	}
	our := []byte("sip:nap000002@127.0.0.1:5070;transport=udp")
	if g, src := resp.GrantedExpires(our); g != 120 || src != sipwire.ExpiresFromHeader {
		t.Errorf("client would read %d from %v", g, src)
	}
}

func TestUnregisterAndStar(t *testing.T) {
	r := New(Config{})
	c := newClient(t, r.NewWorker(), "nap000001")
	c.send(5070, 3600)
	c.send(5071, 3600)
	if resp := c.send(5070, 0); resp.StatusCode != 200 || resp.NumContacts != 1 {
		t.Fatalf("un-REGISTER one: %d, %d left", resp.StatusCode, resp.NumContacts)
	}
	req := fmt.Sprintf("REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKstar\r\nFrom: <sip:nap000001@example.com>;tag=f1\r\nTo: <sip:nap000001@example.com>\r\nCall-ID: call-nap000001\r\nCSeq: %d REGISTER\r\nContact: *\r\nExpires: 0\r\nContent-Length: 0\r\n\r\n", c.cseq+1)
	if resp := c.raw([]byte(req)); resp.StatusCode != 200 {
		t.Fatalf("Contact: * answered %d", resp.StatusCode)
	}
	if n, _ := r.Loc.Count(time.Now()); n != 0 {
		t.Errorf("%d bindings left after Contact: *", n)
	}
	// A new transaction (a new branch: the same one would be a
	// retransmission, answered 200 again).
	bad := strings.Replace(strings.Replace(req, "Expires: 0", "Expires: 10", 1), "z9hG4bKstar", "z9hG4bKstar2", 1)
	if resp := c.raw([]byte(bad)); resp.StatusCode != 400 {
		t.Errorf("Contact: * with Expires 10 answered %d", resp.StatusCode)
	}
}

func TestAuthFlowAndSecurity(t *testing.T) {
	r := New(Config{Auth: true, Password: passwords})
	w := r.NewWorker()
	a := newClient(t, w, "nap000001")
	if resp := a.send(5070, 3600); resp.StatusCode != 401 || resp.NumWWWAuthenticate != 1 {
		t.Fatalf("no credentials: %d", resp.StatusCode)
	}
	if resp := a.send(5070, 3600); resp.StatusCode != 200 {
		t.Fatalf("right credentials: %d", resp.StatusCode)
	}
	// Replay: the same nonce and nc again.
	a.nc--
	if resp := a.send(5070, 3600); resp.StatusCode != 401 || w.Replays != 1 {
		t.Errorf("replay answered %d (replays %d)", resp.StatusCode, w.Replays)
	}
	// Wrong password: 403, no binding.
	b := newClient(t, w, "nap000002")
	b.pass = "wrong"
	b.send(5070, 3600)
	if resp := b.send(5070, 3600); resp.StatusCode != 403 {
		t.Errorf("wrong password: %d", resp.StatusCode)
	}
	if len(r.Loc.Bindings("nap000002@example.com", time.Now())) != 0 {
		t.Error("binding created with a wrong password")
	}
	// User B's valid credentials cannot touch user A's AOR.
	c := newClient(t, w, "nap000003")
	c.send(5070, 3600)
	mallory := func(reg *sipwire.Register) { reg.User = []byte("nap000001"); reg.Expires = 0 }
	if resp := c.send(5070, 0, mallory); resp.StatusCode != 403 {
		t.Errorf("B's credentials on A's AOR: %d", resp.StatusCode)
	}
	if len(r.Loc.Bindings("nap000001@example.com", time.Now())) != 1 {
		t.Error("A's binding was removed with B's credentials")
	}
	// Unknown user: 403.
	u := newClient(t, w, "mallory")
	u.send(5070, 3600)
	if resp := u.send(5070, 3600); resp.StatusCode != 403 {
		t.Errorf("unknown user: %d", resp.StatusCode)
	}
}

func TestExpiredNonceIsStale(t *testing.T) {
	now := time.Unix(1000, 0)
	r := New(Config{Auth: true, Password: passwords, NonceTTL: 10 * time.Second})
	r.Now = func() time.Time { return now }
	c := newClient(t, r.NewWorker(), "nap000001")
	c.send(5070, 3600)
	now = now.Add(11 * time.Second)
	resp := c.send(5070, 3600)
	if resp.StatusCode != 401 || !strings.Contains(string(resp.WWWAuthenticate[0]), "stale=true") {
		t.Fatalf("expired nonce: %d %s", resp.StatusCode, resp.WWWAuthenticate[0])
	}
	if resp = c.send(5070, 3600); resp.StatusCode != 200 {
		t.Errorf("with the fresh nonce: %d", resp.StatusCode)
	}
	// A forged nonce is a plain challenge, not stale.
	c.ch.Nonce = []byte(strings.Repeat("0", nonceLen))
	if resp = c.send(5070, 3600); resp.StatusCode != 401 || strings.Contains(string(resp.WWWAuthenticate[0]), "stale") {
		t.Errorf("forged nonce: %d", resp.StatusCode)
	}
}

func TestFaultInjectionAndGarbage(t *testing.T) {
	c := newClient(t, New(Config{Silent: true}).NewWorker(), "nap000001")
	if c.send(5070, 3600) != nil {
		t.Error("silent registrar answered")
	}
	c = newClient(t, New(Config{Drop: 1}).NewWorker(), "nap000001")
	if c.send(5070, 3600) != nil {
		t.Error("drop 1.0 answered")
	}
	c = newClient(t, New(Config{RejectCode: 503, RejectProb: 1}).NewWorker(), "nap000001")
	if resp := c.send(5070, 3600); resp.StatusCode != 503 {
		t.Errorf("reject 503:1: %d", resp.StatusCode)
	}
	w := New(Config{Delay: time.Second}).NewWorker()
	req := sipwire.AppendRegister(nil, &sipwire.Register{User: []byte("u"), Domain: []byte("d"), LocalHost: []byte("h"), CallID: []byte("c"), CSeq: 1, FromTag: []byte("t"), Expires: 60})
	if v := w.Handle(req); v != Later {
		t.Errorf("delay verdict %v", v)
	}
	// Garbage and responses get no answer (no reflection), and are counted.
	for _, g := range []string{"garbage\r\n\r\n", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n\r\n"} {
		if v := w.Handle([]byte(g)); v != Ignore {
			t.Errorf("%q answered", g)
		}
	}
	if w.Malformed != 1 {
		t.Errorf("malformed %d", w.Malformed)
	}
	if v := w.Handle([]byte(strings.Replace(string(req), "REGISTER sip", "OPTIONS sip", 1))); v == Ignore || !strings.HasPrefix(string(w.Out), "SIP/2.0 405") {
		t.Errorf("OPTIONS: %s", w.Out)
	}
}

func TestSweep(t *testing.T) {
	now := time.Unix(1000, 0)
	r := New(Config{})
	r.Now = func() time.Time { return now }
	c := newClient(t, r.NewWorker(), "nap000001")
	c.send(5070, 60)
	if n, _ := r.Loc.Count(now); n != 1 {
		t.Fatal("no binding")
	}
	if removed := r.Loc.Sweep(now.Add(61 * time.Second)); removed != 1 {
		t.Errorf("swept %d", removed)
	}
}

// A rate cap: a burst of MaxBurst requests is served at once, the next
// one is answered 503 with Retry-After and counted, and the bucket fills
// again at MaxRate a second, in the registrar's clock.
func TestMaxRateAnswers503WithRetryAfter(t *testing.T) {
	now := time.Unix(1000, 0)
	r := New(Config{MaxRate: 10, MaxBurst: 3, RetryAfter: 7})
	r.Now = func() time.Time { return now }
	w := r.NewWorker()
	user := 0 // a new one for each request: a new transaction, not a retransmission
	codes := func(n int) string {
		var out []string
		for i := 0; i < n; i++ {
			user++
			c := newClient(t, w, fmt.Sprintf("nap%06d", user))
			resp := c.send(5070, 3600)
			s := fmt.Sprint(resp.StatusCode)
			if resp.StatusCode == 503 {
				if resp.RetryAfter != 7 {
					t.Errorf("503 with Retry-After %d, want 7", resp.RetryAfter)
				}
				s += "/" + fmt.Sprint(resp.RetryAfter)
			}
			out = append(out, s)
		}
		return strings.Join(out, " ")
	}
	if got := codes(5); got != "200 200 200 503/7 503/7" {
		t.Errorf("a burst of 5 at once against a bucket of 3: %s", got)
	}
	now = now.Add(150 * time.Millisecond) // 1.5 tokens back at 10/s
	if got := codes(2); got != "200 503/7" {
		t.Errorf("150 ms later: %s", got)
	}
	now = now.Add(10 * time.Second) // full again, and no more than full
	if got := codes(4); got != "200 200 200 503/7" {
		t.Errorf("10 s later: %s", got)
	}
	if w.Throttled != 4 || w.Registered != 7 {
		t.Errorf("throttled %d registered %d, want 4 and 7", w.Throttled, w.Registered)
	}
	// Defaults: a second's worth of burst, Retry-After 1.
	r = New(Config{MaxRate: 2.5})
	if c := r.Config(); c.MaxBurst != 3 || c.RetryAfter != 1 {
		t.Errorf("defaults: burst %d, Retry-After %d", c.MaxBurst, c.RetryAfter)
	}
	// Requests lost to Drop never reached the cap.
	r = New(Config{MaxRate: 1, MaxBurst: 1, Drop: 1})
	w = r.NewWorker()
	if newClient(t, w, "nap000001").send(5070, 3600) != nil || w.Throttled != 0 || r.cap.tat.Load() != 0 {
		t.Errorf("a dropped request took a token")
	}
}

// The bucket holds under concurrent workers: from a full bucket of B at a
// standstill clock, exactly B of many concurrent takes succeed.
func TestBucketConcurrent(t *testing.T) {
	b := newBucket(1000, 500)
	var ok atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				if b.take(1e12) {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 500 {
		t.Errorf("%d taken, want 500", ok.Load())
	}
	if !b.take(1e12+int64(time.Millisecond)) || b.take(1e12+int64(time.Millisecond)) {
		t.Error("one token a millisecond at 1000/s")
	}
}

// The cap on the hot path allocates nothing, served or refused.
func TestMaxRateNoAllocs(t *testing.T) {
	for _, rate := range []float64{1e9, 1e-3} { // every request served; all but the first refused
		w := New(Config{MaxRate: rate}).NewWorker()
		// New transactions (CSeq and branch 2, 3, ...), not retransmissions
		// of the first, which the transaction table would answer.
		reqs := make([][]byte, 102)
		for i := range reqs {
			reqs[i] = reqBytes("nap000001", uint32(i+1), sipwire.UDP)
		}
		w.Handle(reqs[0])
		next := 1
		if a := testing.AllocsPerRun(100, func() { w.Handle(reqs[next]); next++ }); a != 0 {
			t.Errorf("rate %v: %v allocs per request", rate, a)
		}
		if want := map[bool]int64{true: 0, false: 101}[rate > 1]; w.Throttled != want || w.Retransmissions != 0 {
			t.Errorf("rate %v: %d throttled (want %d), %d retransmissions", rate, w.Throttled, want, w.Retransmissions)
		}
	}
}

// A refusal by Config.RejectProb is drawn per transaction: a
// retransmission (the same bytes) gets its original's answer, from any
// worker, while a share RejectProb of the transactions is refused.
func TestRejectDrawnPerTransaction(t *testing.T) {
	r := New(Config{RejectCode: 403, RejectProb: 0.5})
	a, b := r.NewWorker(), r.NewWorker()
	refused := 0
	for i := range 1000 {
		req := sipwire.AppendRegister(nil, &sipwire.Register{User: []byte("u"), Domain: []byte("d"), LocalHost: []byte("h"),
			CallID: []byte("c" + strconv.Itoa(i%10)), CSeq: uint32(1 + i/10), FromTag: []byte("t"), Expires: 60, Branch: uint64(i)})
		var codes [3]string
		for k, w := range []*Worker{a, b, a} {
			if w.Handle(req) != Reply {
				t.Fatal("not answered")
			}
			codes[k] = string(w.Out[:12])
		}
		if codes[0] != codes[1] || codes[1] != codes[2] {
			t.Fatalf("transaction %d answered %q", i, codes)
		}
		if codes[0] == "SIP/2.0 403 " {
			refused++
		}
	}
	if refused < 400 || refused > 600 {
		t.Errorf("%d of 1000 transactions refused, want about 500", refused)
	}
}
