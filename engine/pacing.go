package engine

import (
	"net/netip"
	"time"

	"github.com/regstorm/regstorm/nap"
	"github.com/regstorm/regstorm/sipwire"
)

// The ramp and the stops: when NAPs start and un-REGISTER, paced by a
// rate or by the window of transactions in flight.

// ramp starts a cohort's NAPs that are due: paced at its rate, or as the
// window has room. It returns when the next paced start is due (0: none,
// or when the window frees).
func (e *Engine) ramp(co *cohort, now time.Duration) time.Duration {
	for co.started < co.want {
		c := co.started
		if p := co.pred; p != nil && c < p.size && p.stopAt <= c {
			return 0 // its un-REGISTER at the old place is not sent yet
		}
		var due time.Duration
		paced := co.rate > 0
		if paced {
			// The k-th of the ramp in one process's order: with --shard
			// k/N this process's j-th is the group's N·j+k-th.
			nth := (c-co.rampBase)*e.o.ShardN + e.o.ShardK
			if due = pacedStart(co.rampBegin, nth, co.rate); due > now {
				return due
			}
		} else if e.window.Load() >= int64(e.o.Window) {
			return 0
		}
		e.startNAP(co, c, paced, due)
		co.started++
		if paced {
			if e.rampSent == 0 {
				e.rampFirst = now
			}
			e.rampSent++
			e.rampLast = now
		}
	}
	return 0
}

// startNAP starts cohort NAP c, unless it is running already (a stop that
// a new configuration took back).
func (e *Engine) startNAP(co *cohort, c int, paced bool, due time.Duration) {
	l := co.lanes[c%len(co.lanes)]
	i := uint32(c / len(co.lanes))
	l.lockOnLoop()
	defer l.unlockOnLoop()
	if c >= co.size {
		co.size = c + 1
	}
	l.grow(int(i) + 1)
	if st := l.d.NAPs[i].State; st != nap.Idle && st != nap.Stopped {
		return
	}
	if st := l.d.NAPs[i].State; st == nap.Idle {
		l.placeNAP(i) // its first start: the first target of its order
	}
	if l.conns != nil && l.udp && l.conns[i] == nil {
		c, err := e.net.Dial(sipwire.UDP, netip.AddrPortFrom(e.localAddr(l.localIPs, co.groupIndex(l.idx, i)), 0), l.target, &napTag{l: l, i: i})
		if err == nil {
			l.conns[i] = c
		}
	}
	l.batching = l.batch != nil
	e.started++
	if d := e.o.InitialDelay; d > 0 {
		// Spread (Asterisk's max_random_initial_delay): the NAP's own
		// delay in [0, d), fixed for the run; no window slot while it
		// waits, or the window would hold the ramp for the delays.
		l.d.StartAt(i, e.clock.Now()+initialDelay(e.salt, co.groupIndex(l.idx, i), d))
		return
	}
	if !l.paced[i] {
		l.paced[i] = true
		e.window.Add(1)
	}
	l.d.Start(i, paced, due)
}

// stops un-REGISTERs the cohort's NAPs at or above want that are still to
// stop: at the cohort's rate when it has one, as the ramp registered them
// (a burst of un-REGISTERs would overflow a registrar's receive buffer;
// the drain's pace is raised only as far as needed to send them all in
// the first 80 % of --drain), else as the window has room. A NAP whose
// REGISTER holds a window slot keeps it for its un-REGISTER, so a window
// full of unanswered REGISTERs does not hold the stop back (drained
// checks whether any is left). It returns when the next paced stop is due
// (0: none, or when the window frees).
func (e *Engine) stops(co *cohort, now time.Duration) time.Duration {
	if co.stopAt < co.stopTo && co.stopN < 0 {
		co.stopBegin, co.stopN, co.stopRate = now, 0, co.rate // a new set of stops: its pace starts now
		if co.rate > 0 && e.phase == phaseDrain && e.o.Drain > 0 {
			// Faster if the rate would not send them all in the first 80 %
			// of --drain: a steady pace, never a burst, and every
			// un-REGISTER sent in time for its answer.
			need := float64((co.stopTo-co.stopAt)*e.o.ShardN) / (0.8 * e.o.Drain.Seconds())
			co.stopRate = max(co.rate, need)
		}
	}
	for co.stopAt < co.stopTo {
		c := co.stopAt
		if c < co.want {
			co.stopAt++ // wanted again meanwhile: it keeps running
			continue
		}
		if co.stopRate > 0 {
			nth := co.stopN*e.o.ShardN + e.o.ShardK // as the ramp's: this process's share of the rate
			if due := pacedStart(co.stopBegin, nth, co.stopRate); due > now {
				return due
			}
		}
		l := co.lanes[c%len(co.lanes)]
		i := uint32(c / len(co.lanes))
		l.lockOnLoop()
		stopped := l.toStop(i)
		if stopped {
			if !l.paced[i] && co.stopRate == 0 && e.window.Load() >= int64(e.o.Window) {
				l.unlockOnLoop()
				e.stopHolders(co)
				return 0
			}
			l.stopNAP(i)
		}
		l.unlockOnLoop()
		if stopped {
			co.stopN++
		}
		co.stopAt++
	}
	return 0
}

// stopHolders, once per set of stops, un-REGISTERs at once the NAPs still
// to stop whose REGISTER holds a window slot: they need no new one, and
// waiting for the window would wait for their own answers.
func (e *Engine) stopHolders(co *cohort) {
	for c := max(co.stopAt, co.heldTo); c < co.stopTo; c++ {
		if c < co.want {
			continue
		}
		l := co.lanes[c%len(co.lanes)]
		i := uint32(c / len(co.lanes))
		l.lockOnLoop()
		if l.toStop(i) && l.paced[i] {
			l.stopNAP(i)
		}
		l.unlockOnLoop()
	}
	co.heldTo = co.stopTo
}

// toStop tells whether NAP i (the lane's lock held) has something to stop:
// it runs, and is not stopping already (a second Stop would cut its
// un-REGISTER short).
func (l *lane) toStop(i uint32) bool {
	if int(i) >= len(l.d.NAPs) {
		return false
	}
	n := &l.d.NAPs[i]
	return n.State != nap.Idle && n.State != nap.Stopped && !n.Stopping()
}

// stopNAP un-REGISTERs NAP i (the lane's lock held), in a window slot.
func (l *lane) stopNAP(i uint32) {
	if !l.paced[i] {
		l.paced[i] = true // released when the stop ends (Tally)
		l.e.window.Add(1)
	}
	l.batching = l.batch != nil
	l.d.Stop(i)
}

// stopFrom sets a cohort to un-REGISTER its NAPs from c on.
func (co *cohort) stopFrom(c int) {
	co.want = min(co.want, c)
	co.started = min(co.started, c)
	co.stopAt = min(co.stopAt, c)
	if co.stopTo <= co.stopAt {
		co.stopAt = c
	}
	co.stopTo = max(co.stopTo, co.size)
	co.stopN = -1 // paced from the next step
	co.heldTo = min(co.heldTo, co.stopAt)
}

// initialDelay is NAP n's delay before its first REGISTER: uniform in
// [0, d), its own for the run (salt), to the millisecond.
func initialDelay(salt, n uint64, d time.Duration) time.Duration {
	h := (n + salt) * 0x9E3779B97F4A7C15
	ms := uint64(d / time.Millisecond)
	if ms == 0 {
		return 0
	}
	return time.Duration((h>>20)%ms) * time.Millisecond
}
