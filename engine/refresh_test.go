package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/regstorm/regstorm/netsim"
	"github.com/regstorm/regstorm/registrar"
)

// refreshAt runs a refresh trial of n refreshes at rate from simulated
// time at, and hands its result to got once the refreshes are all sent and
// their transactions ended (polled every 100 ms, as the capacity runner
// does).
func refreshAt(n *simNet, e *Engine, at time.Duration, rate float64, count int, got func(*RefreshResult)) {
	n.At(at, func() {
		e.ctrlQ <- func(now time.Duration) {
			if err := e.beginRefreshes(rate, count, now); err != nil {
				n.t.Errorf("begin: %v", err)
			}
		}
	})
	var poll func(time.Duration)
	poll = func(t time.Duration) {
		n.At(t, func() {
			e.ctrlQ <- func(now time.Duration) {
				if p := e.refreshProgress(); !p.Done || p.InFlight > 0 {
					poll(now + 100*time.Millisecond)
					return
				}
				got(e.endRefreshes(now))
			}
		})
	}
	poll(at + 100*time.Millisecond)
}

// refreshOpts: a population of naps at target, filled at 100/s, bindings
// and retries far beyond the run so that the NAPs send nothing of their
// own after their first registration.
func refreshOpts(naps int, target string, d time.Duration) Options {
	g := simGroup("g", naps, target)
	g.NAP.Expires, g.NAP.Retry = 7200, time.Hour
	return Options{Groups: []Group{g}, Rate: 100, Duration: d, Drain: time.Second, LeaveBindings: true}
}

// A refresh trial sends its refreshes at the trial's pace from its start,
// each to the next NAP round-robin (the next trial goes on from there), as
// the NAP's refresh would (its Call-ID, the next CSeq); its figures are
// the trial's alone.
func TestRefreshTrialsArePacedRoundRobin(t *testing.T) {
	n := newSimNet(t, simX)
	e := startSim(t, n, refreshOpts(200, simX, 20*time.Second))
	var res []*RefreshResult
	keep := func(r *RefreshResult) { res = append(res, r) }
	refreshAt(n, e, 5*time.Second, 50, 100, keep)   // NAPs 0–99, 5 s to 6.98 s
	refreshAt(n, e, 10*time.Second, 100, 150, keep) // NAPs 100–199 then 0–49, 10 s to 11.49 s
	n.run(e, 100*time.Second)
	if _, err := e.Wait(); err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 {
		t.Fatalf("%d trials ended, want 2", len(res))
	}
	firstCallID := map[string]string{}
	var refreshes []netsim.Send
	for _, s := range n.Sends(simX, "") {
		if s.CSeq == 1 {
			firstCallID[s.User] = s.CallID
		} else {
			refreshes = append(refreshes, s)
		}
	}
	if len(firstCallID) != 200 || len(refreshes) != 250 {
		t.Fatalf("%d NAPs registered, %d refreshes: want 200, 250", len(firstCallID), len(refreshes))
	}
	for k, s := range refreshes {
		at, nap, cseq := 5*time.Second+time.Duration(k)*20*time.Millisecond, k, uint32(2)
		if k >= 100 {
			at, nap = 10*time.Second+time.Duration(k-100)*10*time.Millisecond, (k-100+100)%200
			if k >= 200 {
				cseq = 3
			}
		}
		if want := fmt.Sprintf("g%03d", nap); s.At != at || s.User != want || s.CSeq != cseq || s.CallID != firstCallID[s.User] {
			t.Fatalf("refresh %d: %s CSeq %d at %v (Call-ID kept: %v); want %s CSeq %d at %v", k, s.User, s.CSeq, s.At,
				s.CallID == firstCallID[s.User], want, cseq, at)
		}
	}
	for k, want := range []struct {
		sent int
		ran  time.Duration
	}{{100, 1980 * time.Millisecond}, {150, 1490 * time.Millisecond}} {
		r := res[k]
		c := r.Totals
		if r.Sent != want.sent || r.Exhausted || r.Ran != want.ran || c.Requests != int64(want.sent) ||
			c.Registration.TotalCount() != int64(want.sent) || c.Refused != 0 || c.Timeouts != 0 || c.Retransmissions != 0 {
			t.Errorf("trial %d: sent %d (exhausted %v) in %v, requests %d, registered %d, refused %d, timeouts %d, retransmissions %d",
				k+1, r.Sent, r.Exhausted, r.Ran, c.Requests, c.Registration.TotalCount(), c.Refused, c.Timeouts, c.Retransmissions)
		}
		if g := r.Generator; g.RateOfferedPerS == nil || *g.RateOfferedPerS != []float64{50, 100}[k] || g.TimerLagMS.Count != int64(want.sent) || g.TimerLagMS.Max > 0.001 { // on time (the histogram's least value: 1 µs)
			t.Errorf("trial %d: generator %+v", k+1, g)
		}
	}
}

// Against a registrar capped at 100 requests a second (503 above, a
// second's burst), refreshes at 80/s all keep their bindings and those at
// 200/s for 2 s are refused beyond the bucket: 100 + 2 s × 100/s pass, the
// other 100 get a 503. A trial asking more refreshes than the population
// has runs out after one round.
func TestRefreshTrialsFindACap(t *testing.T) {
	n := newSimNet(t, simX)
	n.Configure(simX, registrar.Config{MaxRate: 100})
	e := startSim(t, n, refreshOpts(500, simX, 40*time.Second)) // filled by 5 s
	var res []*RefreshResult
	keep := func(r *RefreshResult) { res = append(res, r) }
	refreshAt(n, e, 10*time.Second, 80, 400, keep)
	refreshAt(n, e, 20*time.Second, 200, 400, keep)
	refreshAt(n, e, 30*time.Second, 200, 600, keep)
	n.run(e, 100*time.Second)
	if _, err := e.Wait(); err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 {
		t.Fatalf("%d trials ended, want 3", len(res))
	}
	if c := res[0].Totals; res[0].Sent != 400 || c.Refused != 0 || c.Registration.TotalCount() != 400 {
		t.Errorf("at 80/s: sent %d, refused %d, kept %d: want 400, 0, 400", res[0].Sent, c.Refused, c.Registration.TotalCount())
	}
	if c := res[1].Totals; res[1].Sent != 400 || c.Refusals[503] < 95 || c.Refusals[503] > 105 || c.Registration.TotalCount()+c.Refused != 400 {
		t.Errorf("at 200/s: sent %d, 503s %d, kept %d: want 400, about 100, the rest", res[1].Sent, c.Refusals[503], c.Registration.TotalCount())
	}
	// The third: 500 NAPs, each offered one refresh (the refused ones
	// retry), then none left.
	if r := res[2]; r.Sent != 500 || !r.Exhausted {
		t.Errorf("600 asked of 500 NAPs: sent %d, exhausted %v", r.Sent, r.Exhausted)
	}
}
