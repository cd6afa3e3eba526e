package engine

import (
	"testing"
	"time"

	"github.com/regstorm/regstorm/nap"
	"github.com/regstorm/regstorm/sipwire"
)

// OPTIONS pings over UDP, every 30 s from a NAP's registration, answered
// (the registrar's 405 or 200 alike: the hop is alive) one round trip
// later: counted, with their latency.
func TestKeepaliveOptionsUDP(t *testing.T) {
	n := newSimNet(t, simX)
	g := simGroup("g", 3, simX)
	e := startSim(t, n, Options{Groups: []Group{g}, Keepalive: nap.KeepaliveOptions, KeepaliveInterval: 30 * time.Second,
		Duration: 100 * time.Second, Drain: 5 * time.Second})
	n.run(e, 200*time.Second)
	res, _ := e.Wait()
	checkSums(t, res)
	k := res.Summary.Keepalives
	// Registered at 0.02 s: pings at 30.02, 60.02, 90.02 s (each answered
	// 20 ms later; the next 30 s after the one before was sent).
	if k == nil || k.Sent != 9 || k.Answered != 9 || k.Failed != 0 || k.Options != 9 || k.LatencyMS.P50 < 20 || k.LatencyMS.P50 > 20.1 {
		t.Fatalf("keepalives %+v", k)
	}
	var at []time.Duration
	for _, s := range n.Sent() {
		if s.User == "g000" && s.CSeq != 0 && s.CallID[:3] == "ka-" {
			at = append(at, s.At)
		}
	}
	if len(at) != 3 || at[0] != 30*time.Second+20*time.Millisecond || at[2] != 90*time.Second+20*time.Millisecond {
		t.Errorf("g000's OPTIONS at %v", at)
	}
}

// CRLF pings over TCP; when the registrar stops answering them (its
// REGISTERs still answered), the flow is found dead 10 s after the
// unanswered ping: the connection is dropped, and the NAP connects again
// and registers on a new flow.
func TestKeepaliveCRLFDeadFlowReregisters(t *testing.T) {
	n := newSimNet(t, simX)
	g := simGroup("g", 2, simX)
	g.NAP.Transport = sipwire.TCP
	e := startSim(t, n, Options{Groups: []Group{g}, PerNAP: true, Keepalive: nap.KeepaliveCRLF, KeepaliveInterval: 30 * time.Second,
		Duration: 80 * time.Second, Drain: 5 * time.Second})
	n.At(45*time.Second, func() { n.SetNoPong(simX, true) })
	n.run(e, 200*time.Second)
	res, _ := e.Wait()
	checkSums(t, res)
	s := res.Summary
	k := s.Keepalives
	// Connected at 0.02, registered at 0.04 s: pings at 30.04 (answered
	// at 30.06) and 60.04 (30 s after the one before; unanswered), dead at
	// 70.04 s.
	if k == nil || k.Sent != 4 || k.Answered != 2 || k.Failed != 2 || k.Options != 0 {
		t.Fatalf("keepalives %+v", k)
	}
	// Dropped at 70.04 s; the last REGISTER was at 0.02 s, so it
	// reconnects at once and registers on the new connection at 70.06 s.
	x := n.Sends(simX, "g000")
	if len(x) < 2 || x[1].At != 70*time.Second+60*time.Millisecond || x[1].Expires != 3600 {
		t.Fatalf("g000: %v", x)
	}
	if s.ConnectionsLost != 2 || s.Connects != 4 || s.Registered != 2 {
		t.Errorf("lost %d, connects %d, registered %d", s.ConnectionsLost, s.Connects, s.Registered)
	}
}

// An OPTIONS ping over UDP left unanswered for Timer F finds the flow
// dead: the NAP registers again at once (a silent registrar then times
// that out as any REGISTER).
func TestKeepaliveOptionsDeadFlowUDP(t *testing.T) {
	n := newSimNet(t, simX)
	e := startSim(t, n, Options{Groups: []Group{simGroup("g", 1, simX)}, Keepalive: nap.KeepaliveOptions, KeepaliveInterval: 30 * time.Second,
		Duration: 100 * time.Second, Drain: time.Second})
	n.Silence(45*time.Second, simX)
	n.run(e, 300*time.Second)
	res, _ := e.Wait()
	checkSums(t, res)
	if k := res.Summary.Keepalives; k == nil || k.Sent != 2 || k.Answered != 1 || k.Failed != 1 {
		t.Fatalf("keepalives %+v", k)
	}
	// The ping at 60.02 s is unanswered by 92.02 s: a REGISTER then.
	var regs []time.Duration
	for _, s := range n.Sends(simX, "g000") {
		if s.CallID[:3] != "ka-" && s.Expires != 0 && (len(regs) == 0 || s.CSeq != 1) {
			regs = append(regs, s.At)
		}
	}
	if len(regs) < 2 || regs[0] != 0 || regs[1] != 92*time.Second+20*time.Millisecond {
		t.Fatalf("REGISTERs at %v: want 0 and 92.02 s", regs)
	}
}

