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
	for _, s := range n.sent {
		if s.user == "g000" && s.cseq != 0 && s.callID[:3] == "ka-" {
			at = append(at, s.at)
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
	n.at(45*time.Second, func() { n.noPong = map[string]bool{simX: true} })
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
	x := n.sends(simX, "g000")
	if len(x) < 2 || x[1].at != 70*time.Second+60*time.Millisecond || x[1].expires != 3600 {
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
	n.silence(45*time.Second, simX)
	n.run(e, 300*time.Second)
	res, _ := e.Wait()
	checkSums(t, res)
	if k := res.Summary.Keepalives; k == nil || k.Sent != 2 || k.Answered != 1 || k.Failed != 1 {
		t.Fatalf("keepalives %+v", k)
	}
	// The ping at 60.02 s is unanswered by 92.02 s: a REGISTER then.
	var regs []time.Duration
	for _, s := range n.sends(simX, "g000") {
		if s.callID[:3] != "ka-" && s.expires != 0 && (len(regs) == 0 || s.cseq != 1) {
			regs = append(regs, s.at)
		}
	}
	if len(regs) < 2 || regs[0] != 0 || regs[1] != 92*time.Second+20*time.Millisecond {
		t.Fatalf("REGISTERs at %v: want 0 and 92.02 s", regs)
	}
}
