package engine

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/nap"
)

// A group may have several targets: the servers behind one name (RFC
// 3263's NAPTR, SRV and A/AAAA records). Each NAP has its own order over
// them (spread by SRV weight); it registers at its current target and
// moves to the next in its order after a timeout, a 503 or a failed
// connect (§4.3). It stays where it is while that works: a recovered
// primary gets NAPs back as the others fail them over again, never by a
// NAP leaving a target that answers (its binding is there).

// Target is one place a group's NAPs may register.
type Target struct {
	Addr string // host:port
	Name string // for the counts per target (default: Addr)
}

// targetSet is a cohort's targets and each NAP's order over them.
type targetSet struct {
	addrs []string
	aps   []netip.AddrPort // zero where an address is a name
	names []string
	order func(n uint64) []int // NAP n's order: indexes into addrs
}

// maxTargets bounds a group's targets: a NAP's index into them is a byte.
const maxTargets = 255

func newTargetSet(g *Group) *targetSet {
	if len(g.Targets) == 0 {
		return nil
	}
	return makeTargetSet(g.Targets, g.Order)
}

func makeTargetSet(targets []Target, order func(uint64) []int) *targetSet {
	ts := &targetSet{order: order}
	for _, t := range targets {
		ts.addrs = append(ts.addrs, t.Addr)
		ap, _ := netip.ParseAddrPort(t.Addr)
		ts.aps = append(ts.aps, ap)
		name := t.Name
		if name == "" {
			name = t.Addr
		}
		ts.names = append(ts.names, name)
	}
	if ts.order == nil {
		n := len(ts.addrs)
		ts.order = func(uint64) []int {
			o := make([]int, n)
			for i := range o {
				o[i] = i
			}
			return o
		}
	}
	return ts
}

func checkTargets(g *Group) error {
	if len(g.Targets) > maxTargets {
		return fmt.Errorf("%d targets: at most %d", len(g.Targets), maxTargets)
	}
	for _, t := range g.Targets {
		if t.Addr == "" {
			return fmt.Errorf("a target without an address")
		}
	}
	return nil
}

// sharedConn is a lane's socket (--sockets shared): for UDP one, whatever
// the target; for streams one connection per target. It tags what the
// network delivers.
type sharedConn struct {
	l       *lane
	t       uint8 // the target it is connected to (streams)
	conn    Conn
	local   netip.AddrPort
	dialing bool     // a dial is in progress
	waiting []uint32 // NAPs waiting for it
	session session  // its TLS session, resumed when it reconnects
	pinged  []uint32 // NAPs with a keep-alive ping in flight on it
}

// index is the position of addr in the set, or -1.
func (ts *targetSet) index(addr string) int {
	for i, a := range ts.addrs {
		if a == addr {
			return i
		}
	}
	return -1
}

// targetOf is NAP i's current target: an index into the lane's targets.
func (s *laneSockets) targetOf(i uint32) uint8 {
	if s.tgt == nil || int(i) >= len(s.tgt) {
		return 0
	}
	return s.tgt[i]
}

// addrOf is target t's host:port.
func (s *laneSockets) addrOf(t uint8) string {
	if s.ts == nil {
		return s.target
	}
	return s.ts.addrs[t]
}

// sendTo sends a datagram to target t from c.
func (s *laneSockets) sendTo(c Conn, msg []byte, t uint8) error {
	return c.SendTo(msg, s.ts.aps[t])
}

// placeNAP gives NAP i, about to start, the first target of its order.
func (l *lane) placeNAP(i uint32) {
	if l.ts == nil {
		return
	}
	if o := l.ts.order(l.co.groupIndex(l.idx, i)); len(o) > 0 {
		l.tgt[i] = uint8(o[0])
	}
}

// tallyTarget counts an action against NAP i's current target, and moves
// the NAP to its next target after a timeout, a 503 or a failed connect
// (not for an un-REGISTER: the NAP is leaving).
func (l *lane) tallyTarget(i uint32, a *nap.Action) {
	if l.ts == nil {
		return
	}
	t := l.targetOf(i)
	c := &l.rec.Targets[l.slot[t]]
	if a.Send == nap.SendRequest {
		c.Requests++
	}
	c.Registered += int64(a.RegisteredDelta)
	move := false
	switch a.Event {
	case nap.EvTimeout:
		c.Timeouts++
		move = !a.Unregister
	case nap.EvRefused:
		if a.Code == 503 {
			c.Refused503++
			move = true
		}
	case nap.EvConnectFailed:
		c.ConnectFailures++
		move = true
	}
	if move {
		l.failover(i, t)
	}
}