// A ping in flight when its connection is lost for another reason is lost
// with it: its timeout must not drop the connection the NAP has made
// since. Registered at 0.04 s, the NAP pings at 30.04 s (no pong: the
// registrar ignores pings from 29 s); at 31 s the registrar drops the
// connection and answers pings again; the NAP connects again at once and
// registers at 31.04 s. At 40.04 s, 10 s after the lost ping, nothing
// happens: the new flow answers its pings, and is never dropped.
func TestKeepalivePingLostWithItsConnection(t *testing.T) {
	n := newSimNet(t, simX)
	g := simGroup("g", 1, simX)
	g.NAP.Transport = sipwire.TCP
	e := startSim(t, n, Options{Groups: []Group{g}, PerNAP: true, Keepalive: nap.KeepaliveCRLF, KeepaliveInterval: 30 * time.Second,
		Duration: 100 * time.Second, Drain: 5 * time.Second})
	n.At(29*time.Second, func() { n.SetNoPong(simX, true) })
	n.DropConns(31*time.Second, simX)
	n.At(31*time.Second, func() { n.SetNoPong(simX, false) })
	n.run(e, 200*time.Second)
	res, _ := e.Wait()
	checkSums(t, res)
	s := res.Summary
	if s.ConnectionsLost != 1 || s.Connects != 2 {
		t.Errorf("connections lost %d, connects %d: want the one the registrar dropped, and one new", s.ConnectionsLost, s.Connects)
	}
	if k := s.Keepalives; k == nil || k.Failed != 0 || k.Answered < 2 {
		t.Errorf("keepalives %+v: want none failed (the lost ping went with its flow), the new flow's pings answered", k)
	}
	if s.Registered != 1 {
		t.Errorf("registered %d", s.Registered)
	}
}

// On a shared connection a pong answers every ping in flight on it; so a
// ping unanswered finds the connection dead for every NAP pinging on it:
// each counts a failed ping, the connection is dropped once, and the
// later timeouts of those pings do not drop the connection the NAPs have
// made since. Two NAPs on one connection, started 1 s apart, ping at
// 30.04 and 31.04 s, unanswered (the registrar ignores pings from 29 s
// to 40.5 s); at 40.04 s the first ping's timeout drops the connection:
// both NAPs connect again and register at once. 41.04 s is the second
// ping's timeout: the new connection stays.
func TestKeepaliveSharedConnectionDeadOnce(t *testing.T) {
	n := newSimNet(t, simX)
	g := simGroup("g", 2, simX)
	g.NAP.Transport = sipwire.TCP
	g.Rate = 1
	e := startSim(t, n, Options{Groups: []Group{g}, SocketsPerLoop: 1, Keepalive: nap.KeepaliveCRLF, KeepaliveInterval: 30 * time.Second,
		Duration: 100 * time.Second, Drain: 5 * time.Second})
	n.At(29*time.Second, func() { n.SetNoPong(simX, true) })
	n.At(40500*time.Millisecond, func() { n.SetNoPong(simX, false) })
	n.run(e, 200*time.Second)
	res, _ := e.Wait()
	checkSums(t, res)
	s := res.Summary
	if s.ConnectionsLost != 2 || s.Connects != 2 || s.Abandoned != 0 {
		t.Errorf("connections lost %d (one per NAP), connects %d, abandoned %d: want the dead connection dropped once", s.ConnectionsLost, s.Connects, s.Abandoned)
	}
	if k := s.Keepalives; k == nil || k.Failed != 2 {
		t.Errorf("keepalives %+v: want both pings on the dead connection failed", k)
	}
	if s.Registered != 2 {
		t.Errorf("registered %d", s.Registered)
	}
}
