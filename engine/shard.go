package engine

import (
	"errors"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/nap"
	"github.com/regstorm/regstorm/netio"
	"github.com/regstorm/regstorm/scheduler"
	"github.com/regstorm/regstorm/sipwire"
	"golang.org/x/sys/unix"
)

// shard is a slice of the NAPs (global index ≡ id mod shards) with its own
// wheel, machine, recorder and sockets. One lock (the recorder's) covers
// all of it; it is taken by the shard's timer goroutine, the ramp and the
// event loop delivering a response.
type shard struct {
	r     *run
	id    uint32
	naps  []nap.NAP
	first []bool   // the NAP's first registration attempt is still open (ramp window)
	lag   []uint32 // µs the current transaction was sent after it was due

	// Set by a caller of apply for the action it passes: the send was due
	// at a scheduled time (timer, paced ramp) and left this late.
	scheduled bool
	curLag    time.Duration
	wheel     *scheduler.Wheel
	m         *nap.Machine
	dir       *directory
	rec       *metrics.Recorder
	msg       sipwire.Msg

	conn    *netio.Conn   // --sockets shared
	conns   []*netio.Conn // --sockets per-nap
	local   netip.AddrPort
	hostBuf []byte

	// batch gathers what the UDP loop sends during one tick (a refresh
	// wave fires thousands of timers a tick; a ramp step starts many NAPs)
	// into sendmmsg calls. Shared UDP sockets only; nil otherwise.
	// batching is set while the UDP loop holds the lock.
	batch    *netio.Batch
	batching bool

	// onLoop: the lock is held by the UDP loop's thread, which recomputes
	// its sleep after this anyway (no wake-up needed).
	onLoop bool

	// examples: for each failure (a status code, exampleTimeout,
	// exampleConnect), the first NAP it happened to, for the summary.
	examples map[int]uint32

	connectQ   []uint32 // NAPs waiting for a TCP connect (done by the timer goroutine)
	wake       chan struct{}
	sleepUntil atomic.Int64
}

// perNAP tags a per-nap socket.
type perNAP struct {
	s     *shard
	local uint32
}

func (s *shard) globalOf(local uint32) uint64 {
	return uint64(local)*uint64(s.r.nShards) + uint64(s.id)
}

// onTimer is the wheel's fire function (shard lock held); due is the
// timer's deadline, so now − due is how late the tester is.
func (s *shard) onTimer(local uint32, due time.Duration) {
	now := s.r.clock.Now()
	s.scheduled, s.curLag = true, max(now-due, 0)
	s.apply(local, s.m.OnTimer(local, &s.naps[local], now))
}

// apply carries out an Action (shard lock held): count it, send, arm the
// timer, queue a connect.
func (s *shard) apply(local uint32, a nap.Action) {
	rec := s.rec
	switch a.Event {
	case nap.EvStale:
		rec.Stale++
	case nap.EvTimeout:
		rec.Timeouts++
		if !a.Unregister {
			s.example(exampleTimeout, local)
		}
	case nap.EvChallenged:
		rec.AuthChallenges++
	case nap.EvConnectFailed:
		rec.ConnectFailures++
		s.example(exampleConnect, local)
	case nap.EvConnLost:
		rec.ConnLost++
	case nap.EvUnregistered:
		rec.Unregistered++
	case nap.EvRefused:
		rec.Refused++
		rec.Refusal(a.Code)
		s.example(a.Code, local)
	case nap.EvRegistered:
		metrics.Latency(rec.Registration, a.RegLatency)
	}
	if a.Abandoned {
		rec.Abandoned++
	}
	if a.Code != 0 && a.Event != nap.EvStale {
		rec.Response(a.Code)
		if a.Code >= 200 {
			if a.Unregister {
				rec.UnregisterDone(a.Latency)
			} else {
				rec.TransactionDone(a.Latency, time.Duration(s.lag[local])*time.Microsecond)
			}
		}
	}
	rec.Registered += int64(a.RegisteredDelta)
	if s.first[local] {
		switch a.Event {
		case nap.EvRegistered, nap.EvRefused, nap.EvTimeout, nap.EvStopped, nap.EvConnectFailed, nap.EvUnregistered:
			s.first[local] = false
			s.r.window.Add(-1)
		}
	}
	switch a.Send {
	case nap.SendRequest, nap.SendRetransmit:
		if a.Send == nap.SendRequest {
			rec.Requests++
			lag := s.curLag
			if !s.scheduled {
				lag = 0 // sent at once on a response: nothing was due earlier
			} else {
				metrics.Latency(rec.RefreshError, lag)
			}
			s.lag[local] = uint32(min(lag/time.Microsecond, 1<<32-1))
		} else {
			rec.Retransmissions++
		}
		rec.MessagesSent++
		if s.batching {
			s.batch.Add(s.m.Out) // copied: m.Out is reused by the next action
		} else if c := s.connFor(local); c != nil {
			_ = c.Send(s.m.Out) // a lost datagram is what retransmissions are for
		}
	case nap.SendConnect:
		s.connectQ = append(s.connectQ, local)
		s.signal(0)
	}
	if a.Wake != 0 {
		s.wheel.Set(local, a.Wake)
		s.signal(a.Wake)
	} else {
		s.wheel.Cancel(local)
	}
	s.scheduled, s.curLag = false, 0
}

