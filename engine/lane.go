package engine

import (
	"errors"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/regstorm/regstorm/identity"
	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/nap"
	"github.com/regstorm/regstorm/netio"
	"github.com/regstorm/regstorm/sipwire"
	"github.com/regstorm/regstorm/trace"
)

// lane is a slice of one cohort's NAPs (cohort index ≡ lane index, modulo
// the lane count) with what serves them: a socket (or one per NAP), a
// driver (machine, wheel) and a recorder. One lock covers all of it; the
// loop takes it to fire timers, a delivery to handle a response, a
// finished dial to report it.
type lane struct {
	mu  sync.Mutex
	e   *Engine
	co  *cohort
	idx uint32 // in the cohort
	// Fixed for the cohort's life (a change is a move to a new cohort), so
	// goroutines may read them without the loop's cohort state.
	network  sipwire.Transport
	target   string
	udp      bool
	localIPs *netio.AddrPool
	id       identity.Identity // the lane's copy: a reload updates it under the lock
	d        *nap.Driver
	rec      *metrics.Recorder
	dir      *directory
	msg      sipwire.Msg

	lag   []uint32 // µs the current transaction left after it was due
	paced []bool   // the NAP holds a pacing window slot (its first attempt, or its stop)
	// fails: for each kind of failure (a status code, failTimeout,
	// failConnect, failAuth), how many and the first few NAPs it happened
	// to, for the summary.
	fails map[int]*laneFailure

	// --sockets shared: the lane's socket (UDP: one for every target), or
	// its connection to each target (streams); sh[0] is the first target's.
	sh      []*sharedConn
	conns   []Conn  // --sockets per-nap; a closed one stays: its port is the NAP's
	batch   batcher // shared UDP: the loop's sends of one step to the first target
	hostBuf []byte
	// ts: the group's targets when it has several (RFC 3263), and tgt each
	// NAP's current one (an index into ts); nil with one target.
	ts    *targetSet
	tgt   []uint8
	slot  []int // each target's slot in rec.Targets
	dialT int   // the target the shared UDP socket was dialled to (its batch's), or -1

	// batching: the loop holds the lock and sends go to batch. onLoop: the
	// loop holds the lock (it recomputes its sleep after: no wake needed).
	batching, onLoop bool

	// TLS sessions resumed by reconnects, per NAP (allocated on a NAP's
	// first dial; see stream.go); a shared connection has its own.
	sessions []*session

	ka *nap.Keeper // nil: no keep-alives
	// rebooted: NAPs a reboot took, not registered again yet; rebooting:
	// stream NAPs whose connection closes before they reboot.
	rebooted  []bool
	rebooting map[uint32]bool
	tap       trace.Sink     // nil: no tracing, nothing done
	remote    netip.AddrPort // the target, for the trace
	tmsg      trace.Message  // scratch, for the tap
	tout      trace.Outcome
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

func (l *lane) connFor(i uint32) Conn {
	if l.conns != nil {
		return l.conns[i]
	}
	if l.udp {
		return l.sh[0].conn
	}
	return l.sh[l.targetOf(i)].conn
}

// Send is nap.Link: during the loop's step into the batch, else straight
// to the socket. A send that fails is a lost datagram or a dead
// connection: retransmissions, Timer F and OnClosed deal with those.
func (l *lane) Send(i uint32, msg []byte) {
	l.rec.MessagesSent++
	if l.tap != nil {
		l.traceMessage(true, int64(l.co.groupIndex(l.idx, i)), l.localOf(i), l.remote, msg)
	}
	if t := l.targetOf(i); l.ts != nil && l.udp && int(t) != l.dialT {
		if c := l.connFor(i); c == nil || l.sendTo(c, msg, t) != nil {
			l.rec.SendFailures++
		}
		return
	}
	if l.batching {
		l.batch.Add(msg) // copied: msg is the machine's scratch; its losses are counted at the end
		return
	}
	if c := l.connFor(i); c == nil || c.Send(msg) != nil {
		l.rec.SendFailures++
	}
}

// Connect is nap.Link: dial for NAP i without holding the lock (a dial
// waits on the network); the outcome comes back through connected.
func (l *lane) Connect(i uint32) {
	e := l.e
	if l.conns == nil { // shared: one connection for the lane, per target
		sc := l.sh[l.targetOf(i)]
		if c := sc.conn; c != nil && !c.Closed() {
			l.d.Connected(i)
			return
		}
		sc.waiting = append(sc.waiting, i)
		if sc.dialing {
			return
		}
		sc.dialing = true
		l.dial(sc.local, sc.t, sc, func(c Conn, err error) {
			l.mu.Lock()
			defer l.mu.Unlock()
			sc.dialing = false
			if err == nil && c.Closed() {
				// Reset before it was stored: its OnClosed found the NAPs
				// still connecting and changed nothing, so this attempt failed.
				err = errClosed
			}
			if err == nil {
				sc.conn, sc.local = c, c.LocalAddr() // reconnects reuse the port: the Contact stays
				l.connMade(c)
			} else {
				l.dialFailed(err)
			}
			waiting := sc.waiting
			sc.waiting = nil
			for _, w := range waiting {
				if err == nil {
					l.d.Connected(w)
				} else {
					l.d.ConnectFailed(w)
				}
			}
			l.wakeLoop()
		})
		return
	}
	from := netip.AddrPortFrom(e.localAddr(l.localIPs, l.co.groupIndex(l.idx, i)), 0)
	if old := l.conns[i]; old != nil {
		from = old.LocalAddr() // reconnect from the same port: the Contact stays
	}
	l.dial(from, l.targetOf(i), &napTag{l: l, i: i}, func(c Conn, err error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if err == nil && c.Closed() { // reset before it was stored (see above)
			err = errClosed
		}
		if err == nil {
			l.conns[i] = c
			l.connMade(c)
			l.d.Connected(i)
		} else {
			l.dialFailed(err)
			l.d.ConnectFailed(i)
		}
		l.wakeLoop()
	})
}

var errClosed = errors.New("engine: connection closed before it was stored")

// dial connects from the given local address. A NAP reconnects from the
// port it had, as a gateway with a fixed SIP port does, so its Contact
// stays one binding at the registrar instead of a new one per connection;
// if that port is taken meanwhile, any port will do.
func (l *lane) dial(from netip.AddrPort, t uint8, tag any, done func(Conn, error)) {
	target := l.addrOf(t)
	l.e.net.DialAsync(l.network, from, target, tag, func(c Conn, err error) {
		if err != nil && from.Port() != 0 && (errors.Is(err, unix.EADDRINUSE) || errors.Is(err, unix.EADDRNOTAVAIL)) {
			l.e.net.DialAsync(l.network, netip.AddrPortFrom(from.Addr(), 0), target, tag, done)
			return
		}
		done(c, err)
	})
}

// wakeLoop makes the loop look at this lane's timers soon, from outside
// the loop (a finished dial armed a timer).
func (l *lane) wakeLoop() { l.e.armed(0, false) }

// armed is the driver's Armed hook: a timer at at was set.
func (l *lane) armed(at time.Duration) { l.e.armed(at, l.onLoop) }

// Keys of lane.fails that are not status codes.
const (
	failTimeout   = -1
	failConnect   = -2
	failAuth      = -3 // a 401/407 refusing our credentials
	failConnLost  = -4 // a transaction lost with its connection
	failNoBinding = -5 // a 2xx without our binding (nap.Config.RequireBinding)
)

// maxExamples is how many NAPs each failure names.
const maxExamples = 3

type laneFailure struct {
	n        int64
	examples []uint32
}

// Tally is nap.Tally: the counters and histograms of each action, the
// pacing window, and one example NAP per kind of failure.
func (l *lane) Tally(i uint32, a nap.Action, scheduled bool, lag time.Duration) {
	rec := l.rec
	switch a.Event {
	case nap.EvStale:
		rec.Stale++
	case nap.EvTimeout:
		rec.Timeouts++
		if !a.Unregister {
			l.fail(failTimeout, i)
		}
	case nap.EvChallenged:
		rec.AuthChallenges++
	case nap.EvConnectFailed:
		rec.ConnectFailures++
		l.fail(failConnect, i)
	case nap.EvConnLost:
		rec.ConnLost++
		if a.Abandoned { // a transaction lost with its connection: the peer reset or closed it
			rec.TransactionsLost++
			l.fail(failConnLost, i)
		}
	case nap.EvUnregistered:
		rec.Unregistered++
	case nap.EvNoBinding:
		rec.Refused++
		rec.NoBinding++
		l.fail(failNoBinding, i)
	case nap.EvRefused:
		rec.Refused++
		rec.Refusal(a.Code)
		if a.Code == 401 || a.Code == 407 {
			l.fail(failAuth, i)
		} else {
			l.fail(a.Code, i)
		}
	case nap.EvRegistered:
		metrics.Latency(rec.Registration, a.RegLatency)
		if l.ka != nil {
			l.ka.Registered(i, l.e.clock.Now())
		}
		if l.rebooted != nil {
			l.backAfterReboot(i)
		}
	}
	if a.Abandoned {
		rec.Abandoned++
	}
	l.tallyTarget(i, &a)
	if l.tap != nil {
		l.traceEnd(i, &a)
	}
	if a.Code != 0 && a.Event != nap.EvStale {
		rec.Response(a.Code)
		if a.Code >= 200 {
			if a.Unregister {
				rec.UnregisterDone(a.Latency)
			} else {
				rec.TransactionDone(a.Latency, time.Duration(l.lag[i])*time.Microsecond)
			}
		}
	}
	if a.RegisteredDelta != 0 {
		rec.Registered += int64(a.RegisteredDelta)
		l.e.registered.Add(int64(a.RegisteredDelta))
	}
	if l.paced[i] {
		switch a.Event {
		case nap.EvRegistered, nap.EvRefused, nap.EvNoBinding, nap.EvTimeout, nap.EvStopped, nap.EvConnectFailed, nap.EvUnregistered, nap.EvUnregRefused:
			l.paced[i] = false
			l.e.window.Add(-1)
		}
	}
	switch a.Send {
	case nap.SendRequest:
		rec.Requests++
		if !scheduled {
			lag = 0 // sent at once on a response or a stop: nothing was due earlier
		} else {
			metrics.Latency(rec.RefreshError, lag)
		}
		l.lag[i] = uint32(min(lag/time.Microsecond, 1<<32-1))
	case nap.SendRetransmit:
		rec.Retransmissions++
	}
}

// traceEnd tells the tap how NAP i's transaction ended, if it did: a
// challenge answered or a 423 adopted is a step of the same attempt.
func (l *lane) traceEnd(i uint32, a *nap.Action) {
	nap64 := int64(l.co.groupIndex(l.idx, i))
	switch {
	case a.Event == nap.EvRegistered || a.Event == nap.EvUnregistered:
		l.traceOutcome(nap64, true, strconv.Itoa(a.Code))
	case a.Event == nap.EvRefused || a.Event == nap.EvUnregRefused || (a.Event == nap.EvStopped && a.Code >= 300):
		l.traceOutcome(nap64, false, strconv.Itoa(a.Code))
	case a.Event == nap.EvNoBinding:
		l.traceOutcome(nap64, false, "no-binding")
	case a.Event == nap.EvTimeout:
		l.traceOutcome(nap64, false, "timeout")
	case a.Event == nap.EvConnectFailed:
		l.traceOutcome(nap64, false, "connect-failed")
	case a.Event == nap.EvConnLost && a.Abandoned:
		l.traceOutcome(nap64, false, "connection-lost")
	case a.Event == nap.EvStale:
		l.traceOutcome(nap64, false, "stale")
	case a.Abandoned:
		l.traceOutcome(nap64, true, "abandoned") // replaced by the un-REGISTER at stop
	}
}

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

// fail counts a failure and remembers the first NAPs it happened to.
func (l *lane) fail(key int, i uint32) {
	f := l.fails[key]
	if f == nil {
		if l.fails == nil {
			l.fails = map[int]*laneFailure{}
		}
		f = &laneFailure{}
		l.fails[key] = f
	}
	f.n++
	if len(f.examples) < maxExamples {
		f.examples = append(f.examples, i)
	}
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

// socketDrops is what the kernel dropped in the lane's UDP sockets, their
// receive buffers full.
func (l *lane) socketDrops() (n int64) {
	if !l.udp {
		return 0
	}
	add := func(c Conn) {
		n += c.Drops()
	}
	for _, sc := range l.sh {
		if sc.conn != nil {
			add(sc.conn)
		}
	}
	for _, c := range l.conns {
		if c != nil {
			add(c)
		}
	}
	return n
}

// localOfConn is a connection's local address, for the trace.
func (l *lane) localOfConn(c Conn) netip.AddrPort {
	if c == nil {
		return l.sh0Local()
	}
	return c.LocalAddr()
}

// traceMessage hands one message to the tap.
func (l *lane) traceMessage(sent bool, nap int64, local, remote netip.AddrPort, data []byte) {
	l.tmsg = trace.Message{At: l.e.wallClock(l.e.clock.Now()), Sent: sent, Transport: l.network.String(), Local: local,
		Remote: remote, Group: l.co.g.name, NAP: nap, Data: data}
	l.tap.Message(&l.tmsg)
}

// traceStray traces a received message that no NAP took, and its end.
func (l *lane) traceStray(data []byte, from netip.AddrPort, what string) {
	if l.tap == nil {
		return
	}
	l.traceMessage(false, -1, l.sh0Local(), from, data)
	l.traceOutcome(-1, false, what)
}

// traceOutcome tells the tap how a transaction ended.
func (l *lane) traceOutcome(nap int64, ok bool, what string) {
	l.tout = trace.Outcome{Group: l.co.g.name, NAP: nap, OK: ok, What: what}
	l.tap.Outcome(&l.tout)
}

// onClosed: a stream connection of this lane was lost.
func (l *lane) onClosed(tag any, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closedBy(err)
	if t, ok := tag.(*napTag); ok {
		if c := l.conns[t.i]; c != nil && !c.Closed() {
			return // an older connection of the NAP, already replaced
		}
		if l.rebooting[t.i] { // a reboot closed it: the NAP starts over
			delete(l.rebooting, t.i)
			l.flowGone(t.i)
			l.d.Reboot(t.i)
			return
		}
		l.d.Closed(t.i)
		l.flowGone(t.i)
		return
	}
	sc, _ := tag.(*sharedConn)
	if sc == nil || (sc.conn != nil && !sc.conn.Closed()) {
		return // an older connection of the lane, already replaced
	}
	for i := range l.d.NAPs {
		if l.targetOf(uint32(i)) == sc.t {
			l.d.Closed(uint32(i))
			l.flowGone(uint32(i))
		}
	}
}

// localOf is NAP i's socket address: its own socket's in per-nap mode,
// else the lane's.
func (l *lane) localOf(i uint32) netip.AddrPort {
	if c := l.connFor(i); c != nil {
		return c.LocalAddr()
	}
	if l.conns == nil && !l.udp {
		return l.sh[l.targetOf(i)].local
	}
	return l.sh0Local()
}

// sh0Local is the lane's first shared socket's address (none per-nap).
func (l *lane) sh0Local() netip.AddrPort {
	if len(l.sh) == 0 {
		return netip.AddrPort{}
	}
	return l.sh[0].local
}

// localHostPort is a NAP's Contact address: its socket's local address
// (its own socket in per-nap mode). Called under the lock.
func (l *lane) localHostPort(i uint32) ([]byte, int) {
	ap := l.localOf(i)
	l.hostBuf = ap.Addr().Unmap().AppendTo(l.hostBuf[:0])
	return l.hostBuf, int(ap.Port())
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
