package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/netsim"
	"github.com/regstorm/regstorm/sipwire"
)

const (
	simX = "10.0.0.1:5060"
	simY = "10.0.0.2:5060"
)

// sendsAre checks a user's requests at target: times and Contact expires.
func sendsAre(t *testing.T, got []netsim.Send, want ...string) {
	t.Helper()
	var g []string
	for _, s := range got {
		g = append(g, fmt.Sprintf("%s@%v:%d", s.Transport, s.At, s.Expires))
	}
	if strings.Join(g, " ") != strings.Join(want, " ") {
		t.Errorf("sends\n got  %s\n want %s", strings.Join(g, " "), strings.Join(want, " "))
	}
}

// The seed's "apply a new configuration", in simulated time with exact
// send times. At 100 s a new configuration removes group a, sets b's
// "Register to Proxy?" off, changes c's expires, moves d to another
// target, adds e, and leaves f as it was.
func TestReloadAppliesEachChangeAtItsTime(t *testing.T) {
	n := newSimNet(t, simX, simY)
	a, b, c, d, f := simGroup("a", 2, simX), simGroup("b", 2, simX), simGroup("c", 2, simX), simGroup("d", 2, simX), simGroup("f", 2, simX)
	o := Options{Groups: []Group{a, b, c, d, f}, Duration: 2200 * time.Second, Drain: 5 * time.Second}
	e := startSim(t, n, o)

	b2, c2, d2, e2 := b, c, d, simGroup("e", 2, simX)
	b2.Register = false
	c2.NAP.Expires = 600
	d2.Target = simY
	n.reloadAt(e, 100*time.Second, b2, c2, d2, e2, f)
	var atX, atY int
	n.At(150*time.Second, func() { atX, atY = n.Bindings(simX), n.Bindings(simY) })
	n.run(e, 3000*time.Second)
	res, _ := e.Wait()

	// Registered at 0 (answer at 20 ms), refresh at 1800.02 s, un-REGISTER
	// in the drain at 2200 s.
	sendsAre(t, n.Sends(simX, "f000"), "udp@0s:3600", "udp@30m0.02s:3600", "udp@36m40s:0")
	// Removed, and register false: un-REGISTER at 100 s, nothing after.
	sendsAre(t, n.Sends(simX, "a000"), "udp@0s:3600", "udp@1m40s:0")
	sendsAre(t, n.Sends(simX, "b001"), "udp@0s:3600", "udp@1m40s:0")
	// New expires: nothing at 100 s; the refresh at 1800.02 s asks for
	// 600 s, so the next comes 300 s later.
	sendsAre(t, n.Sends(simX, "c000"), "udp@0s:3600", "udp@30m0.02s:600", "udp@35m0.04s:600", "udp@36m40s:0")
	// Moved: un-REGISTER at the old target, then REGISTER at the new one,
	// at the same instant, in that order.
	sendsAre(t, n.Sends(simX, "d000"), "udp@0s:3600", "udp@1m40s:0")
	sendsAre(t, n.Sends(simY, "d000"), "udp@1m40s:3600", "udp@31m40.02s:3600", "udp@36m40s:0")
	dx, dy := n.Sends(simX, "d000"), n.Sends(simY, "d000")
	if idx(n.Sent(), dx[1]) > idx(n.Sent(), dy[0]) {
		t.Errorf("d000 registered at the new target before its un-REGISTER at the old one")
	}
	// Added: registers at 100 s.
	sendsAre(t, n.Sends(simX, "e001"), "udp@1m40s:3600", "udp@31m40.02s:3600", "udp@36m40s:0")

	// In the registrars' own view at 150 s: a and b gone (un-REGISTERed,
	// not expired), d moved, e added: c, e, f at X (6), d at Y (2).
	if atX != 6 || atY != 2 {
		t.Errorf("bindings at 150 s: %d at X (want 6: c, e, f), %d at Y (want 2: d)", atX, atY)
	}
	if n.Bindings(simX) != 0 || n.Bindings(simY) != 0 {
		t.Errorf("bindings left after the drain: %d, %d", n.Bindings(simX), n.Bindings(simY))
	}
	s := res.Summary
	if s.Reloads.Applied != 1 || len(s.Reloads.Changes) != 1 {
		t.Fatalf("reloads %+v", s.Reloads)
	}
	for _, want := range []string{"a removed", "b register false", "c: expires 3600→600", "d moved", "e added"} {
		if !strings.Contains(s.Reloads.Changes[0], want) {
			t.Errorf("change %q does not say %q", s.Reloads.Changes[0], want)
		}
	}
	checkGroupsAddUp(t, res)
	if g := s.Groups["a"]; g == nil || !g.Removed || g.Requests != 4 {
		t.Errorf("removed group a in the summary: %+v", g)
	}
	if g := s.Groups["b"]; g == nil || g.Register || g.Registered != 0 {
		t.Errorf("group b (register false) in the summary: %+v", g)
	}
	// Meant to be registered at the end: c, d, e, f.
	if s.NAPs != 8 || s.Registered != 8 {
		t.Errorf("naps %d registered %d, want 8 and 8", s.NAPs, s.Registered)
	}
}

