package engine

import (
	"net/netip"
	"testing"
	"time"

	"github.com/regstorm/regstorm/locate"
	"github.com/regstorm/regstorm/registrar"
	"github.com/regstorm/regstorm/sipwire"
)

// twoTargets is a group of n NAPs with X first and Y second.
func twoTargets(n int) Group {
	g := simGroup("g", n, "")
	g.Targets = []Target{{Addr: simX, Name: "x"}, {Addr: simY, Name: "y"}}
	return g
}

// The primary goes silent over UDP: a registered NAP learns it at its
// next refresh (half its expires), which times out (Timer F), and
// registers at the secondary --retry later — 300 + 32 + 5 s with the
// seed's timers. It stays there; the counts say where each thing happened.
func TestFailoverUDPPrimarySilent(t *testing.T) {
	n := newSimNet(t, simX, simY)
	g := twoTargets(10)
	g.NAP.Expires = 600
	e := startSim(t, n, Options{Groups: []Group{g}, Duration: 900 * time.Second, Drain: 40 * time.Second})
	n.Silence(100*time.Second, simX)
	var atX, atY int
	n.At(337*time.Second+time.Second, func() { atX, atY = n.Bindings(simX), n.Bindings(simY) })
	n.run(e, 2000*time.Second)
	res, _ := e.Wait()
	checkSums(t, res)

	x, y := n.Sends(simX, "g000"), n.Sends(simY, "g000")
	if len(x) < 2 || x[0].At != 0 || x[1].At != 300*time.Second+20*time.Millisecond {
		t.Fatalf("g000 at x: %v", x)
	}
	// The refresh at 300.02 s times out at 332.02 s; the retry goes to Y.
	if len(y) == 0 || y[0].At != 337*time.Second+20*time.Millisecond || y[0].Expires != 600 {
		t.Fatalf("g000 at y: %v, want its first REGISTER at 337.02 s", y)
	}
	if atY != 10 {
		t.Errorf("at 338 s: %d bindings at y (x, silent, still holds %d), want all 10", atY, atX)
	}
	// Sticky: refreshes stay at Y (637.04 s), never back to X.
	for _, s := range x[1:] {
		if s.At > 333*time.Second && s.Expires != 0 {
			t.Errorf("g000 went back to x at %v", s.At)
		}
	}
	s := res.Summary
	tx, ty := s.Targets["x"], s.Targets["y"]
	if tx == nil || ty == nil || tx.Timeouts != 10 || tx.Failovers != 10 || ty.Registered != 10 || tx.Registered != 0 || ty.Failovers != 0 {
		t.Fatalf("targets %+v %+v", tx, ty)
	}
	if s.Registered != 10 || s.Timeouts != 10 || s.Unregistered != 10 {
		t.Errorf("registered %d, timeouts %d, unregistered %d: want 10, 10, 10", s.Registered, s.Timeouts, s.Unregistered)
	}
	if n.Bindings(simY) != 0 {
		t.Errorf("%d bindings left at y after the drain", n.Bindings(simY))
	}
}

// SRV weights 3:1 at one priority: 400 NAPs start 300 at x and 100 at y,
// exactly (locate.Order's spread); the lower priority z gets none.
func TestTargetsSpreadByWeight(t *testing.T) {
	const simZ = "10.0.0.3:5060"
	n := newSimNet(t, simX, simY, simZ)
	res := locate.Result{Targets: []locate.Target{
		{Transport: "udp", Addr: netip.MustParseAddrPort(simX), Name: "x", Priority: 10, Weight: 3},
		{Transport: "udp", Addr: netip.MustParseAddrPort(simY), Name: "y", Priority: 10, Weight: 1},
		{Transport: "udp", Addr: netip.MustParseAddrPort(simZ), Name: "z", Priority: 20, Weight: 1},
	}}
	g := simGroup("g", 400, "")
	g.Targets = []Target{{Addr: simX, Name: "x"}, {Addr: simY, Name: "y"}, {Addr: simZ, Name: "z"}}
	g.Order = func(k uint64) []int { return locate.Order(res, k) }
	e := startSim(t, n, Options{Groups: []Group{g}, Duration: 10 * time.Second, Drain: 5 * time.Second})
	var x, y, z int
	n.At(9*time.Second, func() { x, y, z = n.Bindings(simX), n.Bindings(simY), n.Bindings(simZ) })
	n.run(e, 100*time.Second)
	r, _ := e.Wait()
	checkSums(t, r)
	if x != 300 || y != 100 || z != 0 {
		t.Fatalf("bindings x %d, y %d, z %d: want 300, 100, 0", x, y, z)
	}
	if s := r.Summary; s.Targets["x"].Registered != 300 || s.Targets["y"].Registered != 100 {
		t.Errorf("targets %+v %+v", s.Targets["x"], s.Targets["y"])
	}
}