// Keys of shard.examples that are not status codes.
const (
	exampleTimeout = -1
	exampleConnect = -2
)

// example remembers the first NAP a failure happened to.
func (s *shard) example(key int, local uint32) {
	if _, ok := s.examples[key]; !ok {
		if s.examples == nil {
			s.examples = map[int]uint32{}
		}
		s.examples[key] = local
	}
}

func (s *shard) connFor(local uint32) *netio.Conn {
	if s.conns != nil {
		return s.conns[local]
	}
	return s.conn
}

// lock takes the shard lock for the ramp or the UDP loop; unlock
// releases it.
func (s *shard) lock() {
	s.rec.Lock()
	s.onLoop = s.r.udp
}

func (s *shard) unlock() {
	s.onLoop = false
	s.rec.Unlock()
}

// signal wakes the timer goroutine (TCP) or the UDP loop if at is before
// its planned wake-up.
func (s *shard) signal(at time.Duration) {
	if s.r.udp {
		if s.onLoop {
			return
		}
		if su := s.r.udpSleepUntil.Load(); su == 0 || int64(at) < su {
			s.r.loops.Wake()
		}
		return
	}
	if int64(at) < s.sleepUntil.Load() {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// OnMessage handles a datagram or framed message for this shard (event
// loop goroutine).
// onMessageWaited handles a message that arrived waited ago: its
// transaction's latency ends at the arrival.
func (s *shard) onMessageWaited(msg []byte, waited time.Duration) {
	s.lock() // over UDP, on the UDP loop's thread
	defer s.unlock()
	s.rec.MessagesReceived++
	m := &s.msg
	if err := m.Parse(msg); err != nil || m.IsRequest {
		s.rec.Malformed++
		return
	}
	// Branches carry the shard's salt and the shard-local index: a
	// response comes back on the socket of the shard that sent the
	// request, from whatever address the registrar sends it.
	salt, id, ok := sipwire.ParseBranch(m.Via.Branch)
	local, _ := nap.SplitBranchID(id)
	if !ok || salt != s.m.Salt || local >= uint32(len(s.naps)) {
		s.rec.Stale++ // not one of ours
		return
	}
	a := s.m.OnResponse(local, &s.naps[local], s.r.clock.Now(), m)
	if a.Latency > waited {
		a.Latency -= waited
	}
	if a.RegLatency > waited {
		a.RegLatency -= waited
	}
	s.apply(local, a)
}

// onClosed: a TCP connection of this shard was lost (event loop goroutine).
func (s *shard) onClosed(tag any) {
	if s.r.closing.Load() {
		return
	}
	s.rec.Lock()
	defer s.rec.Unlock()
	now := s.r.clock.Now()
	if p, ok := tag.(*perNAP); ok {
		if c := s.conns[p.local]; c != nil && !c.Closed() {
			return // an older connection of the NAP, already replaced
		}
		// The closed connection stays: its port is the NAP's Contact and
		// the one it reconnects from.
		s.apply(p.local, s.m.OnClosed(p.local, &s.naps[p.local], now))
		return
	}
	if s.conn != nil && !s.conn.Closed() {
		return // an older connection of the shard, already replaced
	}
	s.conn = nil
	for i := range s.naps {
		s.apply(uint32(i), s.m.OnClosed(uint32(i), &s.naps[i], now))
	}
}

// loop is the shard's timer goroutine over TCP (UDP shards are ticked by
// the UDP loop, run.tickUDP): it fires due timers and runs the TCP
// connects the machine asked for, sleeping until the next deadline.
func (s *shard) loop(stop <-chan struct{}) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		s.rec.Lock()
		s.wheel.Advance(s.r.clock.Now())
		queued := s.connectQ
		s.connectQ = nil
		next, ok := s.wheel.NextDeadline()
		s.rec.Unlock()
		if len(queued) > 0 {
			s.connect(queued)
			continue
		}
		now := s.r.clock.Now()
		d := 100 * time.Millisecond
		if ok && next-now < d {
			d = next - now
		}
		if d < 0 {
			d = 0
		}
		s.sleepUntil.Store(int64(now + d))
		t.Reset(d)
		select {
		case <-stop:
			return
		case <-s.wake:
		case <-t.C:
		}
		s.sleepUntil.Store(0)
	}
}

