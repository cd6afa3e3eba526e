package nap

import (
	"time"

	"github.com/regstorm/regstorm/scheduler"
	"github.com/regstorm/regstorm/sipwire"
)

// Link is the transport side of a driver: how its NAPs' messages reach
// the wire. The engine gives each socket group one (UDP, TCP, …); tests
// give a scripted registrar.
type Link interface {
	// Send puts NAP i's request on the wire. msg is valid only during the
	// call. A send that fails is a lost message: retransmissions and
	// Timer F are what the machine has for that.
	Send(i uint32, msg []byte)
	// Connect asks for NAP i's connection (stream transports). The outcome
	// comes back as Driver.Connected or Driver.ConnectFailed.
	Connect(i uint32)
}

// Tally observes every action a driver applies: counters, histograms,
// pacing. lag is how late a send that was due at a scheduled time
// (a timer, a paced start) left; scheduled is false for sends caused by
// a response or a stop.
type Tally interface {
	Tally(i uint32, a Action, scheduled bool, lag time.Duration)
}

// Driver applies a Machine's actions for a set of NAPs: it is the one
// place where an Action turns into a send, a connect, a timer and a
// count, for the engine and for the simulated-time tests alike. It does
// no locking: its owner serialises every call (the engine holds the
// socket group's lock; tests are single-threaded).
type Driver struct {
	M     *Machine
	NAPs  []NAP
	Wheel *scheduler.Wheel
	Clock scheduler.Clock
	Link  Link
	Tally Tally
	// Armed, when set, is told each deadline the driver arms, so that a
	// loop sleeping past it can wake up.
	Armed func(at time.Duration)

	routed    *sipwire.Msg // the message Route read last, and its transaction
	routedTxn uint32
}

// NewDriver makes a driver for n NAPs whose timers run on a wheel of the
// given resolution, read against clock.
func NewDriver(m *Machine, n int, clock scheduler.Clock, resolution time.Duration, link Link, tally Tally) *Driver {
	d := &Driver{M: m, NAPs: make([]NAP, n), Clock: clock, Link: link, Tally: tally}
	d.Wheel = scheduler.NewWheel(n, resolution, d.fire)
	return d
}

// Grow makes room for NAPs up to n (a configuration that adds NAPs).
func (d *Driver) Grow(n int) {
	if n <= len(d.NAPs) {
		return
	}
	d.NAPs = append(d.NAPs, make([]NAP, n-len(d.NAPs))...)
	d.Wheel.Grow(n)
}

// fire is the wheel's callback: NAP i's timer, due at due, fires now.
func (d *Driver) fire(i uint32, due time.Duration) {
	now := max(d.Clock.Now(), due) // a simulated clock may not show the deadline yet
	d.apply(i, d.M.OnTimer(i, &d.NAPs[i], now), true, now-due)
}

// Advance fires every timer due by now.
func (d *Driver) Advance(now time.Duration) { d.Wheel.Advance(now) }

// Start begins registering NAP i. A paced start says when it was due, so
// that a tester falling behind shows in the corrected latency.
func (d *Driver) Start(i uint32, paced bool, due time.Duration) {
	now := d.Clock.Now()
	d.apply(i, d.M.Start(i, &d.NAPs[i], now), paced, max(now-due, 0))
}

// StartAt begins registering NAP i at at (an initial delay).
func (d *Driver) StartAt(i uint32, at time.Duration) {
	d.apply(i, d.M.StartAt(i, &d.NAPs[i], d.Clock.Now(), at), true, 0)
}

// Vanish takes NAP i off the network without an un-REGISTER.
func (d *Driver) Vanish(i uint32) {
	d.apply(i, d.M.Vanish(i, &d.NAPs[i], d.Clock.Now()), false, 0)
}

// Reboot makes NAP i register from scratch (Machine.Reboot).
func (d *Driver) Reboot(i uint32) {
	d.apply(i, d.M.Reboot(i, &d.NAPs[i], d.Clock.Now()), false, 0)
}