func idx(all []netsim.Send, s netsim.Send) int {
	for i := range all {
		if all[i] == s {
			return i
		}
	}
	return -1
}

// checkGroupsAddUp: the groups' figures add up to the totals, and the
// counts add up in each.
func checkGroupsAddUp(t *testing.T, res *Result) {
	t.Helper()
	s := res.Summary
	var naps int
	var reg, unreg, reqs, timeouts, abandoned, inFlight int64
	for name, g := range s.Groups {
		if g.Register {
			naps += g.NAPs
		}
		reg += g.Registered
		unreg += g.Unregistered
		reqs += g.Requests
		timeouts += g.Timeouts
		abandoned += g.Abandoned
		inFlight += g.InFlight
		var finals int64
		for code, n := range g.Responses {
			if code >= "200" {
				finals += n
			}
		}
		if g.Requests != finals+g.Timeouts+g.Abandoned+g.InFlight {
			t.Errorf("group %s: requests %d != finals %d + timeouts %d + abandoned %d + in flight %d", name, g.Requests, finals, g.Timeouts, g.Abandoned, g.InFlight)
		}
	}
	if naps != s.NAPs || reg != s.Registered || unreg != s.Unregistered || reqs != s.Requests || timeouts != s.Timeouts || abandoned != s.Abandoned || inFlight != *s.InFlight {
		t.Errorf("groups add up to naps %d registered %d unregistered %d requests %d timeouts %d abandoned %d in flight %d; totals %d %d %d %d %d %d %d",
			naps, reg, unreg, reqs, timeouts, abandoned, inFlight, s.NAPs, s.Registered, s.Unregistered, s.Requests, s.Timeouts, s.Abandoned, *s.InFlight)
	}
	checkSums(t, res)
}

// A changed transport is a move too: the un-REGISTER goes over UDP, then
// the NAP connects and registers over TCP.
func TestReloadNewTransportUnregistersFirst(t *testing.T) {
	n := newSimNet(t, simX)
	g := simGroup("g", 1, simX)
	e := startSim(t, n, Options{Groups: []Group{g}, Duration: 200 * time.Second, Drain: 5 * time.Second})
	g2 := g
	g2.NAP.Transport = sipwire.TCP
	n.reloadAt(e, 100*time.Second, g2)
	n.run(e, 400*time.Second)
	if _, err := e.Wait(); err != nil {
		t.Fatal(err)
	}
	// TCP: connect at 100 s, connected a round trip later (20 ms).
	sendsAre(t, n.Sends(simX, "g000"), "udp@0s:3600", "udp@1m40s:0", "tcp@1m40.02s:3600", "tcp@3m20s:0")
}

// More NAPs in a group: the new ones start at the group's rate; fewer:
// those above the count un-REGISTER, at the group's rate too. The others
// send nothing extra.
func TestReloadResizesAGroup(t *testing.T) {
	n := newSimNet(t, simX)
	g := simGroup("g", 4, simX)
	e := startSim(t, n, Options{Groups: []Group{g}, Duration: 300 * time.Second, Drain: 5 * time.Second})
	more, fewer := g, g
	more.NAPs, more.Rate = 6, 10 // the two new ones at 10/s: 100 s and 100.1 s
	fewer.NAPs = 3
	n.reloadAt(e, 100*time.Second, more)
	n.reloadAt(e, 200*time.Second, fewer)
	n.run(e, 600*time.Second)
	res, _ := e.Wait()
	sendsAre(t, n.Sends(simX, "g000"), "udp@0s:3600", "udp@5m0s:0")
	sendsAre(t, n.Sends(simX, "g005"), "udp@1m40.1s:3600", "udp@3m20.2s:0")
	sendsAre(t, n.Sends(simX, "g004"), "udp@1m40s:3600", "udp@3m20.1s:0")
	sendsAre(t, n.Sends(simX, "g003"), "udp@0s:3600", "udp@3m20s:0")
	if s := res.Summary; s.NAPs != 3 || s.Registered != 3 || s.Reloads.Applied != 2 {
		t.Errorf("naps %d registered %d reloads %+v", s.NAPs, s.Registered, s.Reloads)
	}
	checkGroupsAddUp(t, res)
}

