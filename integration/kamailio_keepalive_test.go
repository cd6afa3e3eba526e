//go:build integration

package integration

import (
	"crypto/tls"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/nap"
	"github.com/regstorm/regstorm/sipwire"
)

// Keep-alives against Kamailio (issue 16): 500 NAPs registered with digest
// auth ping every second for a few seconds, with CRLF pings over TCP and
// TLS (Kamailio's tcp_crlf_ping, on by default, answers each double CRLF
// with a CRLF) and with OPTIONS over UDP (bench/peers/kamailio.cfg answers
// every request but REGISTER with a 405: any response is an answer).
// Every ping is answered, none fails; Kamailio counts the OPTIONS it got.

const kaNAPs = 500

// kaGauge keeps the counts of the latest snapshot.
type kaGauge struct {
	mu sync.Mutex
	c  metrics.Counts
}

func (g *kaGauge) Observe(s *engine.Snapshot) {
	g.mu.Lock()
	g.c = s.Totals.Counts
	g.mu.Unlock()
}
func (g *kaGauge) Needs() engine.Needs { return 0 }
func (g *kaGauge) counts() metrics.Counts {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.c
}

// checkKeepaliveCounts: requests = final responses + timeouts + abandoned
// + in flight; every message sent is a request, a retransmission or an
// OPTIONS ping (CRLF pings are not SIP messages).
func checkKeepaliveCounts(t *testing.T, res *engine.Result) {
	t.Helper()
	s := res.Summary
	requestsAddUp(t, res)
	if s.MessagesSent != s.Requests+s.Retransmissions+s.Keepalives.Options {
		t.Errorf("messages sent %d != requests %d + retransmissions %d + OPTIONS %d", s.MessagesSent, s.Requests, s.Retransmissions, s.Keepalives.Options)
	}
	if s.Malformed != 0 {
		t.Errorf("malformed %d", s.Malformed)
	}
}

func testKamailioKeepalive(t *testing.T, tr sipwire.Transport, kind nap.KeepaliveKind) {
	defs := map[string]string{"KMINEXP": "1"}
	var k *kamailio
	var tlsConf *tls.Config
	port := 0
	if tr == sipwire.TLS {
		kt := startKamailioTLS(t, defs)
		k, port, tlsConf = kt.kamailio, kt.tlsPort, &tls.Config{RootCAs: kt.roots}
	} else {
		k = startKamailio(t, defs)
		port = k.port
	}
	o := options(fmt.Sprintf("127.0.0.1:%d", port), kaNAPs, tr)
	o.TLS = tlsConf
	o.Keepalive, o.KeepaliveInterval = kind, time.Second
	o.Duration = 4500 * time.Millisecond
	var seen int
	res := runAndWatch(t, o, 4*time.Second, func() { seen = k.contacts() })
	s := res.Summary
	ka := s.Keepalives
	if ka == nil {
		t.Fatalf("no keepalives in the summary")
	}
	optionsSeen := k.stat("core", "rcv_requests_options")
	t.Logf("%s %s: registered %d, Kamailio held %d; keepalives sent %d, answered %d, failed %d, OPTIONS %d (Kamailio received %d, answered %v); latency ms p50 %.2f p90 %.2f p99 %.2f max %.2f",
		s.Transport, kindName(kind), s.Registered, seen, ka.Sent, ka.Answered, ka.Failed, ka.Options, optionsSeen, s.Responses,
		ka.LatencyMS.P50, ka.LatencyMS.P90, ka.LatencyMS.P99, ka.LatencyMS.Max)
	t.Logf("all registered in %.2f s; requests %d, retransmissions %d, messages sent %d, received %d, stale %d, connects %d, connections lost %d, timeouts %d",
		*orZero(s.TimeToAllRegisterS), s.Requests, s.Retransmissions, s.MessagesSent, s.MessagesReceived, s.StaleResponses, s.Connects, s.ConnectionsLost, s.Timeouts)
	if s.Registered != kaNAPs || seen != kaNAPs || s.Unregistered != kaNAPs {
		t.Fatalf("registered: regstorm says %d, Kamailio holds %d, unregistered %d; want %d", s.Registered, seen, s.Unregistered, kaNAPs)
	}
	// Registered in the first half second, each NAP pings at 1, 2, 3 and
	// 4 s after; the one in flight at the stop may go unanswered.
	if ka.Failed != 0 || ka.Sent < 3*kaNAPs || ka.Answered < ka.Sent-kaNAPs || ka.Answered > ka.Sent {
		t.Errorf("keepalives sent %d, answered %d, failed %d: want at least %d sent, all but those in flight at the stop answered, none failed", ka.Sent, ka.Answered, ka.Failed, 3*kaNAPs)
	}
	if ka.LatencyMS.Count != ka.Answered {
		t.Errorf("%d keep-alive latencies for %d answers", ka.LatencyMS.Count, ka.Answered)
	}
	if kind == nap.KeepaliveOptions {
		if ka.Options != ka.Sent || int64(optionsSeen) != ka.Options {
			t.Errorf("OPTIONS: %d of %d pings, Kamailio received %d", ka.Options, ka.Sent, optionsSeen)
		}
	} else if ka.Options != 0 || optionsSeen != 0 {
		t.Errorf("CRLF pings: %d OPTIONS sent, Kamailio received %d", ka.Options, optionsSeen)
	}
	if s.ConnectionsLost != 0 || s.Timeouts != 0 || refusals(s.Responses) != 0 || s.StaleResponses != 0 {
		t.Errorf("connections lost %d, timeouts %d, refusals %d, stale %d: want none", s.ConnectionsLost, s.Timeouts, refusals(s.Responses), s.StaleResponses)
	}
	checkKeepaliveCounts(t, res)
}

