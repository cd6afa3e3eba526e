package engine

import (
	"net/netip"
	"time"

	"github.com/regstorm/regstorm/nap"
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
		c, err := e.net.Dial("udp", netip.AddrPortFrom(e.localAddr(l.localIPs, co.groupIndex(l.idx, i)), 0), l.target, &napTag{l: l, i: i})
		if err == nil {
			l.conns[i] = c
		}
	}
	l.batching = l.batch != nil
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
// stop, as the window has room (drained checks whether any is left).
func (e *Engine) stops(co *cohort) {
	for co.stopAt < co.stopTo {
		c := co.stopAt
		if c < co.want {
			co.stopAt++ // wanted again meanwhile: it keeps running
			continue
		}
		if e.window.Load() >= int64(e.o.Window) {
			return
		}
		l := co.lanes[c%len(co.lanes)]
		i := uint32(c / len(co.lanes))
		l.lockOnLoop()
		if int(i) < len(l.d.NAPs) {
			if st := l.d.NAPs[i].State; st != nap.Idle && st != nap.Stopped {
				if !l.paced[i] {
					l.paced[i] = true // released when the stop ends (Tally)
					e.window.Add(1)
				}
				l.batching = l.batch != nil
				l.d.Stop(i)
			}
		}
		l.unlockOnLoop()
		co.stopAt++
	}
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
