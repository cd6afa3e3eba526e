package engine

import (
	"time"

	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/nap"
)

// Keep-alives (--keepalive): each lane's keeper pings its registered NAPs'
// next hop; this is the lane's side of it: the pings on the wire, their
// counts, and what a dead flow does (a stream's connection is dropped, so
// that the lost-connection rule reconnects and registers again; a UDP NAP
// registers again at once).

func (l *lane) keeper() {
	o := &l.e.o
	if o.Keepalive == nap.KeepaliveOff {
		return
	}
	every := o.KeepaliveInterval
	if every <= 0 {
		every = 30 * time.Second
	}
	l.ka = nap.NewKeeper(o.Keepalive, every, l.d, l, l, time.Millisecond)
	l.ka.Armed = l.armed
	l.ka.Dead = l.flowDead
}

// Ping is nap.Pinger: a CRLF (or WebSocket) ping on NAP i's connection.
func (l *lane) Ping(i uint32) bool {
	c := l.connFor(i)
	if c == nil || c.Closed() {
		return false
	}
	if c.Ping() != nil {
		return false
	}
	if l.conns == nil { // a shared connection: its pong names no NAP
		sc := l.sh[l.targetOf(i)]
		sc.pinged = append(sc.pinged, i)
	}
	return true
}

// KeepaliveSent, KeepaliveAnswered and KeepaliveFailed are
// nap.KeepaliveTally.
func (l *lane) KeepaliveSent(i uint32) {
	l.rec.KeepalivesSent++
	if l.ka.Kind == nap.KeepaliveOptions {
		l.rec.OptionsSent++
	}
}

func (l *lane) KeepaliveAnswered(i uint32, latency time.Duration) {
	l.rec.KeepalivesAnswered++
	metrics.Latency(l.rec.Keepalive, latency)
}

func (l *lane) KeepaliveFailed(i uint32) { l.rec.KeepaliveFailures++ }

// flowDead: NAP i's ping went unanswered. On a shared connection every
// ping in flight on it failed too (as one pong answers them all): each is
// counted now, and the connection is dropped once.
func (l *lane) flowDead(i uint32) {
	if l.udp {
		l.d.FlowFailed(i)
		return
	}
	c := l.connFor(i)
	if c == nil || c.Closed() {
		return
	}
	if l.conns == nil {
		sc := l.sh[l.targetOf(i)]
		for _, k := range sc.pinged {
			if k != i && l.ka.Pending(k) {
				l.ka.Fail(k)
			}
		}
		sc.pinged = sc.pinged[:0]
	}
	_ = c.Abort() // a dead flow: no goodbye to wait for; OnClosed follows, the lost-connection rule
}

// flowGone: NAP i's flow ended (its connection closed, or it left for
// another target); a ping in flight on it is lost with it, so that its
// timeout cannot drop the NAP's next connection.
func (l *lane) flowGone(i uint32) {
	if l.ka != nil {
		l.ka.Lost(i)
	}
}

// OnPong takes a pong from the network (netio.Receiver).
func (e *Engine) OnPong(tag any) {
	if e.closing.Load() {
		return
	}
	switch t := tag.(type) {
	case *napTag:
		t.l.pong(t.i, -1)
	case *sharedConn:
		t.l.pong(0, int(t.t))
	}
}

// pong answers NAP i's ping, or (shared >= 0) every ping in flight on the
// lane's connection to that target: a pong names no NAP.
func (l *lane) pong(i uint32, shared int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ka == nil {
		return
	}
	now := l.e.clock.Now()
	if shared < 0 {
		l.ka.Pong(i, now)
		return
	}
	if shared >= len(l.sh) {
		return
	}
	sc := l.sh[shared]
	for _, k := range sc.pinged { // the pings in flight on it, not a scan of every NAP
		if l.ka.Pending(k) {
			l.ka.Pong(k, now)
		}
	}
	sc.pinged = sc.pinged[:0]
	l.wakeLoop()
}
