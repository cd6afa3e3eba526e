package engine

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/regstorm/regstorm/netsim"
	"github.com/regstorm/regstorm/registrar"
	"github.com/regstorm/regstorm/sipwire"
)

// Whole cycles in simulated time against the registrar logic: digest
// auth, outages, losses, late answers, a restart. Loopback-like one-way
// delays (1 ms) where the scaled timers (T1 10 ms) would otherwise
// retransmit every request once before its answer.

const loopback = time.Millisecond

func TestUDPAuthEveryNAPChallenged(t *testing.T) {
	n := newSimNet(t)
	n.Configure(simX, registrar.Config{Auth: true, Password: secret})
	e := startSim(t, n, baseOptions(simX, 1000))
	n.run(e, time.Minute)
	res, _ := e.Wait()
	s := res.Summary
	if s.Registered != 1000 || s.AuthChallenges < 1000 || s.Responses["401"] < 1000 {
		t.Fatalf("registered %d, challenges %d, 401s %d", s.Registered, s.AuthChallenges, s.Responses["401"])
	}
	checkSums(t, res)
}

// With the registrar silent, NAPs follow the (scaled) 32+5 s cycle; once it
// answers again, all register.
func TestSilentThenRestored(t *testing.T) {
	n := newSimNet(t)
	n.OneWay = loopback
	n.Configure(simX, registrar.Config{Silent: true})
	o := scaled(baseOptions(simX, 300))
	o.Duration = 3 * time.Second
	// Two full cycles: REGISTERs at 0, 0.74, 1.48 s.
	n.At(1600*time.Millisecond, func() { n.Registrar(simX).SetSilent(false) })
	e := startSim(t, n, o)
	n.run(e, time.Minute)
	res, _ := e.Wait()
	s := res.Summary
	if s.Registered != 300 {
		t.Fatalf("registered %d of 300 after the registrar came back", s.Registered)
	}
	// Each NAP timed out twice (at 0.64 and 1.38 s) and retransmitted 10
	// times per silent cycle (10, 30, 70, 150, 230 … 630 ms: see the nap tests).
	if s.Timeouts != 600 {
		t.Errorf("timeouts %d, want 600 (two cycles × 300 NAPs)", s.Timeouts)
	}
	if s.Retransmissions < 6000 {
		t.Errorf("retransmissions %d, want >= 6000", s.Retransmissions)
	}
	checkSums(t, res)
}

// With 10 % and 30 % of requests dropped (issue 8), every NAP still
// registers through retransmissions, and each is counted once. The
// network loses the requests, by a seeded draw: the same ones every run.
func TestDropTenAndThirtyPercent(t *testing.T) {
	for _, drop := range []float64{0.1, 0.3} {
		t.Run(strconv.FormatFloat(drop, 'f', -1, 64), func(t *testing.T) {
			n := newSimNet(t, simX)
			n.OneWay = loopback
			rng := rand.New(rand.NewPCG(8, uint64(drop*100)))
			n.Lose = func(netsim.Send) bool { return rng.Float64() < drop }
			o := scaled(baseOptions(simX, 1000))
			o.Duration = 1500 * time.Millisecond
			o.Drain = time.Second
			e := startSim(t, n, o)
			n.run(e, time.Minute)
			res, _ := e.Wait()
			s := res.Summary
			// About drop × (requests + retransmissions) copies vanish; the
			// first REGISTERs alone lose ~drop × 1000.
			if s.Registered != 1000 || s.Timeouts != 0 || float64(s.Retransmissions) < drop*1000*0.7 {
				t.Fatalf("registered %d, timeouts %d, retransmissions %d", s.Registered, s.Timeouts, s.Retransmissions)
			}
			t.Logf("drop %v: requests %d, retransmissions %d, timeouts %d", drop, s.Requests, s.Retransmissions, s.Timeouts)
			if s.Unregistered != 1000 {
				t.Errorf("unregistered %d of 1000 in the drain", s.Unregistered)
			}
			checkSums(t, res)
		})
	}
}

