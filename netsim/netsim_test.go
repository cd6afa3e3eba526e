package netsim

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/regstorm/regstorm/netio"
	"github.com/regstorm/regstorm/sipwire"
)

const tx = "10.0.0.1:5060"

// recorder is a program that takes what the network delivers, each with
// its simulated time.
type recorder struct {
	n      *Network
	msgs   []string
	closed []time.Duration
	pongs  []time.Duration
}

func (r *recorder) OnMessageAt(_ any, msg []byte, _ time.Time, from netip.AddrPort) {
	var m sipwire.Msg
	_ = m.Parse(msg)
	r.msgs = append(r.msgs, fmt.Sprintf("%v %d from %v", r.n.Now(), m.StatusCode, from))
}
func (r *recorder) OnClosed(any, error) { r.closed = append(r.closed, r.n.Now()) }
func (r *recorder) OnPong(any)          { r.pongs = append(r.pongs, r.n.Now()) }

func register(user string, cseq int, expires int) []byte {
	return []byte(fmt.Sprintf("REGISTER sip:example.com SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:40001;branch=z9hG4bK-%s-%d\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:%s@example.com>;tag=a\r\nTo: <sip:%s@example.com>\r\n"+
		"Call-ID: c-%s\r\nCSeq: %d REGISTER\r\nContact: <sip:%s@127.0.0.1:40001>;expires=%d\r\n"+
		"Content-Length: 0\r\n\r\n", user, cseq, user, user, user, cseq, user, expires))
}

// start gives n a program, rec, and the channel that says it is done.
func start(t *testing.T, n *Network) (*recorder, chan struct{}) {
	t.Helper()
	rec := &recorder{n: n}
	if _, err := n.NewNetwork(rec); err != nil {
		t.Fatal(err)
	}
	return rec, make(chan struct{})
}

// A request reaches the registrar one way later, its answer comes back
// one more later; the registrar holds the binding; Sends has the request
// as sent.
func TestRequestAnsweredAfterARoundTrip(t *testing.T) {
	n := New(tx)
	rec, done := start(t, n)
	c, _ := n.Dial(sipwire.UDP, netip.AddrPort{}, tx, nil)
	n.At(5*time.Millisecond, func() { _ = c.Send(register("alice", 1, 60)) })
	n.At(time.Second, func() { close(done) })
	n.SetStep(func() time.Duration { return time.Hour })
	if err := n.Run(done, time.Minute); err != nil {
		t.Fatal(err)
	}
	if len(rec.msgs) != 1 || rec.msgs[0] != "25ms 200 from "+tx {
		t.Errorf("delivered %q: want a 200 at 25 ms", rec.msgs)
	}
	if b := n.Bindings(tx); b != 1 {
		t.Errorf("%d bindings", b)
	}
	s := n.Sends(tx, "alice")
	if len(s) != 1 || s[0].At != 5*time.Millisecond || s[0].Expires != 60 || s[0].CSeq != 1 || s[0].Transport != sipwire.UDP || s[0].Conn != c {
		t.Errorf("sends %+v", s)
	}
	if len(n.Sockets()) != 1 || n.Now() != time.Second {
		t.Errorf("sockets %d, now %v", len(n.Sockets()), n.Now())
	}
}

// Silenced, lost, or at a target gone: the request is sent (in Sends) and
// never answered; a connect to a target gone is refused after a round
// trip, and its connections drop when it goes.
func TestOutages(t *testing.T) {
	ty := "10.0.0.2:5060"
	n := New(tx, ty)
	rec, done := start(t, n)
	n.Lose = func(s Send) bool { return s.User == "lost" }
	u, _ := n.Dial(sipwire.UDP, netip.AddrPort{}, tx, nil)
	var stream netio.Conn
	var refused error
	n.DialAsync(sipwire.TCP, netip.AddrPort{}, ty, nil, func(c netio.Conn, err error) { stream = c })
	n.Silence(time.Second, tx)
	n.Kill(2*time.Second, ty)
	n.At(0, func() { _ = u.Send(register("lost", 1, 60)) })
	n.At(1500*time.Millisecond, func() { _ = u.Send(register("quiet", 1, 60)) })
	n.At(3*time.Second, func() {
		n.DialAsync(sipwire.TCP, netip.AddrPort{}, ty, nil, func(_ netio.Conn, err error) { refused = err })
	})
	n.At(time.Minute, func() { close(done) })
	n.SetStep(func() time.Duration { return time.Hour })
	if err := n.Run(done, time.Hour); err != nil {
		t.Fatal(err)
	}
	if len(rec.msgs) != 0 || len(n.Sent()) != 2 {
		t.Errorf("delivered %q, sent %d: want nothing answered, both sent", rec.msgs, len(n.Sent()))
	}
	if stream == nil || !stream.Closed() || len(rec.closed) != 1 || rec.closed[0] != 2*time.Second {
		t.Errorf("stream %v, closed at %v: want connected, dropped at 2 s", stream, rec.closed)
	}
	if !errors.Is(refused, ErrRefused) {
		t.Errorf("connect after the kill: %v", refused)
	}
}

// Run gives up at its bound, and waits for a program's step before
// stepping.
func TestRunBoundAndWait(t *testing.T) {
	n := New(tx)
	_, done := start(t, n)
	go n.SetStep(func() time.Duration { return time.Second })
	if err := n.Run(done, 10*time.Second); !errors.Is(err, ErrBound) || n.Now() > 10*time.Second {
		t.Errorf("run: %v at %v: want ErrBound by 10 s", err, n.Now())
	}
}

// A keep-alive ping on a stream gets its pong a round trip later, but not
// from a target that answers no ping.
func TestPing(t *testing.T) {
	n := New(tx)
	rec, done := start(t, n)
	var c netio.Conn
	n.DialAsync(sipwire.TCP, netip.AddrPort{}, tx, nil, func(cc netio.Conn, _ error) { c = cc })
	n.At(time.Second, func() { _ = c.Ping() })
	n.At(2*time.Second, func() { n.SetNoPong(tx, true); _ = c.Ping() })
	n.At(time.Minute, func() { close(done) })
	n.SetStep(func() time.Duration { return time.Hour })
	if err := n.Run(done, time.Hour); err != nil {
		t.Fatal(err)
	}
	if len(rec.pongs) != 1 || rec.pongs[0] != time.Second+20*time.Millisecond || n.Pings() != 2 {
		t.Errorf("pongs at %v of %d pings: want one, at 1.02 s", rec.pongs, n.Pings())
	}
}

// A program that stops its network is no longer stepped; Run waits for
// the next program's step, given from another goroutine, and drives it.
func TestRunFollowsTheNextProgram(t *testing.T) {
	n := New(tx)
	_, done := start(t, n)
	var first, second []time.Duration
	n.SetStep(func() time.Duration { first = append(first, n.Now()); return time.Second })
	n.At(5*time.Second, func() {
		_ = n.Stop()
		go n.SetStep(func() time.Duration {
			if second = append(second, n.Now()); len(second) == 3 {
				close(done)
			}
			return time.Second
		})
	})
	if err := n.Run(done, time.Minute); err != nil {
		t.Fatal(err)
	}
	if len(first) != 5 || first[4] != 4*time.Second || len(second) != 3 || second[0] != 5*time.Second {
		t.Errorf("first program stepped at %v, second at %v: want 0…4 s, then 5, 6, 7 s", first, second)
	}
}
