//go:build integration

package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/sipwire"
)

// Two authentications on one path: Kamailio as an authenticating proxy
// (bench/peers/kamailio-rpc.cfg with -A KAUTHPROXY) challenges every
// REGISTER with a 407 (realm proxy.test) and relays those that answer it,
// with tm, to a second Kamailio, the registrar, which challenges them
// again with a 401 (realm registrar.test) and saves them in its usrloc.
// Each NAP must answer the 407 with a Proxy-Authorization, then the 401
// with an Authorization while still answering the proxy's challenge (RFC
// 3261 §22.3: credentials for each realm, in the same request), and end
// registered. Checked: regstorm's count of registered NAPs, the
// registrar's own location table (ul.dump over JSON-RPC: every AoR
// nap000001.. with exactly one contact, over the NAPs' transport) and
// the proxy's (empty) agree; every NAP met both challenges; nothing was
// refused; after the drain the registrar holds nothing.

const chainNAPs = 500

func testKamailioAuthChain(t *testing.T, tr sipwire.Transport) {
	reg := startKamailioRPC(t, map[string]string{"KAUTH": "1"})
	prx := startKamailioRPC(t, map[string]string{"KAUTHPROXY": "1", "KREGISTRAR": fmt.Sprintf(`"127.0.0.1:%d"`, reg.port)})

	o := options(fmt.Sprintf("127.0.0.1:%d", prx.port), chainNAPs, tr)
	o.Duration = 15 * time.Second // a bound: runUntil ends the load once all are bound
	gauge := &registeredGauge{}
	o.Observers, o.SnapshotEvery = []engine.Observer{gauge}, 200*time.Millisecond
	var (
		seen     location // the registrar's table, last read during the load
		seenAt   time.Time
		proxySaw location
		allAt    time.Duration
	)
	start := time.Now()
	res := runUntil(t, o, func() bool {
		n := gauge.n.Load()
		if n < chainNAPs && time.Since(seenAt) < 2*time.Second {
			return false
		}
		l, err := reg.location()
		if err != nil {
			t.Errorf("the registrar's table: %v", err)
			return true
		}
		seen, seenAt = l, time.Now()
		if n < chainNAPs || l.contacts < chainNAPs {
			return false
		}
		allAt = time.Since(start)
		proxySaw = prx.mustLocation(t)
		return true
	})
	s := res.Summary
	after := reg.mustLocation(t)
	t.Logf("%s: regstorm registered %d (all at %v), responses %v, auth challenges %d, refusals %v, failures %v, timeouts %d, retransmissions %d",
		s.Transport, s.Registered, allAt.Round(time.Millisecond), s.Responses, s.AuthChallenges, s.Refusals, failureCounts(s.Failures), s.Timeouts, s.Retransmissions)
	t.Logf("the registrar Kamailio held %s (ul.dump %d bytes), %d after the drain; the proxy Kamailio held %d",
		seen, seen.bytes, after.contacts, proxySaw.contacts)
	t.Logf("the proxy challenged %d REGISTERs (407) and relayed %d (tm: %d ended 2xx, %d 4xx); the registrar challenged %d (401) and accepted %d",
		prx.stat("sl", "407_replies"), prx.stat("tmx", "UAS_transactions"), prx.stat("tmx", "2xx_transactions"), prx.stat("tmx", "4xx_transactions"),
		reg.stat("sl", "401_replies"), reg.stat("registrar", "accepted_regs"))

	if s.Registered != chainNAPs || seen.contacts != chainNAPs || len(seen.aors) != chainNAPs {
		t.Fatalf("registered through the authenticating proxy: regstorm says %d, the registrar Kamailio holds %d contacts at %d AoRs, want %d each (responses %v, refusals %v, failures %v)",
			s.Registered, seen.contacts, len(seen.aors), chainNAPs, s.Responses, s.Refusals, failureCounts(s.Failures))
	}
	if m := missingAoRs(seen, chainNAPs); len(m) > 0 {
		t.Errorf("AoRs without their one contact at the registrar: %v", m)
	}
	if want := "transport=" + tr.String(); !containsFold(seen.sample, want) {
		t.Errorf("a contact at the registrar: %s, want %s", seen.sample, want)
	}
	if proxySaw.contacts != 0 {
		t.Errorf("the proxy Kamailio saved %d contacts: it only relays", proxySaw.contacts)
	}
	// Each NAP met the proxy's challenge and the registrar's, and answered
	// both with credentials (the 401 came to a REGISTER that already
	// answered the 407).
	if s.Responses["407"] < chainNAPs || s.Responses["401"] < chainNAPs || s.AuthChallenges < 2*chainNAPs {
		t.Errorf("407s %d, 401s %d, challenges answered %d: want every NAP challenged by both (%d, %d, %d)",
			s.Responses["407"], s.Responses["401"], s.AuthChallenges, chainNAPs, chainNAPs, 2*chainNAPs)
	}
	if r := refusals(s.Responses); r != 0 || len(s.Refusals) != 0 || s.Timeouts != 0 || s.ConnectFailures != 0 || s.ConnectionsLost != 0 {
		t.Errorf("refusals %d (%v), timeouts %d, connect failures %d, connections lost %d: want none", r, s.Refusals, s.Timeouts, s.ConnectFailures, s.ConnectionsLost)
	}
	if s.Unregistered != chainNAPs || after.contacts != 0 {
		t.Errorf("after the drain: regstorm unregistered %d, the registrar Kamailio still holds %d contacts", s.Unregistered, after.contacts)
	}
	checkCounts(t, res)
}

func TestKamailioAuthProxyChainUDP(t *testing.T) { testKamailioAuthChain(t, sipwire.UDP) }
func TestKamailioAuthProxyChainTCP(t *testing.T) { testKamailioAuthChain(t, sipwire.TCP) }
