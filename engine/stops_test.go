package engine

import (
	"bytes"
	"testing"
	"time"

	"github.com/regstorm/regstorm/registrar"
	"github.com/regstorm/regstorm/sipwire"
)

// unregisters lists when the un-REGISTERs (Contact ;expires=0) reached
// target, the first transmission of each.
func unregisters(n *simNet, target string) []time.Duration {
	var at []time.Duration
	seen := map[string]uint32{}
	for _, s := range n.Sends(target, "") {
		if s.Expires == 0 && seen[s.User] != s.CSeq {
			seen[s.User] = s.CSeq
			at = append(at, s.At)
		}
	}
	return at
}

// A stop while the window is full of unanswered first REGISTERs: each of
// them is abandoned and un-REGISTERed at once (in the slot its REGISTER
// held), not held back by the window its own REGISTERs fill.
func TestStopWithAFullWindowUnregisters(t *testing.T) {
	n := newSimNet(t, simX)
	n.SetSilent(simX, true)
	e := startSim(t, n, Options{Groups: []Group{simGroup("g", 200, simX)}, Window: 100, Duration: 3 * time.Second, Drain: 5 * time.Second})
	n.run(e, 100*time.Second)
	res, _ := e.Wait()
	checkSums(t, res)
	s := res.Summary
	at := unregisters(n, simX)
	if len(at) != 100 || at[0] != 3*time.Second || at[99] != 3*time.Second {
		t.Fatalf("%d un-REGISTERs, first and last at %v", len(at), at)
	}
	if s.Requests != 200 || s.Abandoned != 100 || res.InFlight != 100 {
		t.Errorf("requests %d, abandoned %d, in flight %d: want 200, 100 (the REGISTERs), 100 (the un-REGISTERs, unanswered)", s.Requests, s.Abandoned, res.InFlight)
	}
}

// With a rate, the stop sends its un-REGISTERs at that rate, as the ramp
// sent the REGISTERs, not in one burst; faster only as far as needed to
// send them all in the first 80 % of --drain. (The simulated network
// steps at least 1 ms: a send due a few ns after a step leaves 1 ms late.)
func TestDrainIsPacedByTheRate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		drain time.Duration
		every time.Duration
	}{{"rate", 20 * time.Second, 10 * time.Millisecond}, {"raised-to-fit-the-drain", 5 * time.Second, 4 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			n := newSimNet(t, simX)
			e := startSim(t, n, Options{Groups: []Group{simGroup("g", 1000, simX)}, Rate: 100, Duration: 20 * time.Second, Drain: tc.drain})
			n.run(e, 100*time.Second)
			res, _ := e.Wait()
			checkSums(t, res)
			at := unregisters(n, simX)
			if len(at) != 1000 || res.Summary.Unregistered != 1000 {
				t.Fatalf("%d un-REGISTERs sent, %d answered", len(at), res.Summary.Unregistered)
			}
			for k, x := range at {
				if want := 20*time.Second + time.Duration(k)*tc.every; x < want-time.Microsecond || x > want+time.Millisecond {
					t.Fatalf("un-REGISTER %d at %v, want %v (one every %v)", k, x, want, tc.every)
				}
			}
		})
	}
}

// A peer that resets the shared TCP connection while REGISTERs are in
// flight: each lost transaction is a failure, "connection-lost", with the
// NAPs it happened to, never "no failures".
func TestConnectionResetIsAFailure(t *testing.T) {
	n := newSimNet(t, simX)
	n.SetSilent(simX, true) // REGISTERs stay in flight until the reset
	g := simGroup("g", 10, simX)
	g.NAP.Transport = sipwire.TCP
	e := startSim(t, n, Options{Groups: []Group{g}, Duration: 3 * time.Second, Drain: 2 * time.Second})
	n.DropConns(time.Second, simX) // its only target
	n.run(e, 100*time.Second)
	res, _ := e.Wait()
	checkSums(t, res)
	f := res.Summary.Failures["connection-lost"]
	if f == nil || f.Count != 10 || len(f.Examples) == 0 || f.Examples[0].Group != "g" {
		t.Fatalf("failures %v", res.Summary.Failures)
	}
	if res.Totals.TransactionsLost != 10 || res.Summary.ConnectionsLost != 10 {
		t.Errorf("transactions lost %d, connections lost %d", res.Totals.TransactionsLost, res.Summary.ConnectionsLost)
	}
}

// With LeaveBindings (a capacity trial), the stop sends no un-REGISTER:
// the REGISTERs in flight end (here answered 300 ms late), the NAPs stop,
// the bindings stay at the registrar, nothing is left in flight.
func TestLeaveBindingsSendsNoUnregister(t *testing.T) {
	n := newSimNet(t, simX)
	n.OneWay = 150 * time.Millisecond
	e := startSim(t, n, Options{Groups: []Group{simGroup("g", 100, simX)}, Rate: 100, Duration: time.Second,
		Drain: 5 * time.Second, LeaveBindings: true})
	n.run(e, 100*time.Second)
	res, _ := e.Wait()
	checkSums(t, res)
	s := res.Summary
	if at := unregisters(n, simX); len(at) != 0 {
		t.Errorf("%d un-REGISTERs sent", len(at))
	}
	if s.Requests != 100 || res.InFlight != 0 || s.Drain != nil || n.Bindings(simX) != 100 {
		t.Errorf("requests %d, in flight %d, drain %+v, bindings %d: want 100, 0, none, 100", s.Requests, res.InFlight, s.Drain, n.Bindings(simX))
	}
}

// With RequireBinding, a 2xx that does not list the NAP's Contact is a
// failure, "no-binding", not a registration.
func TestRequireBindingCountsA2xxWithoutOurs(t *testing.T) {
	n := newSimNet(t, simX)
	n.Configure(simX, registrar.Config{})
	n.Rewrite(simX, func(out []byte) []byte { // a registrar that lists a contact of its own making
		return bytes.Replace(out, []byte("Contact: <sip:"), []byte("Contact: <sip:x"), 1)
	})
	g := simGroup("g", 10, simX)
	g.NAP.RequireBinding = true
	e := startSim(t, n, Options{Groups: []Group{g}, Duration: 3 * time.Second, Drain: time.Second})
	n.run(e, 100*time.Second)
	res, _ := e.Wait()
	checkSums(t, res)
	if f := res.Summary.Failures["no-binding"]; f == nil || f.Count != 10 || res.Summary.Registered != 0 {
		t.Errorf("failures %v, registered %d", res.Summary.Failures, res.Summary.Registered)
	}
}
