package engine

import (
	"time"

	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/nap"
)

// Churn: NAPs go offline at a steady rate and come back after a while, as
// devices do all day: each registered NAP in turn (round the groups), one
// every 1/rate. Offline, a NAP un-REGISTERs first, or (Silent) vanishes
// and leaves its binding to expire; back online it registers from
// scratch (a new Call-ID), as a device that was off does.

// Churn is Options' churn.
type Churn struct {
	Rate    float64       // NAPs going offline per second (0: none)
	Offline time.Duration // how long each stays off
	Silent  bool          // vanish without un-REGISTERing
}

type churnReturn struct {
	at time.Duration
	l  *lane
	i  uint32
}

type churnState struct {
	next            time.Duration
	group, c        int // the cursor: the next NAP to consider
	back            []churnReturn
	offline, online int64
}

// churn takes NAPs offline and brings them back, on the loop; it returns
// when it is next due (0: never).
func (e *Engine) churn(now time.Duration) time.Duration {
	ch := e.o.Churn
	if ch.Rate <= 0 || e.phase != phaseLoad {
		return 0
	}
	st := &e.churnSt
	for len(st.back) > 0 && st.back[0].at <= now {
		r := st.back[0]
		st.back = st.back[1:]
		r.l.lockOnLoop()
		r.l.batching = r.l.batch != nil
		if !r.l.udp {
			r.l.d.Disconnected(r.i)
		}
		r.l.d.Reboot(r.i)
		r.l.unlockOnLoop()
		st.online++
	}
	if st.next == 0 {
		st.next = now
	}
	// The rate is the whole run's: each of N shards takes its 1/N.
	every := time.Duration(float64(time.Second) * float64(e.o.ShardN) / ch.Rate)
	for ; st.next <= now; st.next += every {
		if l, i, ok := e.nextRegistered(); ok {
			l.lockOnLoop()
			l.batching = l.batch != nil
			if ch.Silent {
				l.d.Vanish(i)
				if l.conns != nil && !l.udp {
					if c := l.conns[i]; c != nil && !c.Closed() {
						_ = c.Abort() // the device's connection dies with it: no goodbye
					}
				}
			} else {
				l.d.Stop(i)
			}
			l.unlockOnLoop()
			st.offline++
			st.back = append(st.back, churnReturn{at: now + ch.Offline, l: l, i: i})
		}
	}
	next := st.next
	if len(st.back) > 0 {
		next = min(next, st.back[0].at)
	}
	return next
}

// nextRegistered moves the churn cursor to the next registered NAP (one
// round of the groups at most).
func (e *Engine) nextRegistered() (*lane, uint32, bool) {
	st := &e.churnSt
	total := 0 // the NAPs a round considers: the removed groups' are skipped
	for _, gr := range e.groups {
		if !gr.removed {
			total += gr.live().started
		}
	}
	for tries := 0; tries < total; tries++ {
		if st.group >= len(e.groups) {
			st.group, st.c = 0, 0
		}
		gr := e.groups[st.group]
		co := gr.live()
		if gr.removed || st.c >= co.started {
			st.group, st.c = st.group+1, 0
			tries--
			if st.group >= len(e.groups) && tries >= total-1 {
				return nil, 0, false
			}
			continue
		}
		c := st.c
		st.c++
		l := co.lanes[c%len(co.lanes)]
		i := uint32(c / len(co.lanes))
		if int(i) < len(l.d.NAPs) && l.d.NAPs[i].State == nap.Registered {
			return l, i, true
		}
	}
	return nil, 0, false
}

func (st *churnState) summary(c Churn) *metrics.ChurnSummary {
	if c.Rate <= 0 {
		return nil
	}
	return &metrics.ChurnSummary{Offline: st.offline, Online: st.online, Silent: c.Silent}
}
