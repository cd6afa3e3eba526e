package nap

import (
	"time"

	"github.com/regstorm/regstorm/scheduler"
	"github.com/regstorm/regstorm/sipwire"
)

// Keep-alives, as gateways keep their flows alive: a registered NAP pings
// its next hop every interval — a double CRLF on a stream, answered by a
// single CRLF (RFC 5626 §4.4.1; a WebSocket ping and pong on WS/WSS), or
// an OPTIONS request on any transport, answered by any response. A ping
// unanswered within its timeout means the flow is dead: the owner drops
// the connection (a stream: the lost-connection rule follows) or has the
// NAP register again at once (UDP).

// KeepaliveKind is how a NAP pings.
type KeepaliveKind uint8

const (
	KeepaliveOff KeepaliveKind = iota
	KeepaliveCRLF
	KeepaliveOptions
)

// PongTimeout is how long a CRLF ping waits for its pong: RFC 5626
// §4.4.1's 10 s.
const PongTimeout = 10 * time.Second

// keepaliveTxn marks the transactions of OPTIONS pings in a branch, apart
// from the REGISTERs' (which count up from 1).
const keepaliveTxn = 1 << 31

// Pinger is the transport side of a keeper.
type Pinger interface {
	// Ping sends a CRLF ping (or a WebSocket ping) on NAP i's flow; false
	// when it has none.
	Ping(i uint32) bool
	// Send sends NAP i's OPTIONS (msg valid during the call).
	Send(i uint32, msg []byte)
}

// KeepaliveTally observes the keeper's pings.
type KeepaliveTally interface {
	KeepaliveSent(i uint32)
	KeepaliveAnswered(i uint32, latency time.Duration)
	KeepaliveFailed(i uint32)
}

// Keeper pings for the NAPs of one driver. Like the driver it does no
// locking: its owner serialises every call.
type Keeper struct {
	Kind     KeepaliveKind
	Interval time.Duration
	// Timeout for an answer: PongTimeout for CRLF, Timer F for OPTIONS.
	Timeout time.Duration
	D       *Driver
	Wheel   *scheduler.Wheel
	Pinger  Pinger
	Tally   KeepaliveTally
	// Dead is told that NAP i's flow failed (a ping unanswered).
	Dead  func(i uint32)
	Armed func(at time.Duration)

	sentAt []time.Duration // the ping in flight since (0: none)
	txn    []uint32        // its OPTIONS transaction
	seq    uint32
	reg    sipwire.Register
	out    []byte
}

// NewKeeper makes a keeper for d's NAPs; its timers run on a wheel of
// their own (a NAP's registration timer and its ping timer are apart).
func NewKeeper(kind KeepaliveKind, interval time.Duration, d *Driver, p Pinger, t KeepaliveTally, resolution time.Duration) *Keeper {
	k := &Keeper{Kind: kind, Interval: interval, D: d, Pinger: p, Tally: t, Timeout: PongTimeout, out: make([]byte, 0, 1024)}
	if kind == KeepaliveOptions {
		k.Timeout = d.M.Cfg.TimerF
	}
	k.Wheel = scheduler.NewWheel(len(d.NAPs), resolution, k.fire)
	k.grow(len(d.NAPs))
	return k
}

func (k *Keeper) grow(n int) {
	if n <= len(k.sentAt) {
		return
	}
	k.sentAt = append(k.sentAt, make([]time.Duration, n-len(k.sentAt))...)
	k.txn = append(k.txn, make([]uint32, n-len(k.txn))...)
	k.Wheel.Grow(n)
}

func (k *Keeper) set(i uint32, at time.Duration) {
	k.Wheel.Set(i, at)
	if k.Armed != nil {
		k.Armed(at)
	}
}

// Registered starts NAP i's pings, if they are not running: the first one
// interval from now.
func (k *Keeper) Registered(i uint32, now time.Duration) {
	k.grow(int(i) + 1)
	if _, ok := k.Wheel.Scheduled(i); ok {
		return
	}
	k.sentAt[i] = 0
	k.set(i, now+k.Interval)
}