// connect dials for the queued NAPs without holding the shard lock (a dial
// waits for an event loop that may itself be waiting for the lock), then
// reports each outcome to the machine.
func (s *shard) connect(queued []uint32) {
	r := s.r
	if s.conns == nil { // shared: one connection for the shard
		s.rec.Lock()
		c := s.conn
		s.rec.Unlock()
		var err error
		if c == nil {
			c, err = s.dialTCP(s.local, s)
		}
		s.rec.Lock()
		if err == nil && c.Closed() {
			// Reset before it was stored: its OnClosed found the NAPs still
			// connecting and changed nothing, so this attempt failed.
			err, s.conn = netio.ErrClosed, nil
		}
		if err == nil && s.conn != c {
			s.conn, s.local = c, c.Local // reconnects reuse the port: the Contact stays
			s.rec.Connects++
		}
		now := r.clock.Now()
		for _, l := range queued {
			if err == nil {
				s.apply(l, s.m.OnConnected(l, &s.naps[l], now))
			} else {
				s.apply(l, s.m.OnConnectFailed(l, &s.naps[l], now))
			}
		}
		s.rec.Unlock()
		return
	}
	for _, l := range queued {
		s.rec.Lock()
		from := netip.AddrPortFrom(r.localAddr(s.globalOf(l)), 0)
		if old := s.conns[l]; old != nil {
			from = old.Local // reconnect from the same port: the Contact stays
		}
		s.rec.Unlock()
		c, err := s.dialTCP(from, &perNAP{s: s, local: l})
		s.rec.Lock()
		now := r.clock.Now()
		if err == nil && c.Closed() { // reset before it was stored (see above)
			err = netio.ErrClosed
		}
		if err == nil {
			s.conns[l] = c
			s.rec.Connects++
			s.apply(l, s.m.OnConnected(l, &s.naps[l], now))
		} else {
			s.apply(l, s.m.OnConnectFailed(l, &s.naps[l], now))
		}
		s.rec.Unlock()
	}
}

// dialTCP connects from the given local address. A NAP reconnects from the
// port it had, as a gateway with a fixed SIP port does, so its Contact
// stays one binding at the registrar instead of a new one per connection;
// if the port is taken meanwhile, any port will do.
func (s *shard) dialTCP(from netip.AddrPort, tag any) (*netio.Conn, error) {
	c, err := s.r.loops.Dial("tcp", from, s.r.opts.Target, tag)
	if err != nil && from.Port() != 0 && (errors.Is(err, unix.EADDRINUSE) || errors.Is(err, unix.EADDRNOTAVAIL)) {
		c, err = s.r.loops.Dial("tcp", netip.AddrPortFrom(from.Addr(), 0), s.r.opts.Target, tag)
	}
	return c, err
}

// localHostPort is a NAP's Contact address: its socket's local address
// (its own socket in per-nap mode). Called under the shard lock.
func (s *shard) localHostPort(local uint32) ([]byte, int) {
	ap := s.local
	if c := s.connFor(local); c != nil {
		ap = c.Local
	}
	s.hostBuf = ap.Addr().Unmap().AppendTo(s.hostBuf[:0])
	return s.hostBuf, int(ap.Port())
}