// failover moves NAP i from target t to the next in its order. A stream
// NAP must connect again, to the new target: its connection (per-nap) is
// closed, and it no longer counts as connected.
func (l *lane) failover(i uint32, t uint8) {
	o := l.ts.order(l.co.groupIndex(l.idx, i))
	next := t
	for k, x := range o {
		if uint8(x) == t {
			next = uint8(o[(k+1)%len(o)])
			break
		}
	}
	if next == t {
		return
	}
	l.rec.Targets[l.slot[t]].Failovers++
	l.tgt[i] = next
	l.flowGone(i)
	if l.udp {
		return
	}
	if l.conns != nil {
		if c := l.conns[i]; c != nil && !c.Closed() {
			_ = c.Close()
		}
	}
	l.d.Disconnected(i)
}

// targetRecorder gives each target of the set a slot in the recorder's
// per-target counts (a target that goes away keeps its slot: what
// happened there stays counted).
func (l *lane) targetRecorder() {
	if l.ts == nil {
		return
	}
	l.slot = l.slot[:0]
	for _, name := range l.ts.names {
		s := -1
		for k, n := range l.rec.TargetNames {
			if n == name {
				s = k
				break
			}
		}
		if s < 0 {
			s = len(l.rec.TargetNames)
			l.rec.TargetNames = append(l.rec.TargetNames, name)
			l.rec.Targets = append(l.rec.Targets, metrics.TargetCounts{})
		}
		l.slot = append(l.slot, s)
	}
	l.dialT = l.ts.index(l.target)
}

// setTargets gives the lane a new set (the name resolved differently):
// a NAP whose target is still in it stays there; the others go to the
// first target of their order in the new set, connecting again on a
// stream. Under the lane's lock, on the loop.
func (l *lane) setTargets(ts *targetSet) (moved int) {
	old := l.ts
	l.ts = ts
	var movedIn []uint8 // the new targets of registered NAPs that moved
	remap := make([]int, len(old.addrs))
	for k, a := range old.addrs {
		remap[k] = ts.index(a)
	}
	for i := range l.tgt {
		n := &l.d.NAPs[i]
		if nt := remap[l.tgt[i]]; nt >= 0 {
			l.tgt[i] = uint8(nt)
			continue
		}
		oldSlot := l.slot[l.tgt[i]]
		l.tgt[i] = 0
		if n.State == nap.Idle {
			continue // placed when it starts
		}
		l.placeNAP(uint32(i))
		moved++
		if n.Registered() { // it refreshes at its new target: counted there
			l.rec.Targets[oldSlot].Registered--
			movedIn = append(movedIn, l.tgt[i])
		}
		l.flowGone(uint32(i))
		if !l.udp {
			if l.conns != nil {
				if c := l.conns[i]; c != nil && !c.Closed() {
					_ = c.Close()
				}
			}
			l.d.Disconnected(uint32(i))
		}
	}
	if l.conns == nil && !l.udp { // a shared connection per target
		sh := make([]*sharedConn, len(ts.addrs))
		for t := range sh {
			if k := old.index(ts.addrs[t]); k >= 0 && k < len(l.sh) {
				sh[t] = l.sh[k]
			} else {
				sh[t] = &sharedConn{l: l, local: netip.AddrPortFrom(l.sh[0].local.Addr(), 0)}
			}
			sh[t].t = uint8(t)
		}
		for k, sc := range l.sh {
			if ts.index(old.addrs[k]) < 0 && sc.conn != nil {
				_ = sc.conn.Close() // its NAPs moved
			}
		}
		l.sh = sh
	}
	l.targetRecorder()
	for _, t := range movedIn {
		l.rec.Targets[l.slot[t]].Registered++
	}
	return moved
}

// SetTargets gives a running group a new list of targets, e.g. what its
// name resolves to after the records' TTL: NAPs whose target is still
// listed stay there, the others move to the first target of their order.
// It returns how many NAPs moved, once the loop has applied it; an error
// for a group given a single fixed target, or unknown.
func (e *Engine) SetTargets(group string, targets []Target, order func(n uint64) []int) (int, error) {
	g := Group{Name: group, Target: "x", NAP: nap.DefaultConfig(), Targets: targets}
	if err := checkTargets(&g); err != nil || len(targets) == 0 {
		return 0, fmt.Errorf("engine: targets for %s: %v", group, err)
	}
	ts := makeTargetSet(targets, order)
	r, err := onLoop(e, func(time.Duration) targetsReply { return e.applyTargets(group, ts) })
	if err != nil {
		return 0, err
	}
	return r.moved, r.err
}

type targetsReply struct {
	moved int
	err   error
}

// applyTargets runs a SetTargets on the loop.
func (e *Engine) applyTargets(group string, ts *targetSet) targetsReply {
	gr := e.byName[group]
	if gr == nil || gr.removed {
		return targetsReply{err: fmt.Errorf("engine: no group %q", group)}
	}
	co := gr.live()
	if co.ts == nil {
		return targetsReply{err: fmt.Errorf("engine: group %q has one fixed target", group)}
	}
	co.ts = ts
	co.spec.Targets = nil // the spec's list is stale now; co.ts is the truth
	var moved int
	for _, l := range co.lanes {
		l.mu.Lock()
		moved += l.setTargets(ts)
		l.mu.Unlock()
	}
	return targetsReply{moved: moved}
}
