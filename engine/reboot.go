package engine

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/nap"
)

// rebootState is the run's reboots: the one being followed, and every
// one so far for the summary.
type rebootState struct {
	event  atomic.Pointer[event]
	events []*metrics.Event
}

// Reboots: the avalanche restart. A share of the NAPs lose their state at
// once, as devices after a power cut: no un-REGISTER, a new Call-ID, and
// a new REGISTER right away. What their owner asks is how the registrar
// recovers: the time from the event until 99 % and 100 % of them are
// registered again, the peak offered rate, the retransmissions, 503s and
// timeouts meanwhile. One event is followed at a time; a new one ends the
// one before.

// RebootReq asks for a reboot: a fraction of the NAPs of a group (all
// groups when Group is empty), chosen evenly over their indexes.
type RebootReq struct {
	Group    string
	Fraction float64
}

type rebootReply struct {
	naps int
	err  error
}

// event is a reboot being followed.
type event struct {
	at        time.Duration
	naps      int
	back      atomic.Int64 // rebooted NAPs registered again
	t99, t100 time.Duration
	start     metrics.Counts // the run's counts at the event
	start503  int64
	latency   *hdrhistogram.Histogram // the run's transaction histogram at the event
	peak      float64
	summary   *metrics.Event
	// The offered rate, sampled every peakWindow while it is followed.
	sampledAt time.Duration
	sampled   int64
}

// peakWindow is the window of the peak offered rate: a storm is over in
// less than the snapshots' second.
const peakWindow = 100 * time.Millisecond

// requestsNow is the run's REGISTERs so far (the lanes' counters only).
func (e *Engine) requestsNow() (n int64) {
	for _, l := range e.lanes {
		l.mu.Lock()
		n += l.rec.Requests
		l.mu.Unlock()
	}
	return n
}

// Reboot reboots NAPs as req says, once the loop takes it; it returns how
// many.
func (e *Engine) Reboot(req RebootReq) (int, error) {
	if req.Fraction <= 0 || req.Fraction > 1 {
		return 0, fmt.Errorf("engine: reboot fraction %v: want (0, 1]", req.Fraction)
	}
	rep, err := onLoop(e, func(now time.Duration) rebootReply { return e.applyReboot(req, now) })
	if err != nil {
		return 0, err
	}
	return rep.naps, rep.err
}

// rebootPicked: NAP c of n is among a fraction f chosen evenly.
func rebootPicked(c int, f float64) bool {
	return int(float64(c+1)*f) > int(float64(c)*f)
}

// applyReboot runs a reboot on the loop.
func (e *Engine) applyReboot(req RebootReq, now time.Duration) rebootReply {
	if e.phase != phaseLoad {
		return rebootReply{err: ErrStopping}
	}
	if req.Group != "" && (e.byName[req.Group] == nil || e.byName[req.Group].removed) {
		return rebootReply{err: fmt.Errorf("engine: no group %q", req.Group)}
	}
	e.closeEvent(now) // a new event ends the one before
	start, _ := e.totals(nil)
	ev := &event{at: now, start: start.Counts, start503: start.Refusals[503], latency: start.Transaction.Clone()}
	// Followed from now: a stream NAP's answer may come on another
	// goroutine before the loop below is done.
	ev.sampledAt, ev.sampled = now, start.Requests
	e.event.Store(ev)
	for _, gr := range e.groups {
		if gr.removed || (req.Group != "" && gr.name != req.Group) {
			continue
		}
		co := gr.live()
		for c := 0; c < co.started; c++ {
			if !rebootPicked(c, req.Fraction) {
				continue
			}
			l := co.lanes[c%len(co.lanes)]
			i := uint32(c / len(co.lanes))
			l.lockOnLoop()
			l.batching = l.batch != nil
			if l.reboot(i) {
				ev.naps++
			}
			l.unlockOnLoop()
		}
	}
	ev.summary = &metrics.Event{Kind: "reboot", AtS: (now - e.start).Seconds(), NAPs: ev.naps}
	e.events = append(e.events, ev.summary)
	return rebootReply{naps: ev.naps}
}

// reboot makes NAP i register from scratch; false when it is not running.
// A stream NAP with its own connection loses it first (the device's
// connection dies with it): the reboot follows its close.
func (l *lane) reboot(i uint32) bool {
	if int(i) >= len(l.d.NAPs) {
		return false
	}
	switch l.d.NAPs[i].State {
	case nap.Idle, nap.Stopped, nap.Delayed:
		return false
	}
	if l.rebooted == nil {
		l.rebooted = make([]bool, len(l.d.NAPs))
	}
	if len(l.rebooted) < len(l.d.NAPs) {
		l.rebooted = append(l.rebooted, make([]bool, len(l.d.NAPs)-len(l.rebooted))...)
	}
	l.rebooted[i] = true
	if l.conns != nil && !l.udp {
		if c := l.conns[i]; c != nil && !c.Closed() {
			if l.rebooting == nil {
				l.rebooting = map[uint32]bool{}
			}
			l.rebooting[i] = true
			l.d.Disconnected(i)
			_ = c.Abort() // a rebooting device says no goodbye; onClosed reboots it
			return true
		}
		l.d.Disconnected(i)
	}
	l.d.Reboot(i)
	return true
}

// backAfterReboot: NAP i registered; if a reboot had taken it, it counts
// for the event.
func (l *lane) backAfterReboot(i uint32) {
	if int(i) < len(l.rebooted) && l.rebooted[i] {
		l.rebooted[i] = false
		if ev := l.e.event.Load(); ev != nil {
			ev.back.Add(1)
		}
	}
}

// followEvent notes the event's milestones (on the loop, each step).
func (e *Engine) followEvent(now time.Duration) {
	ev := e.event.Load()
	if ev == nil || ev.t100 > 0 {
		return
	}
	if d := now - ev.sampledAt; d >= peakWindow {
		reqs := e.requestsNow()
		ev.peak = max(ev.peak, float64(reqs-ev.sampled)/d.Seconds())
		ev.sampledAt, ev.sampled = now, reqs
	}
	back := int(ev.back.Load())
	if ev.t99 == 0 && float64(back) >= 0.99*float64(ev.naps) {
		ev.t99 = max(now-ev.at, time.Nanosecond)
	}
	if back >= ev.naps {
		ev.t100 = max(now-ev.at, time.Nanosecond)
		e.closeEvent(now)
	}
}

// closeEvent writes the followed event's figures into its summary.
func (e *Engine) closeEvent(now time.Duration) {
	ev := e.event.Load()
	if ev == nil || ev.summary == nil || ev.summary.Closed {
		return
	}
	t, _ := e.totals(nil)
	s := ev.summary
	s.Closed = true
	s.Back = ev.back.Load()
	if ev.t99 > 0 {
		v := ev.t99.Seconds()
		s.To99S = &v
	}
	if ev.t100 > 0 {
		v := ev.t100.Seconds()
		s.To100S = &v
	}
	s.PeakRatePerS = ev.peak
	s.Requests = t.Requests - ev.start.Requests
	s.Retransmissions = t.Retransmissions - ev.start.Retransmissions
	s.Timeouts = t.Timeouts - ev.start.Timeouts
	s.Refused503 = t.Refusals[503] - ev.start503
	s.Latency = metrics.Diff(t.Transaction, ev.latency)
	s.LatencyMS = metrics.PercentilesOf(s.Latency)
	s.DurationS = (now - ev.at).Seconds()
}