func kindName(k nap.KeepaliveKind) string {
	if k == nap.KeepaliveOptions {
		return "options"
	}
	return "crlf"
}

func TestKamailioKeepaliveCRLFTCP(t *testing.T) {
	testKamailioKeepalive(t, sipwire.TCP, nap.KeepaliveCRLF)
}
func TestKamailioKeepaliveCRLFTLS(t *testing.T) {
	testKamailioKeepalive(t, sipwire.TLS, nap.KeepaliveCRLF)
}
func TestKamailioKeepaliveOptionsUDP(t *testing.T) {
	testKamailioKeepalive(t, sipwire.UDP, nap.KeepaliveOptions)
}

// A flow whose pongs stop is found dead and the NAP registers again on a
// new one: 500 NAPs over TCP ping Kamailio every second (CRLF), on 4
// shared connections or one each (per-nap); Kamailio is frozen (SIGSTOP
// to its processes: its connections stay open, its kernel even accepts
// new ones, but nothing answers). 10 s after an unanswered ping (RFC
// 5626's pong timeout) the flow is dead: every ping in flight on it fails,
// its connection is dropped once, and its NAPs connect again at once
// (their last REGISTER is long past). Once every NAP's has, Kamailio thaws
// (SIGCONT) and answers the REGISTERs waiting on the new connections:
// every NAP is registered again on a new flow, in Kamailio's own view
// (its usrloc, its accepted REGISTERs, its connections), and pings on.
// Exactly one failed ping and one lost connection per NAP, no REGISTER
// abandoned.
func testKamailioKeepaliveDeadFlow(t *testing.T, perNAP bool) {
	k := startKamailio(t, map[string]string{"KMINEXP": "1"})
	frozen := false
	thaw := func() {
		if frozen {
			_ = syscall.Kill(-k.cmd.Process.Pid, syscall.SIGCONT)
			frozen = false
		}
	}
	t.Cleanup(thaw) // before Kamailio's own cleanup stops it
	o := options(fmt.Sprintf("127.0.0.1:%d", k.port), kaNAPs, sipwire.TCP)
	o.PerNAP = perNAP
	o.Keepalive, o.KeepaliveInterval = nap.KeepaliveCRLF, time.Second
	o.Groups[0].NAP.Retry = 2 * time.Second
	o.Duration = 50 * time.Second // a bound: the test ends the load
	g := &kaGauge{}
	o.Observers, o.SnapshotEvery = []engine.Observer{g}, 100*time.Millisecond

	var (
		accepted0, accepted1, seen0, seen1 int
		at0, stoppedAt, deadAt, thawedAt   time.Time
		c0, cDead, c1                      metrics.Counts
		tcp0, tcp1                         map[string]int
	)
	phase := 0
	start := time.Now()
	res := runUntil(t, o, func() bool {
		c := g.counts()
		switch phase {
		case 0: // registered, pinging, answered
			if c.Registered < kaNAPs || c.KeepalivesAnswered < 2*kaNAPs || k.contacts() < kaNAPs {
				return false
			}
			at0, c0 = time.Now(), c
			seen0, accepted0, tcp0 = k.contacts(), k.stat("registrar", "accepted_regs"), k.tcpInfo()
			if err := syscall.Kill(-k.cmd.Process.Pid, syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			frozen, stoppedAt = true, time.Now()
			phase = 1
		case 1: // every NAP's flow found dead
			if c.KeepaliveFailures < kaNAPs {
				if time.Since(stoppedAt) > 20*time.Second {
					t.Errorf("20 s after Kamailio froze: %d keep-alives failed, want %d", c.KeepaliveFailures, kaNAPs)
					return true
				}
				return false
			}
			deadAt, cDead = time.Now(), c
			thaw()
			thawedAt = time.Now()
			phase = 2
		case 2: // registered again, in both views, and pinging again
			if c.ConnLost < kaNAPs || c.Registered < kaNAPs || c.KeepalivesAnswered < cDead.KeepalivesAnswered+kaNAPs {
				if time.Since(thawedAt) > 20*time.Second {
					t.Errorf("20 s after Kamailio thawed: registered %d, connections lost %d, keep-alives answered %d since", c.Registered, c.ConnLost, c.KeepalivesAnswered-cDead.KeepalivesAnswered)
					return true
				}
				return false
			}
			accepted1 = k.stat("registrar", "accepted_regs")
			if seen1 = k.contacts(); seen1 < kaNAPs || accepted1 < accepted0+kaNAPs {
				return false
			}
			c1, tcp1 = c, k.tcpInfo()
			return true
		}
		return false
	})
	s := res.Summary
	ka := s.Keepalives
	left := k.contacts()
	t.Logf("per-nap %v: before the freeze (%v after the start): registered %d, Kamailio held %d (accepted %d REGISTERs), keep-alives sent %d answered %d; tcp_info %v",
		perNAP, at0.Sub(start).Round(time.Millisecond), c0.Registered, seen0, accepted0, c0.KeepalivesSent, c0.KeepalivesAnswered, tcp0)
	t.Logf("frozen: every flow found dead %v after (keep-alives failed %d, connections lost %d, registered %d)",
		deadAt.Sub(stoppedAt).Round(time.Millisecond), cDead.KeepaliveFailures, cDead.ConnLost, cDead.Registered)
	t.Logf("thawed: registered again %v after (registered %d, Kamailio held %d, accepted %d REGISTERs since the freeze; connections lost %d, connects %d, keep-alives answered %d since); tcp_info %v",
		time.Since(thawedAt).Round(time.Millisecond), c1.Registered, seen1, accepted1-accepted0, c1.ConnLost, c1.Connects, c1.KeepalivesAnswered-cDead.KeepalivesAnswered, tcp1)
	if ka != nil {
		t.Logf("summary: keepalives sent %d, answered %d, failed %d, latency ms p50 %.2f p99 %.2f max %.2f; requests %d, responses %v, timeouts %d, abandoned %d, in flight %d, connects %d, connect failures %d, connections lost %d, stale %d, registered %d, unregistered %d; Kamailio holds %d after the drain",
			ka.Sent, ka.Answered, ka.Failed, ka.LatencyMS.P50, ka.LatencyMS.P99, ka.LatencyMS.Max, s.Requests, s.Responses, s.Timeouts, s.Abandoned, res.InFlight,
			s.Connects, s.ConnectFailures, s.ConnectionsLost, s.StaleResponses, s.Registered, s.Unregistered, left)
	}
	if t.Failed() {
		return
	}
	// Found dead no sooner than the pong timeout, and not much later.
	if d := deadAt.Sub(stoppedAt); d < nap.PongTimeout || d > nap.PongTimeout+3*time.Second {
		t.Errorf("every flow found dead %v after the freeze: want the pong timeout (%v) + up to an interval", d, nap.PongTimeout)
	}
	// Each NAP's flow died once: one ping failed, one connection lost,
	// and no REGISTER lost with a connection dropped after it was made.
	if ka == nil || ka.Failed != kaNAPs || s.ConnectionsLost != kaNAPs || s.Abandoned != 0 {
		t.Errorf("keepalives %+v, connections lost %d, abandoned %d: want %d, %d, 0", ka, s.ConnectionsLost, s.Abandoned, kaNAPs, kaNAPs)
	}
	// In Kamailio's view too the flows were replaced: as many connections
	// open as before the freeze (one per lane, or per NAP), the dead ones
	// gone.
	if tcp1["opened_connections"] != tcp0["opened_connections"] {
		t.Errorf("Kamailio has %d connections open after, %d before", tcp1["opened_connections"], tcp0["opened_connections"])
	}
	if s.Registered != kaNAPs || s.Unregistered != kaNAPs || left != 0 {
		t.Errorf("registered %d at the end, unregistered %d, Kamailio holds %d after the drain", s.Registered, s.Unregistered, left)
	}
	if refusals(s.Responses) != 0 {
		t.Errorf("refusals %v", s.Responses)
	}
	checkKeepaliveCounts(t, res)
}

func TestKamailioKeepaliveDeadFlowTCP(t *testing.T)       { testKamailioKeepaliveDeadFlow(t, false) }
func TestKamailioKeepaliveDeadFlowTCPPerNAP(t *testing.T) { testKamailioKeepaliveDeadFlow(t, true) }