// Refresh makes NAP i refresh its registration now (Machine.Refresh), a
// send that was due at due: how late it left counts as a timer's lag. It
// reports whether the NAP sent anything.
func (d *Driver) Refresh(i uint32, due time.Duration) bool {
	now := d.Clock.Now()
	a, ok := d.M.Refresh(i, &d.NAPs[i], now)
	if ok {
		d.apply(i, a, true, max(now-due, 0))
	}
	return ok
}

// Stop un-registers NAP i if it is registered (or may be), else stops it.
func (d *Driver) Stop(i uint32) {
	d.apply(i, d.M.Stop(i, &d.NAPs[i], d.Clock.Now()), false, 0)
}

// Route finds the NAP a response belongs to from its branch: it must
// carry this driver's salt and name one of its NAPs. No map, no
// allocation. Response then uses what Route read of the branch.
func (d *Driver) Route(r *sipwire.Msg) (uint32, bool) {
	salt, id, ok := sipwire.ParseBranch(r.Via.Branch)
	i, txn := SplitBranchID(id)
	if !ok || salt != d.M.Salt || int(i) >= len(d.NAPs) {
		d.routed = nil
		return 0, false
	}
	d.routed, d.routedTxn = r, txn
	return i, true
}

// Response handles a response routed to NAP i that arrived waited ago
// (read late from a socket): the transaction ended at its arrival.
func (d *Driver) Response(i uint32, r *sipwire.Msg, waited time.Duration) {
	n := &d.NAPs[i]
	var a Action
	if r == d.routed { // the branch was read by Route: not twice
		a = n.record(d.M.onResponseTxn(i, d.routedTxn, n, d.Clock.Now(), r))
	} else {
		a = d.M.OnResponse(i, n, d.Clock.Now(), r)
	}
	d.routed = nil
	if a.Latency > waited {
		a.Latency -= waited
	}
	if a.RegLatency > waited {
		a.RegLatency -= waited
	}
	d.apply(i, a, false, 0)
}

// Connected reports NAP i's connection up.
func (d *Driver) Connected(i uint32) {
	d.apply(i, d.M.OnConnected(i, &d.NAPs[i], d.Clock.Now()), false, 0)
}

// ConnectFailed reports NAP i's connect refused or timed out.
func (d *Driver) ConnectFailed(i uint32) {
	d.apply(i, d.M.OnConnectFailed(i, &d.NAPs[i], d.Clock.Now()), false, 0)
}

// FlowFailed reports NAP i's flow found dead by a keep-alive (UDP).
func (d *Driver) FlowFailed(i uint32) {
	d.apply(i, d.M.OnFlowFailed(i, &d.NAPs[i], d.Clock.Now()), false, 0)
}

// Disconnected forgets NAP i's connection without an event: it moved to
// another target (failover), and connects there before its next request.
func (d *Driver) Disconnected(i uint32) { d.NAPs[i].flags &^= fConnected }

// Closed reports the connection carrying NAP i lost.
func (d *Driver) Closed(i uint32) {
	d.apply(i, d.M.OnClosed(i, &d.NAPs[i], d.Clock.Now()), false, 0)
}

// apply carries out one Action: count it, arm or cancel the NAP's timer,
// then send or connect. The timer comes first: a link that connects at
// once reports the outcome from inside Connect, and the action that
// follows sets the timer that must stay.
func (d *Driver) apply(i uint32, a Action, scheduled bool, lag time.Duration) {
	if d.Tally != nil {
		d.Tally.Tally(i, a, scheduled, lag) // by value: a pointer would move every Action to the heap
	}
	if a.Wake != 0 {
		d.Wheel.Set(i, a.Wake)
		if d.Armed != nil {
			d.Armed(a.Wake)
		}
	} else {
		d.Wheel.Cancel(i)
	}
	switch a.Send {
	case SendRequest, SendRetransmit:
		d.Link.Send(i, d.M.Out)
	case SendConnect:
		d.Link.Connect(i)
	}
}