// A configuration that does not validate changes nothing, and is counted.
func TestReloadRefusedChangesNothing(t *testing.T) {
	n := newSimNet(t, simX)
	g := simGroup("g", 2, simX)
	e := startSim(t, n, Options{Groups: []Group{g}, Duration: 100 * time.Second, Drain: 5 * time.Second})
	bad := g
	bad.NAP.Expires = 0
	n.At(50*time.Second, func() {
		if _, err := validateGroupsErr(bad); err == nil {
			t.Error("expires 0 validated")
		}
		e.RefuseReload("p.yaml:3: expires: must be positive")
	})
	n.run(e, 300*time.Second)
	res, _ := e.Wait()
	sendsAre(t, n.Sends(simX, "g000"), "udp@0s:3600", "udp@1m40s:0")
	if r := res.Summary.Reloads; r.Refused != 1 || r.Applied != 0 {
		t.Errorf("reloads %+v", r)
	}
}

func validateGroupsErr(gs ...Group) (bool, error) { return true, validateGroups(gs) }

// The whole engine in simulated time: a target that never answers gets
// the seed's 32 + 5 s cycle, to the millisecond (RFC 3261 timers), and the
// un-REGISTER at the stop is abandoned-proof accounting.
func TestEngineSilentTargetCycleInSimulatedTime(t *testing.T) {
	n := newSimNet(t) // no registrar anywhere
	g := simGroup("g", 1, simX)
	e := startSim(t, n, Options{Groups: []Group{g}, Duration: 40 * time.Second, Drain: time.Second})
	n.run(e, 100*time.Second)
	res, _ := e.Wait()
	var got []string
	for _, s := range n.Sends(simX, "g000") {
		got = append(got, fmt.Sprintf("%v/%d", s.At, s.CSeq))
	}
	want := "0s/1 500ms/1 1.5s/1 3.5s/1 7.5s/1 11.5s/1 15.5s/1 19.5s/1 23.5s/1 27.5s/1 31.5s/1 37s/2 37.5s/2 38.5s/2 40s/3 40.5s/3"
	if strings.Join(got, " ") != want {
		t.Errorf("sends\n got  %s\n want %s", strings.Join(got, " "), want)
	}
	s := res.Summary
	if s.Timeouts != 1 || s.Abandoned != 1 || res.InFlight != 1 || s.Requests != 3 {
		t.Errorf("timeouts %d abandoned %d in flight %d requests %d", s.Timeouts, s.Abandoned, res.InFlight, s.Requests)
	}
	checkSums(t, res)
}

type snapTimes struct{ at []time.Duration }

func (s *snapTimes) Observe(sn *Snapshot) { s.at = append(s.at, sn.Elapsed) }

// Snapshots come once per interval, the load's last one included: never
// two at one instant (the second's rate, over no time, read 160 000/s).
func TestSnapshotsNeverTwiceAtOnce(t *testing.T) {
	n := newSimNet(t, simX)
	obs := &snapTimes{}
	e := startSim(t, n, Options{Groups: []Group{simGroup("g", 3, simX)}, Duration: 3 * time.Minute, Drain: 5 * time.Second,
		Observers: []Observer{obs}})
	n.run(e, 10*time.Minute)
	e.Wait()
	for k := 1; k < len(obs.at); k++ {
		if obs.at[k] <= obs.at[k-1] {
			t.Fatalf("snapshots at %v", obs.at)
		}
	}
	if len(obs.at) < 4 {
		t.Errorf("snapshots at %v: want one a minute and the final one", obs.at)
	}
}

// A reload that changes expires keeps each NAP's jitter: every NAP asks
// for the new value less its own amount at its next REGISTER, as at the
// start; a reload that changes only the jitter is a change too.
func TestReloadKeepsEachNAPsJitter(t *testing.T) {
	n := newSimNet(t, simX)
	g := simGroup("g", 20, simX)
	g.NAP.ExpiresJitter = 600
	e := startSim(t, n, Options{Groups: []Group{g}, Duration: 4000 * time.Second, Drain: 5 * time.Second})
	shorter := g
	shorter.NAP.Expires = 1800
	n.reloadAt(e, 100*time.Second, shorter)
	onlyJitter := shorter
	onlyJitter.NAP.ExpiresJitter = 300
	n.reloadAt(e, 200*time.Second, onlyJitter)
	n.run(e, 10000*time.Second)
	res, _ := e.Wait()
	asked := map[int64]bool{}
	for _, s := range n.Sends(simX, "") {
		if s.At > 200*time.Second && s.Expires > 0 {
			if s.Expires > 1800 || s.Expires < 1500 {
				t.Errorf("%s asked for %d s after the reloads: want 1800 less its jitter (0..300)", s.User, s.Expires)
			}
			asked[s.Expires] = true
		}
	}
	if len(asked) < 10 {
		t.Errorf("after the reloads the NAPs asked for %d distinct intervals (%v): their jitter was lost", len(asked), asked)
	}
	if c := res.Summary.Reloads.Changes; len(c) != 2 || !strings.Contains(c[1], "expires-jitter 600→300") {
		t.Errorf("changes %q: the jitter-only reload is not reported", c)
	}
}
