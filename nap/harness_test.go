package nap

import (
	"bytes"
	"container/heap"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/regstorm/regstorm/scheduler"
	"github.com/regstorm/regstorm/sipwire"
)

// testDir derives identities the way the real directory will: from the
// index, with fixed patterns.
type testDir struct {
	user, callID, tag []byte
	password          []byte
}

func (d *testDir) Identity(i uint32, r *sipwire.Register) {
	d.user = fmt.Appendf(d.user[:0], "nap%06d", i+1)
	d.callID = fmt.Appendf(d.callID[:0], "%08x@regstorm", i)
	d.tag = fmt.Appendf(d.tag[:0], "t%x", i)
	r.User, r.Domain = d.user, []byte("example.com")
	r.LocalHost, r.LocalPort = []byte("127.0.0.1"), 5070
	r.CallID, r.FromTag = d.callID, d.tag
}

func (d *testDir) Password(uint32) []byte { return d.password }

// sent is one request as seen on the wire by the harness.
type sent struct {
	at      time.Duration
	nap     uint32
	kind    Send
	cseq    uint32
	branch  string
	expires int64    // Contact ;expires=
	auth    string   // the first Authorization, else the first Proxy-Authorization
	www     []string // every Authorization value
	proxy   []string // every Proxy-Authorization value
	raw     []byte
}

// reply is a response the scripted registrar sends after delay.
type reply struct {
	delay time.Duration
	raw   []byte
}

type queued struct {
	at  time.Duration
	nap uint32
	raw []byte
	seq int
}

type respQueue []queued

