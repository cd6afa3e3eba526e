package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/sipwire"
)

// A reboot of half the NAPs: each sends a new REGISTER at once, with a new
// Call-ID and CSeq 1, without un-REGISTERing first; the registrar keeps
// one binding per NAP; the event's figures say how it went: all 500 back
// after one round trip, in simulated time exactly.
func TestRebootHalfRegistersFromScratch(t *testing.T) {
	for _, tr := range []sipwire.Transport{sipwire.UDP, sipwire.TCP} {
		t.Run(tr.String(), func(t *testing.T) {
			n := newSimNet(t, simX)
			g := simGroup("g", 1000, simX)
			g.NAP.Transport = tr
			e := startSim(t, n, Options{Groups: []Group{g}, PerNAP: true, Duration: 200 * time.Second, Drain: 5 * time.Second})
			var reply chan rebootReply
			n.at(100*time.Second, func() {
				r := &rebootReq{RebootReq: RebootReq{Fraction: 0.5}, reply: make(chan rebootReply, 1)}
				reply = r.reply
				e.rebootQ <- r
			})
			var bound int
			n.at(150*time.Second, func() { bound = n.bindings(simX) })
			n.run(e, 500*time.Second)
			res, _ := e.Wait()
			checkSums(t, res)
			if r := <-reply; r.err != nil || r.naps != 500 {
				t.Fatalf("rebooted %d (%v), want 500", r.naps, r.err)
			}
			var again, unreg int
			for _, s := range n.sent {
				if s.at >= 100*time.Second && s.at < 101*time.Second {
					if s.expires == 0 {
						unreg++
					} else if strings.HasSuffix(s.callID, "-b1") && s.cseq == 1 {
						again++
					}
				}
			}
			if again != 500 || unreg != 0 {
				t.Errorf("at the reboot: %d new REGISTERs (new Call-ID, CSeq 1), %d un-REGISTERs; want 500, 0", again, unreg)
			}
			if bound != 1000 {
				t.Errorf("%d bindings after the reboot, want 1000 (a new Call-ID replaces the NAP's binding)", bound)
			}
			s := res.Summary
			if len(s.Events) != 1 {
				t.Fatalf("events %v", s.Events)
			}
			ev := s.Events[0]
			rtt := 0.02 // UDP: a REGISTER and its answer
			if tr == sipwire.TCP {
				rtt = 0.04 // a connect first
			}
			if ev.Kind != "reboot" || ev.AtS != 100 || ev.NAPs != 500 || ev.Back != 500 || ev.To99S == nil || ev.To100S == nil ||
				*ev.To100S < rtt || *ev.To100S > rtt+0.002 || ev.Requests != 500 || ev.Timeouts != 0 {
				t.Errorf("event %+v (to 99 %% %v, to 100 %% %v s)", ev, deref(ev.To99S), deref(ev.To100S))
			}
			// Its latency: the 500 transactions of the recovery, each a
			// round trip (a stream NAP's REGISTER goes once connected).
			if l := ev.LatencyMS; l.Count != 500 || l.P50 < 20 || l.Max > 20.02 {
				t.Errorf("the recovery's latency %+v: want 500 transactions of 20 ms", l)
			}
			if s.Registered != 1000 || s.Unregistered != 1000 {
				t.Errorf("registered %d, unregistered %d", s.Registered, s.Unregistered)
			}
		})
	}
}

func deref(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}
