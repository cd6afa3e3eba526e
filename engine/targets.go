package engine

import (
	"fmt"
	"net/netip"

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
	if len(g.Targets) < 2 {
		return nil
	}
	ts := &targetSet{order: g.Order}
	for _, t := range g.Targets {
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
}

// targetOf is NAP i's current target: an index into the lane's targets.
func (l *lane) targetOf(i uint32) uint8 {
	if l.tgt == nil || int(i) >= len(l.tgt) {
		return 0
	}
	return l.tgt[i]
}

// addrOf is target t's host:port.
func (l *lane) addrOf(t uint8) string {
	if l.ts == nil {
		return l.target
	}
	return l.ts.addrs[t]
}

// datagramTo is a socket that can send elsewhere than where it was
// dialled (netio's UDP sockets, the simulated network's).
type datagramTo interface {
	SendTo(b []byte, to netip.AddrPort) error
}

// sendTo sends a datagram to target t from c.
func (l *lane) sendTo(c Conn, msg []byte, t uint8) error {
	d, ok := c.(datagramTo)
	if !ok {
		return errNoSendTo
	}
	return d.SendTo(msg, l.ts.aps[t])
}

var errNoSendTo = fmt.Errorf("engine: this socket sends to its target only")

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
	c := &l.rec.Targets[t]
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
	l.rec.Targets[t].Failovers++
	l.tgt[i] = next
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

// targetRecorder names the recorder's per-target counts.
func (l *lane) targetRecorder() {
	if l.ts == nil {
		return
	}
	l.rec.TargetNames = l.ts.names
	l.rec.Targets = make([]metrics.TargetCounts, len(l.ts.names))
}