// The primary's process dies under TCP connections: every NAP learns it
// at once (its connection drops), reconnects --retry after its last
// REGISTER, is refused, fails over, and connects to the secondary --retry
// later: shared and per-nap sockets alike.
func TestFailoverTCPPrimaryKilled(t *testing.T) {
	for _, perNAP := range []bool{false, true} {
		t.Run(map[bool]string{false: "shared", true: "per-nap"}[perNAP], func(t *testing.T) {
			n := newSimNet(t, simX, simY)
			g := twoTargets(8)
			g.NAP.Transport = sipwire.TCP
			e := startSim(t, n, Options{Groups: []Group{g}, PerNAP: perNAP, Duration: 60 * time.Second, Drain: 5 * time.Second})
			n.Kill(20*time.Second, simX)
			var atY int
			n.At(31*time.Second, func() { atY = n.Bindings(simY) })
			n.run(e, 200*time.Second)
			res, _ := e.Wait()
			checkSums(t, res)
			// Lost at 20 s; last REGISTER at 0.02 s, so reconnect at once,
			// refused at 20.02 s; --retry later (25.02 s) a connect to y,
			// the REGISTER at 25.04 s.
			y := n.Sends(simY, "g000")
			if len(y) == 0 || y[0].At != 25*time.Second+40*time.Millisecond {
				t.Fatalf("g000 at y: %v, want its REGISTER at 25.04 s", y)
			}
			if atY != 8 {
				t.Errorf("at 31 s: %d bindings at y, want 8", atY)
			}
			if tx := res.Summary.Targets["x"]; tx == nil || tx.Failovers != 8 || tx.ConnectFailures < 1 {
				t.Errorf("x: %+v", tx)
			}
			if n.Bindings(simY) != 0 {
				t.Errorf("%d bindings left at y", n.Bindings(simY))
			}
		})
	}
}

// A 503 moves a NAP to its next target --retry later (RFC 3263 §4.3); a
// 403 does not: it is the registrar's answer, not an unavailable server.
func TestFailoverOn503Only(t *testing.T) {
	for _, code := range []int{503, 403} {
		n := newSimNet(t, simX, simY)
		n.Configure(simX, registrar.Config{RejectCode: code, RejectProb: 1})
		e := startSim(t, n, Options{Groups: []Group{twoTargets(4)}, Duration: 20 * time.Second, Drain: 5 * time.Second})
		n.run(e, 100*time.Second)
		res, _ := e.Wait()
		checkSums(t, res)
		y := n.Sends(simY, "g000")
		if code == 503 && (len(y) == 0 || y[0].At != 5*time.Second+20*time.Millisecond) {
			t.Errorf("503: g000 at y %v, want its REGISTER at 5.02 s", y)
		}
		if code == 403 && len(y) != 0 {
			t.Errorf("403: g000 went to y: %v", y)
		}
		if tx := res.Summary.Targets["x"]; code == 503 && (tx.Refused503 != 4 || tx.Failovers != 4) {
			t.Errorf("503: x %+v", tx)
		}
	}
}

// New records (the name resolved again after its TTL): the NAPs whose
// target went away send their next REGISTER (their refresh) to the first
// target of their new order; the others stay; what happened at the old
// target stays counted.
func TestSetTargetsMovesOnlyTheNAPsWhoseTargetWent(t *testing.T) {
	const simZ = "10.0.0.3:5060"
	n := newSimNet(t, simX, simY, simZ)
	g := twoTargets(4)
	g.NAP.Expires = 600
	// NAPs 0 and 2 start at x, 1 and 3 at y.
	g.Order = func(k uint64) []int { return []int{int(k % 2), int(1 - k%2)} }
	e := startSim(t, n, Options{Groups: []Group{g}, Duration: 400 * time.Second, Drain: 5 * time.Second})
	reply := make(chan targetsReply, 1)
	n.At(100*time.Second, func() {
		ts := makeTargetSet([]Target{{Addr: simY, Name: "y"}, {Addr: simZ, Name: "z"}}, nil)
		e.ctrlQ <- func(time.Duration) { reply <- e.applyTargets("g", ts) }
	})
	n.run(e, 1000*time.Second)
	res, _ := e.Wait()
	checkSums(t, res)
	if r := <-reply; r.err != nil || r.moved != 2 {
		t.Fatalf("moved %d (%v), want 2: the NAPs at x", r.moved, r.err)
	}
	// g000 was at x: its refresh at 300.02 s goes to y, the new first.
	sendsAre(t, n.Sends(simX, "g000"), "udp@0s:600")
	if y := n.Sends(simY, "g000"); len(y) == 0 || y[0].At != 300*time.Second+20*time.Millisecond {
		t.Errorf("g000 at y: %v", y)
	}
	// g001 was at y, still listed: it stays.
	if y := n.Sends(simY, "g001"); len(y) != 3 { // 0 s, 300.02 s, the drain
		t.Errorf("g001 at y: %v", y)
	}
	s := res.Summary
	if s.Targets["x"] == nil || s.Targets["x"].Requests != 2 || s.Targets["y"].Registered != 4 || s.Registered != 4 {
		t.Errorf("targets %+v %+v, registered %d", s.Targets["x"], s.Targets["y"], s.Registered)
	}
}