// Advance fires the pings and timeouts due by now.
func (k *Keeper) Advance(now time.Duration) { k.Wheel.Advance(now) }

func (k *Keeper) fire(i uint32, due time.Duration) {
	now := max(k.D.Clock.Now(), due)
	if k.sentAt[i] != 0 { // unanswered: the flow is dead
		k.sentAt[i] = 0
		k.Tally.KeepaliveFailed(i)
		if k.Dead != nil {
			k.Dead(i)
		}
		return // pings start again once the NAP is registered again
	}
	n := &k.D.NAPs[i]
	if !n.Registered() || n.State == Unregistering || n.State == Stopped {
		return // pings only on a live registration
	}
	switch k.Kind {
	case KeepaliveCRLF:
		if !k.Pinger.Ping(i) {
			k.set(i, now+k.Interval) // no flow now: the registration will make one
			return
		}
	case KeepaliveOptions:
		k.seq++
		k.txn[i] = keepaliveTxn | k.seq&(keepaliveTxn-1)
		m := k.D.M
		r := &k.reg
		*r = sipwire.Register{}
		m.Dir.Identity(i, r)
		m.rebooted(n, r)
		r.Transport = m.Cfg.Transport
		r.BranchSalt, r.Branch = m.Salt, BranchID(i, k.txn[i])
		r.CSeq = k.seq
		r.UserAgent = m.Cfg.UserAgent
		k.out = sipwire.AppendOptions(k.out[:0], r)
		k.Pinger.Send(i, k.out)
	}
	k.sentAt[i] = now
	k.Tally.KeepaliveSent(i)
	k.set(i, now+k.Timeout)
}

// answered ends NAP i's ping in flight, if any, at now.
func (k *Keeper) answered(i uint32, now time.Duration) {
	if int(i) >= len(k.sentAt) || k.sentAt[i] == 0 {
		return // none in flight: a late or unasked pong
	}
	sent := k.sentAt[i]
	k.sentAt[i] = 0
	k.Tally.KeepaliveAnswered(i, now-sent)
	k.set(i, sent+k.Interval)
}

// Pong is a CRLF pong (or WebSocket pong) on NAP i's flow.
func (k *Keeper) Pong(i uint32, now time.Duration) { k.answered(i, now) }

// Lost forgets NAP i's ping in flight, lost with its flow (the connection
// closed, or left for another target): neither answered nor failed. Its
// timer then only brings the next ping, on the flow the NAP has by then;
// it must not find that one dead.
func (k *Keeper) Lost(i uint32) {
	if int(i) < len(k.sentAt) {
		k.sentAt[i] = 0
	}
}

// Fail ends NAP i's ping in flight, if any, as unanswered: its flow was
// found dead by another ping on it (a shared connection).
func (k *Keeper) Fail(i uint32) {
	if !k.Pending(i) {
		return
	}
	k.sentAt[i] = 0
	k.Tally.KeepaliveFailed(i)
}

// Pending tells whether NAP i has a ping in flight.
func (k *Keeper) Pending(i uint32) bool { return int(i) < len(k.sentAt) && k.sentAt[i] != 0 }

// IsKeepalive tells a response to an OPTIONS ping (by its CSeq method)
// from one to a REGISTER.
func IsKeepalive(r *sipwire.Msg) bool { return sipwire.EqualFold(r.CSeqMethod, "options") }

// Answer takes a response to NAP i's OPTIONS ping (any status: the next
// hop is alive); a response to another transaction is stale (false).
func (k *Keeper) Answer(i uint32, r *sipwire.Msg, now time.Duration) bool {
	_, id, _ := sipwire.ParseBranch(r.Via.Branch)
	_, txn := SplitBranchID(id)
	if int(i) >= len(k.txn) || txn != k.txn[i] || r.StatusCode < 200 {
		return r.StatusCode < 200 && int(i) < len(k.txn) && txn == k.txn[i] // a 1xx: wait on
	}
	k.answered(i, now)
	return true
}