// A registrar answering after 2.5 × T1 (issue 8): the NAP retransmits once
// before the answer, the registrar answers both copies, and the second
// 200 arrives for a finished transaction. It is counted as stale, never as
// a second registration or a second transaction.
func TestDelayAboveT1DuplicatesAbsorbed(t *testing.T) {
	n := newSimNet(t)
	n.OneWay = loopback
	n.Configure(simX, registrar.Config{Delay: 25 * time.Millisecond})
	o := scaled(baseOptions(simX, 500)) // T1 10 ms: copies at 0 and 10 ms, answers at 27 and 37 ms
	o.Rate = 2000
	o.Duration = time.Second
	e := startSim(t, n, o)
	n.run(e, time.Minute)
	res, _ := e.Wait()
	s := res.Summary
	checkCycle(t, res, 500)
	// 500 REGISTERs and 500 un-REGISTERs, each retransmitted at 10 ms.
	if s.Requests != 1000 || s.Retransmissions < 1000 {
		t.Fatalf("requests %d (want 1000), retransmissions %d (want >= 1000)", s.Requests, s.Retransmissions)
	}
	if s.Responses["200"] != 1000 {
		t.Errorf("200s counted %d, want 1000: one per transaction", s.Responses["200"])
	}
	t.Logf("requests %d, retransmissions %d, 200s %d, stale %d", s.Requests, s.Retransmissions, s.Responses["200"], s.StaleResponses)
	// The duplicates of the REGISTER phase all arrive during the load; those
	// of the drain may arrive after the sockets close.
	if s.StaleResponses < 500 || s.StaleResponses > s.Retransmissions {
		t.Errorf("stale %d, want between 500 and the %d retransmissions", s.StaleResponses, s.Retransmissions)
	}
	if s.RegistrationMS.Count != 500 || s.LatencyMS.Count != 500 || s.DrainLatencyMS.Count != 500 {
		t.Errorf("registration samples %d, transaction samples %d, drain samples %d (want 500 each)", s.RegistrationMS.Count, s.LatencyMS.Count, s.DrainLatencyMS.Count)
	}
	checkSums(t, res)
}

// The registrar goes away (its process ends: connections dropped) and
// comes back at the same address: over TCP every NAP sees its connection
// lost, retries the connection every --retry while it is refused, and
// re-registers once the registrar is back.
func TestTCPRegistrarRestart(t *testing.T) {
	n := newSimNet(t, simX)
	n.OneWay = loopback
	o := scaled(baseOptions(simX, 200))
	o.Groups[0].NAP.Transport = sipwire.TCP
	o.Duration = 3 * time.Second
	n.Kill(800*time.Millisecond, simX) // the outage: connections reset, connects refused
	n.Restart(1600*time.Millisecond, simX, registrar.Config{})
	var atRestart int
	n.At(1600*time.Millisecond, func() { atRestart = n.Bindings(simX) })
	e := startSim(t, n, o)
	n.run(e, time.Minute)
	res, _ := e.Wait()
	s := res.Summary
	if s.ConnectionsLost < 1 || s.ConnectFailures < 1 {
		t.Errorf("connections lost %d, connect failures %d: the outage was not seen", s.ConnectionsLost, s.ConnectFailures)
	}
	if s.Registered != 200 {
		t.Fatalf("registered %d of 200 after the registrar came back; connects %d, failures %d, lost %d, timeouts %d, in flight %d, requests %d", s.Registered, s.Connects, s.ConnectFailures, s.ConnectionsLost, s.Timeouts, res.InFlight, s.Requests)
	}
	if atRestart != 0 {
		t.Fatalf("%d bindings at the restarted registrar: it is not a new one", atRestart)
	}
	if b := n.Bindings(simX); b != 0 {
		t.Errorf("%d bindings left after the drain", b)
	}
}

// Connected but never answered, over TLS and WSS: no retransmissions (the
// transport is reliable), Timer F, --retry, then a new REGISTER on the
// same connection.
func TestStreamSilentRegistrarTimesOut(t *testing.T) {
	for _, tr := range []sipwire.Transport{sipwire.TLS, sipwire.WSS} {
		t.Run(tr.String(), func(t *testing.T) {
			n := newSimNet(t)
			n.OneWay = loopback
			n.Configure(simX, registrar.Config{Silent: true})
			o := baseOptions(simX, 10)
			o.Groups[0].NAP.Transport, o.PerNAP = tr, true
			o.Groups[0].NAP.T1, o.Groups[0].NAP.T2, o.Groups[0].NAP.TimerF, o.Groups[0].NAP.Retry = 50*time.Millisecond, 400*time.Millisecond, 600*time.Millisecond, 200*time.Millisecond
			o.Duration, o.Drain = 1700*time.Millisecond, 100*time.Millisecond
			e := startSim(t, n, o)
			n.run(e, time.Minute)
			res, _ := e.Wait()
			s := res.Summary
			checkSums(t, res)
			// REGISTERs at 0 and 0.8 s time out at 0.6 and 1.4 s; one more
			// at 1.6 s is in flight at the stop.
			if s.Retransmissions != 0 || s.Timeouts != 20 || s.Connects != 10 || s.Registered != 0 {
				t.Fatalf("retransmissions %d, timeouts %d, connects %d, registered %d: want 0, 20, 10, 0",
					s.Retransmissions, s.Timeouts, s.Connects, s.Registered)
			}
		})
	}
}
