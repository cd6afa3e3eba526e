package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/regstorm/regstorm/registrar"
	"github.com/regstorm/regstorm/sipwire"
)

// A target where nothing listens: every REGISTER is replaced by an
// un-REGISTER at stop (abandoned) and every un-REGISTER is cut by the
// drain bound (in flight). Before abandoned existed, the 100 replaced
// REGISTERs were counted nowhere.
func TestDeadPortCountsAddUp(t *testing.T) {
	n := newSimNet(t) // nothing at simX
	o := baseOptions(simX, 100)
	o.Duration, o.Drain = 300*time.Millisecond, 200*time.Millisecond
	e := startSim(t, n, o)
	n.run(e, time.Minute)
	res, _ := e.Wait()
	s := res.Summary
	if s.Requests != 200 || s.Abandoned != 100 || res.InFlight != 100 || s.Timeouts != 0 || s.Registered != 0 {
		t.Fatalf("requests %d abandoned %d in flight %d timeouts %d registered %d (want 200, 100, 100, 0, 0)",
			s.Requests, s.Abandoned, res.InFlight, s.Timeouts, s.Registered)
	}
	checkSums(t, res)
}

// Stopped in the middle of a paced ramp: REGISTERs in flight at the stop
// are abandoned for their un-REGISTERs, and the counts still add up.
func TestStopDuringRampCountsAddUp(t *testing.T) {
	for _, tr := range []sipwire.Transport{sipwire.UDP, sipwire.TCP} {
		t.Run(tr.String(), func(t *testing.T) {
			// Answers 1 s late: at the stop every REGISTER sent (~1 600) is
			// in flight, and still is when the drain, paced at the ramp's
			// rate (0.4 s for them all), reaches it, however slow the machine.
			n := newSimNet(t)
			n.Configure(simX, registrar.Config{Delay: time.Second})
			o := baseOptions(simX, 5000)
			o.Groups[0].NAP.Transport = tr
			o.Rate = 4000 // 1.25 s of ramp, cut at 0.4 s
			o.Duration, o.Drain = 400*time.Millisecond, 3*time.Second
			o.Window = 10000 // the drain reaches the NAPs in flight before their answers
			e := startSim(t, n, o)
			n.run(e, time.Minute)
			res, _ := e.Wait()
			s := res.Summary
			if s.Abandoned == 0 || s.Abandoned != res.Started || s.Unregistered < s.Registered {
				t.Fatalf("abandoned %d (want > 0, and every one of the %d started: REGISTERs in flight at the stop), registered %d, unregistered %d", s.Abandoned, res.Started, s.Registered, s.Unregistered)
			}
			checkSums(t, res)
			if b := n.Bindings(simX); b != 0 {
				t.Errorf("%d bindings left after the drain", b)
			}
		})
	}
}

// Stopped during an outage (a silent registrar, scaled timers): some NAPs
// have timed out, the rest are in flight; the drain's un-REGISTERs are
// cut by the bound. Every request is still accounted for.
func TestStopDuringOutageCountsAddUp(t *testing.T) {
	n := newSimNet(t)
	n.Configure(simX, registrar.Config{Silent: true})
	o := scaled(baseOptions(simX, 300))
	o.Rate = 500 // starts spread over 0.6 s: at the stop some have timed out, some not
	o.Duration, o.Drain = time.Second, 300*time.Millisecond
	e := startSim(t, n, o)
	n.run(e, time.Minute)
	res, _ := e.Wait()
	s := res.Summary
	if s.Timeouts == 0 || s.Abandoned == 0 || res.InFlight == 0 {
		t.Fatalf("timeouts %d abandoned %d in flight %d: want all three", s.Timeouts, s.Abandoned, res.InFlight)
	}
	checkSums(t, res)
	if s.FailureExamples["timeout"] == "" {
		t.Errorf("failure examples %v: want a NAP that timed out", s.FailureExamples)
	}
}

// A refusing registrar: the summary names one NAP per failure code.
func TestFailureExamples(t *testing.T) {
	n := newSimNet(t)
	n.Configure(simX, registrar.Config{RejectCode: 403, RejectProb: 1})
	o := baseOptions(simX, 20)
	o.Duration = 200 * time.Millisecond
	e := startSim(t, n, o)
	n.run(e, time.Minute)
	res, _ := e.Wait()
	if ex := res.Summary.FailureExamples["403"]; len(ex) != len("nap000001") || ex[:3] != "nap" {
		t.Fatalf("failure examples %v: want a NAP user for 403", res.Summary.FailureExamples)
	}
	// Every REGISTER was refused: the count is the 403s, with 3 NAPs named.
	f := res.Summary.Failures["403"]
	if f == nil || f.Count != res.Summary.Refusals["403"] || f.Count < 20 || len(f.Examples) != 3 || f.Examples[0].Group != "default" {
		t.Fatalf("failures %+v, refusals %v", f, res.Summary.Refusals)
	}
	for _, x := range f.Examples {
		if x.User != fmt.Sprintf("nap%06d", x.Index+1) {
			t.Errorf("example %+v: user and index disagree", x)
		}
	}
	checkSums(t, res)
}

// A registrar that closes the TCP connection after every answer (issue
// 12: one NAP sent 5 839 REGISTERs on 5 839 connections in 3 s, the
// summary said registered=0, and no un-REGISTER was sent at stop). Each
// NAP now re-registers at most once per --retry, counts as registered,
// and reconnects at stop to un-REGISTER: no binding is left.
func TestTCPRegistrarClosingAfterEachAnswer(t *testing.T) {
	n := newSimNet(t)
	n.Configure(simX, registrar.Config{CloseAfterAnswer: true})
	o := baseOptions(simX, 50)
	o.Groups[0].NAP.Transport = sipwire.TCP
	o.PerNAP = true
	o.Groups[0].NAP.Retry = 200 * time.Millisecond
	o.Duration = time.Second
	// Each NAP reconnects from its port: one binding each, not one per
	// connection.
	var most int
	for i := 0; i < 20; i++ {
		n.At(time.Duration(i)*50*time.Millisecond, func() { most = max(most, n.Bindings(simX)) })
	}
	e := startSim(t, n, o)
	n.run(e, time.Minute)
	res, _ := e.Wait()
	if most > 50 {
		t.Errorf("the registrar held %d bindings for 50 NAPs: the Contact changed with each connection", most)
	}
	s := res.Summary
	checkCycle(t, res, 50)
	// At most one REGISTER per NAP per retry during the load (1 s / 200 ms
	// + the first), plus the un-REGISTER.
	if max := int64(50 * (5 + 1 + 1)); s.Requests > max {
		t.Errorf("requests %d, want at most %d: a reconnect storm", s.Requests, max)
	}
	if s.ConnectionsLost < 50 {
		t.Errorf("connections lost %d: the registrar closed each one", s.ConnectionsLost)
	}
	checkSums(t, res)
	if b := n.Bindings(simX); b != 0 {
		t.Errorf("%d bindings left after the drain", b)
	}
}
