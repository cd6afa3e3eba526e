package engine

import (
	"time"

	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/nap"
)

// laneTally is what a lane's NAPs did, counted: the recorder, each NAP's
// lag and pacing slot, and the first NAPs of each kind of failure.
type laneTally struct {
	rec   *metrics.Recorder
	lag   []uint32 // µs the current transaction left after it was due
	paced []bool   // the NAP holds a pacing window slot (its first attempt, or its stop)
	// fails: for each kind of failure (a status code, failTimeout,
	// failConnect, failAuth), how many and the first few NAPs it happened
	// to, for the summary.
	fails map[int]*laneFailure
	slot  []int // each target's slot in rec.Targets
}

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

// Tally is nap.Tally: each action counted (count), then told to the
// parts that follow a NAP: keep-alives and reboots on a registration,
// the per-target counts, the tap, the pacing window.
func (l *lane) Tally(i uint32, a nap.Action, scheduled bool, lag time.Duration) {
	l.count(i, &a, scheduled, lag)
	if a.Event == nap.EvRegistered {
		if l.ka != nil {
			l.ka.Registered(i, l.e.clock.Now())
		}
		if l.rebooted != nil {
			l.backAfterReboot(i)
		}
	}
	l.tallyTarget(i, &a)
	if l.tap != nil {
		l.traceEnd(i, &a)
	}
	if a.RegisteredDelta != 0 {
		l.e.registered.Add(int64(a.RegisteredDelta))
	}
	if l.paced[i] && endsAttempt(a.Event) {
		l.paced[i] = false
		l.e.window.Add(-1)
	}
}

// endsAttempt: the event ends a paced first attempt or stop, and frees
// its window slot.
func endsAttempt(ev nap.Event) bool {
	switch ev {
	case nap.EvRegistered, nap.EvRefused, nap.EvNoBinding, nap.EvTimeout, nap.EvStopped, nap.EvConnectFailed, nap.EvUnregistered, nap.EvUnregRefused:
		return true
	}
	return false
}

// count adds one action to the counters and histograms, and a failure
// to its kind's count and examples.
func (t *laneTally) count(i uint32, a *nap.Action, scheduled bool, lag time.Duration) {
	rec := t.rec
	switch a.Event {
	case nap.EvStale:
		rec.Stale++
	case nap.EvTimeout:
		rec.Timeouts++
		if !a.Unregister {
			t.fail(failTimeout, i)
		}
	case nap.EvChallenged:
		rec.AuthChallenges++
	case nap.EvConnectFailed:
		rec.ConnectFailures++
		t.fail(failConnect, i)
	case nap.EvConnLost:
		rec.ConnLost++
		if a.Abandoned { // a transaction lost with its connection: the peer reset or closed it
			rec.TransactionsLost++
			t.fail(failConnLost, i)
		}
	case nap.EvUnregistered:
		rec.Unregistered++
	case nap.EvNoBinding:
		rec.Refused++
		rec.NoBinding++
		t.fail(failNoBinding, i)
	case nap.EvRefused:
		rec.Refused++
		rec.Refusal(a.Code)
		if a.Code == 401 || a.Code == 407 {
			t.fail(failAuth, i)
		} else {
			t.fail(a.Code, i)
		}
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
				rec.TransactionDone(a.Latency, time.Duration(t.lag[i])*time.Microsecond)
			}
		}
	}
	rec.Registered += int64(a.RegisteredDelta)
	t.countSend(i, a.Send, scheduled, lag)
}

// countSend counts what the action sent; a request's lag (how late it
// left after it was due) is kept for its transaction's end.
func (t *laneTally) countSend(i uint32, send nap.Send, scheduled bool, lag time.Duration) {
	switch send {
	case nap.SendRequest:
		t.rec.Requests++
		if !scheduled {
			lag = 0 // sent at once on a response or a stop: nothing was due earlier
		} else {
			metrics.Latency(t.rec.RefreshError, lag)
		}
		t.lag[i] = uint32(min(lag/time.Microsecond, 1<<32-1))
	case nap.SendRetransmit:
		t.rec.Retransmissions++
	}
}

// fail counts a failure and remembers the first NAPs it happened to.
func (t *laneTally) fail(key int, i uint32) {
	f := t.fails[key]
	if f == nil {
		if t.fails == nil {
			t.fails = map[int]*laneFailure{}
		}
		f = &laneFailure{}
		t.fails[key] = f
	}
	f.n++
	if len(f.examples) < maxExamples {
		f.examples = append(f.examples, i)
	}
}