func (q respQueue) Len() int { return len(q) }
func (q respQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q respQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *respQueue) Push(x any)   { *q = append(*q, x.(queued)) }
func (q *respQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// harness runs NAPs against a scripted registrar in simulated time,
// through the Driver the engine uses: the harness is the driver's Link
// (a scripted registrar) and its Tally (counts).
type harness struct {
	t       testing.TB
	d       *Driver
	m       *Machine
	naps    []NAP // d.NAPs
	clock   scheduler.SimClock
	queue   respQueue
	seq     int
	sends   []sent
	actions []Action
	keep    bool // keep every send and action (single-NAP tests)
	// respond is the registrar: it sees each request and returns replies.
	respond func(h *harness, req *sipwire.Msg, s sent) []reply
	// connect decides the outcome of a TCP connect attempt.
	connect func(h *harness, i uint32) bool
	// hold: connect attempts stay under way (in held) until the test
	// calls Connected or ConnectFailed.
	hold   bool
	held   []uint32
	counts map[Event]int
	regd   int // registered gauge from RegisteredDelta
	// closeAfterAnswer: the registrar closes the TCP connection right
	// after each response it sends (some real ones do).
	closeAfterAnswer bool
	// Transaction accounting, as the engine keeps it (docs/summary.md).
	requests, finals, timeouts, abandoned int
	sending                               Send // the Action being applied
}

func newHarness(t testing.TB, cfg Config, n int, respond func(h *harness, req *sipwire.Msg, s sent) []reply) *harness {
	h := &harness{t: t, respond: respond, keep: n <= 16, counts: map[Event]int{}}
	h.m = NewMachine(cfg, &testDir{password: []byte("secret")})
	h.d = NewDriver(h.m, n, &h.clock, time.Millisecond, h, h)
	h.naps = h.d.NAPs
	h.connect = func(*harness, uint32) bool { return true }
	return h
}

func (h *harness) now() time.Duration { return h.clock.Now() }

// Tally counts what the engine's recorder counts.
func (h *harness) Tally(i uint32, a Action, scheduled bool, lag time.Duration) {
	if scheduled && lag != 0 {
		h.t.Errorf("NAP %d: a timer fired %v late in simulated time", i, lag)
	}
	h.counts[a.Event]++
	h.regd += int(a.RegisteredDelta)
	if a.Code >= 200 && a.Event != EvStale {
		h.finals++
	}
	if a.Event == EvTimeout {
		h.timeouts++
	}
	if a.Abandoned {
		h.abandoned++
	}
	if a.Send == SendRequest {
		h.requests++
	}
	if h.keep {
		h.actions = append(h.actions, a)
	}
	h.sending = a.Send // what Send will carry
}

// Send is the wire: the registrar sees the request and queues replies.
func (h *harness) Send(i uint32, msg []byte) {
	raw := bytes.Clone(msg)
	var req sipwire.Msg
	if err := req.Parse(raw); err != nil {
		h.t.Fatalf("NAP %d sent an unparsable request: %v\n%s", i, err, raw)
	}
	s := sent{at: h.now(), nap: i, kind: h.sending, cseq: req.CSeq, branch: string(req.Via.Branch), expires: req.Contacts[0].Expires, raw: raw}
	for _, v := range req.Authorization[:req.NumAuthorization] {
		s.www = append(s.www, string(v))
	}
	for _, v := range req.ProxyAuthorization[:req.NumProxyAuthorization] {
		s.proxy = append(s.proxy, string(v))
	}
	if len(s.www) > 0 {
		s.auth = s.www[0]
	} else if len(s.proxy) > 0 {
		s.auth = s.proxy[0]
	}
	if h.keep {
		h.sends = append(h.sends, s)
	}
	if h.respond != nil {
		for _, r := range h.respond(h, &req, s) {
			h.seq++
			heap.Push(&h.queue, queued{at: h.now() + r.delay, nap: i, raw: r.raw, seq: h.seq})
		}
	}
}

// Connect decides a connect attempt at once (unless hold).
func (h *harness) Connect(i uint32) {
	if h.hold {
		h.held = append(h.held, i)
		return
	}
	if h.connect(h, i) {
		h.d.Connected(i)
	} else {
		h.d.ConnectFailed(i)
	}
}

// advance fires every timer due by t, the clock showing each deadline.
func (h *harness) advance(t time.Duration) { stepTo(&h.clock, h.d, t) }

// stepTo fires d's timers due by t one deadline at a time, the simulated
// clock showing each deadline while its timers fire, then sets it to t.
func stepTo(clock *scheduler.SimClock, d *Driver, t time.Duration) {
	for {
		te, ok := d.Wheel.NextDeadline()
		if !ok || te > t {
			break
		}
		clock.Set(te)
		d.Advance(te)
	}
	clock.Set(t)
	d.Advance(t)
}

// run advances simulated time to until, delivering responses and firing
// timers in time order (a response due at the same tick as a timer first).
func (h *harness) run(until time.Duration) {
	var msg sipwire.Msg
	for {
		te, tok := h.d.Wheel.NextDeadline()
		if len(h.queue) > 0 && h.queue[0].at <= until && (!tok || h.queue[0].at <= te) {
			q := heap.Pop(&h.queue).(queued)
			h.advance(q.at - time.Millisecond)
			h.clock.Set(q.at)
			if err := msg.Parse(q.raw); err != nil {
				h.t.Fatalf("harness built a bad response: %v\n%s", err, q.raw)
			}
			if i, ok := h.d.Route(&msg); ok && i == q.nap {
				h.d.Response(i, &msg, 0)
			} else {
				h.counts[EvStale]++ // not routable: the engine counts it stale
			}
			if h.closeAfterAnswer {
				h.d.Closed(q.nap)
			}
			continue
		}
		if !tok || te > until {
			h.advance(until)
			return
		}
		h.advance(te)
	}
}

// checkCounts: every request ended in a final response, a timeout or was
// abandoned, or is still in flight by its NAP's state (docs/summary.md).
func (h *harness) checkCounts() {
	h.t.Helper()
	inFlight := 0
	for i := range h.naps {
		switch h.naps[i].State {
		case Trying, Proceeding, Unregistering:
			inFlight++
		}
	}
	if h.requests != h.finals+h.timeouts+h.abandoned+inFlight {
		h.t.Errorf("requests %d != finals %d + timeouts %d + abandoned %d + in flight %d", h.requests, h.finals, h.timeouts, h.abandoned, inFlight)
	}
}

func (h *harness) start(i uint32) { h.d.Start(i, false, 0) }
func (h *harness) stop(i uint32)  { h.d.Stop(i) }

// response builds a response to req the way a registrar does: Via, From,
// To (with a tag), Call-ID and CSeq copied, then extra header lines.
func response(req *sipwire.Msg, code int, reason string, extra ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
	for i := 0; i < req.NumVia; i++ {
		fmt.Fprintf(&b, "Via: %s\r\n", req.ViaHeaders[i])
	}
	fmt.Fprintf(&b, "From: %s\r\nTo: %s;tag=reg1\r\nCall-ID: %s\r\nCSeq: %d %s\r\n", req.FromRaw, req.ToRaw, req.CallID, req.CSeq, req.CSeqMethod)
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.Bytes()
}

// contactOf echoes the request's Contact URI with an expires parameter.
func contactOf(req *sipwire.Msg, expires int64) string {
	return "Contact: <" + string(req.Contacts[0].URI) + ">;expires=" + strconv.FormatInt(expires, 10)
}

// sendTimes lists the send times of one NAP's requests.
func (h *harness) sendTimes(kind ...Send) []time.Duration {
	var out []time.Duration
	for _, s := range h.sends {
		if len(kind) == 0 || s.kind == kind[0] {
			out = append(out, s.at)
		}
	}
	return out
}

func ms(v ...float64) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x * float64(time.Second))
	}
	return out
}

func sameTimes(t *testing.T, what string, got, want []time.Duration) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d sends at %v, want %v", what, len(got), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: send %d at %v, want %v (all: %v)", what, i, got[i], want[i], got)
		}
	}
}
