package engine

import (
	"net/netip"
	"strconv"

	"github.com/regstorm/regstorm/nap"
	"github.com/regstorm/regstorm/trace"
)

// laneTrace is a lane's tap: every message and every transaction's end,
// when tracing is on (tap nil: nothing done).
type laneTrace struct {
	tap    trace.Sink
	remote netip.AddrPort // the target, for the trace
	tmsg   trace.Message  // scratch, for the tap
	tout   trace.Outcome
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
