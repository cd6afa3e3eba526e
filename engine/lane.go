package engine

import (
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/regstorm/regstorm/identity"
	"github.com/regstorm/regstorm/nap"
	"github.com/regstorm/regstorm/sipwire"
)

// lane is a slice of one cohort's NAPs (cohort index ≡ lane index, modulo
// the lane count) with what serves them: a driver (machine, wheel), its
// socket set (laneSockets, sockets.go), its tally (laneTally, tally.go)
// and its tap (laneTrace, lanetrace.go). One lock covers all of it; the
// loop takes it to fire timers, a delivery to handle a response, a
// finished dial to report it.
type lane struct {
	mu  sync.Mutex
	e   *Engine
	co  *cohort
	idx uint32            // in the cohort
	id  identity.Identity // the lane's copy: a reload updates it under the lock
	d   *nap.Driver
	dir *directory
	msg sipwire.Msg

	laneSockets
	laneTally
	laneTrace

	// onLoop: the loop holds the lock (it recomputes its sleep after: no
	// wake needed).
	onLoop bool
	ka     *nap.Keeper // nil: no keep-alives
	// rebooted: NAPs a reboot took, not registered again yet; rebooting:
	// stream NAPs whose connection closes before they reboot.
	rebooted  []bool
	rebooting map[uint32]bool
	answerBuf []byte // scratch for the answers to requests (answer)
}

// napTag tags a per-NAP socket.
type napTag struct {
	l *lane
	i uint32
}

func (l *lane) lockOnLoop() {
	l.mu.Lock()
	l.onLoop = true
}

func (l *lane) unlockOnLoop() {
	l.batching, l.onLoop = false, false
	l.mu.Unlock()
}

// grow makes room for n NAPs.
func (l *lane) grow(n int) {
	if n <= len(l.lag) {
		return
	}
	l.d.Grow(n)
	l.lag = append(l.lag, make([]uint32, n-len(l.lag))...)
	if l.ts != nil {
		l.tgt = append(l.tgt, make([]uint8, n-len(l.tgt))...)
	}
	l.paced = append(l.paced, make([]bool, n-len(l.paced))...)
	if l.conns != nil {
		l.conns = append(l.conns, make([]Conn, n-len(l.conns))...)
	}
}

// armed is the driver's Armed hook: a timer at at was set.
func (l *lane) armed(at time.Duration) { l.e.armed(at, l.onLoop) }

// drainLeft counts into failed, at the end of the run, the NAPs whose
// binding the drain did not remove, by why: an un-REGISTER refused or
// timed out and waiting to be sent again (its code, or "timeout"), one in
// flight ("no-answer"), none sent ("not-sent": a NAP registered, or whose
// REGISTER may yet bind it); and returns until when, at the latest, the
// bindings left stay.
func (l *lane) drainLeft(now time.Duration, failed map[string]int64) (until time.Duration) {
	for i := range l.d.NAPs {
		n := &l.d.NAPs[i]
		if code, ok := n.UnregisterFailedWith(); ok {
			if code == 0 {
				failed["timeout"]++
			} else {
				failed[strconv.Itoa(code)]++
			}
		} else {
			switch {
			case n.State == nap.Unregistering:
				failed["no-answer"]++
			case n.Registered() || n.State == nap.Trying || n.State == nap.Proceeding:
				failed["not-sent"]++
			default:
				continue
			}
		}
		until = max(until, now+time.Duration(max(n.Granted, n.Expires))*time.Second)
	}
	return until
}

// onMessage handles a message for this lane (lock not held) that arrived
// waited ago: its transaction's latency ends at the arrival.
func (l *lane) onMessage(tag any, msg []byte, waited time.Duration, onLoop bool, from netip.AddrPort) {
	l.mu.Lock()
	l.onLoop = onLoop
	defer func() { l.onLoop = false; l.mu.Unlock() }()
	l.rec.MessagesReceived++
	m := &l.msg
	if err := m.Parse(msg); err != nil {
		l.rec.Malformed++
		l.traceStray(msg, from, "malformed")
		return
	}
	if m.IsRequest {
		l.answer(tag, msg, from)
		return
	}
	// The branch carries the lane's salt and the NAP's index: a response
	// is ours whatever address it came from.
	i, ok := l.d.Route(m)
	if !ok {
		l.rec.Stale++
		l.traceStray(msg, from, "stale")
		return
	}
	if l.ka != nil && nap.IsKeepalive(m) {
		if !l.ka.Answer(i, m, l.e.clock.Now()-waited) {
			l.rec.Stale++
		}
		return
	}
	if l.tap != nil {
		l.traceMessage(false, int64(l.co.groupIndex(l.idx, i)), l.localOf(i), from, msg)
	}
	l.d.Response(i, m, waited)
}

// answer answers a request that reached the lane's NAPs (a registrar's
// OPTIONS ping, say) on the socket or connection it came on, back to where
// it came from, as a gateway does (nap.AppendAnswer says what it answers).
func (l *lane) answer(tag any, msg []byte, from netip.AddrPort) {
	m := &l.msg
	if m.ParseAddresses() != nil || m.Answerable() != nil {
		l.rec.Malformed++
		l.traceStray(msg, from, "malformed")
		return
	}
	l.rec.RequestReceived(m.Method)
	var c Conn
	switch t := tag.(type) {
	case *sharedConn:
		c = t.conn
	case *napTag:
		if int(t.i) < len(l.conns) {
			c = l.conns[t.i]
		}
	}
	if l.tap != nil {
		l.traceMessage(false, -1, l.localOfConn(c), from, msg)
	}
	out, ok, _ := nap.AppendAnswer(l.answerBuf[:0], m, l.d.M.Cfg.UserAgent)
	l.answerBuf = out
	if !ok || c == nil {
		return
	}
	l.rec.MessagesSent++
	if l.tap != nil {
		l.traceMessage(true, -1, l.localOfConn(c), from, out)
	}
	var err error
	if l.udp && from.IsValid() {
		err = c.SendTo(out, from)
	} else {
		err = c.Send(out)
	}
	if err != nil {
		l.rec.SendFailures++
	}
}

// inFlight counts the NAPs with a transaction open.
func (l *lane) inFlight() (n int64) {
	for i := range l.d.NAPs {
		switch l.d.NAPs[i].State {
		case nap.Trying, nap.Proceeding, nap.Unregistering:
			n++
		}
	}
	return n
}

// leave stops, without an un-REGISTER, the lane's NAPs that have no
// transaction in flight (their bindings stay until they expire), and
// reports whether any still has one.
func (l *lane) leave() (busy bool) {
	l.batching = l.batch != nil
	for i := range l.d.NAPs {
		switch l.d.NAPs[i].State {
		case nap.Idle, nap.Stopped:
		case nap.Trying, nap.Proceeding, nap.Unregistering:
			busy = true
		default:
			l.d.Vanish(uint32(i))
		}
	}
	return busy
}

// busy reports whether NAPs [from, to) of the lane (local indexes) still
// have something going on (not idle, not stopped).
func (l *lane) busy() bool {
	for i := range l.d.NAPs {
		if st := l.d.NAPs[i].State; st != nap.Idle && st != nap.Stopped {
			return true
		}
	}
	return false
}
