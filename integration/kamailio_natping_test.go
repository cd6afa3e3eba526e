//go:build integration

package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/sipwire"
)

// A registrar that pings its contacts: Kamailio (bench/peers/kamailio-rpc.cfg
// with -A KNATPING) saves 1 000 NAPs' UDP bindings with nathelper's SIP
// pinging flag, and nathelper sends each an OPTIONS every natpingInterval
// (ping_nated_only 0: every contact, NAT or not). A contact that leaves its
// pings unanswered for kaTimeout is given up (usrloc expires it 10 s
// later): a gateway that ignores OPTIONS loses its registration long before
// it refreshes it. regstorm's NAPs must answer them. After natpingWatch
// (about ten ping rounds) every NAP is still registered in Kamailio's own
// table (ul.dump over JSON-RPC: each AoR with its one contact, none given
// up), as many as regstorm counts, and regstorm's summary JSON counts the
// OPTIONS it received under requests_received, none as malformed.

const (
	natpingNAPs     = 1000
	natpingInterval = 2 // s, nathelper's natping_interval
	kaTimeout       = 5 // s, nathelper's keepalive_timeout
	// natpingWatch: a contact whose pings went unanswered from its
	// registration on is given up at most kaTimeout + natpingInterval after
	// it, and deleted 10 s (+ usrloc's 1 s timer) later: 18 s.
	natpingWatch = 22 * time.Second
)

func TestKamailioNatpingOptionsUDP1k(t *testing.T) {
	k := startKamailioRPC(t, map[string]string{"KAUTH": "0",
		"KNATPING": fmt.Sprint(natpingInterval), "KKATIMEOUT": fmt.Sprint(kaTimeout)})
	o := options(fmt.Sprintf("127.0.0.1:%d", k.port), natpingNAPs, sipwire.UDP)
	o.Groups[0].NAP.Expires = 300              // no refresh (at 150 s) during the run: only the answers to the pings keep the bindings
	o.Duration = natpingWatch + 20*time.Second // a bound: runUntil ends the load
	g := &kaGauge{}
	o.Observers, o.SnapshotEvery = []engine.Observer{g}, 200*time.Millisecond

	var (
		allAt, lastAt time.Time
		first, last   location // Kamailio's table once all registered, and last read
		lost          bool     // Kamailio deleted bindings
		regstormLast  int64
	)
	start := time.Now()
	res := runUntil(t, o, func() bool {
		c := g.counts()
		if allAt.IsZero() {
			if c.Registered < natpingNAPs {
				if time.Since(start) > 15*time.Second {
					t.Errorf("15 s after the start: regstorm registered %d of %d", c.Registered, natpingNAPs)
					return true
				}
				return false
			}
			if first = k.mustLocation(t); first.contacts < natpingNAPs {
				return false
			}
			allAt, lastAt, last = time.Now(), time.Now(), first
			return false
		}
		if time.Since(lastAt) < natpingInterval*time.Second && time.Since(allAt) < natpingWatch {
			return false
		}
		last, lastAt, regstormLast = k.mustLocation(t), time.Now(), c.Registered
		if last.contacts < natpingNAPs {
			lost = true
			return true // the bindings are going: no need to watch further
		}
		return time.Since(allAt) >= natpingWatch
	})
	s := res.Summary
	after := k.mustLocation(t)

	// The summary as regstorm writes it (--summary): requests it received
	// by method, and what it could not parse.
	var js bytes.Buffer
	if err := s.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var sum struct {
		RequestsReceived map[string]int64 `json:"requests_received"`
		Malformed        int64            `json:"malformed"`
		Registered       int64            `json:"registered"`
	}
	if err := json.Unmarshal(js.Bytes(), &sum); err != nil {
		t.Fatal(err)
	}
	replies := k.stat("core", "rcv_replies")
	expired, expiredLine := k.logLines("contact expired:")
	watched := lastAt.Sub(allAt).Round(time.Millisecond)
	t.Logf("regstorm: all %d registered %v after the start; registered %d at the end of the load (%d when Kamailio was last read), unregistered %d; requests_received %v, malformed %d, messages received %d, sent %d; responses %v, timeouts %d",
		natpingNAPs, allAt.Sub(start).Round(time.Millisecond), s.Registered, regstormLast, s.Unregistered, sum.RequestsReceived, sum.Malformed, s.MessagesReceived, s.MessagesSent, s.Responses, s.Timeouts)
	t.Logf("Kamailio: %s once all registered; %v later: %s; after the drain %d contacts; it received %d replies (to its pings: it sends no other request); it logged %d contacts expired, e.g. %q",
		first, watched, last, after.contacts, replies, expired, expiredLine)

	if allAt.IsZero() {
		t.Fatalf("never saw all %d NAPs registered: regstorm %d, Kamailio %s", natpingNAPs, g.counts().Registered, last)
	}
	if lost || last.contacts != natpingNAPs || last.givenUp != 0 || expired != 0 || regstormLast != natpingNAPs || s.Registered != natpingNAPs {
		t.Fatalf("%v after all registered, pinged with OPTIONS every %d s: Kamailio holds %d contacts (%d given up by nathelper, %d expired), regstorm counts %d registered (%d at the end of the load); want %d, none given up. regstorm received OPTIONS: %v, malformed %d; Kamailio received %d replies",
			watched, natpingInterval, last.contacts, last.givenUp, expired, regstormLast, s.Registered, natpingNAPs, sum.RequestsReceived, sum.Malformed, replies)
	}
	if m := missingAoRs(last, natpingNAPs); len(m) > 0 {
		t.Errorf("AoRs without their one contact in Kamailio: %v", m)
	}
	if watched < natpingWatch {
		t.Errorf("watched for %v only", watched)
	}
	// Each contact is pinged every natpingInterval: about 10 rounds in the
	// watch; at least half of them counted, and answered.
	rounds := int64(natpingWatch/time.Second) / natpingInterval
	if want := rounds / 2 * natpingNAPs; sum.RequestsReceived["OPTIONS"] < want || int64(replies) < want {
		t.Errorf("regstorm's summary counts %d OPTIONS received (requests_received %v), Kamailio received %d replies: want at least %d each (%d NAPs pinged every %d s for %v)",
			sum.RequestsReceived["OPTIONS"], sum.RequestsReceived, replies, want, natpingNAPs, natpingInterval, natpingWatch)
	}
	if sum.Malformed != 0 {
		t.Errorf("malformed %d: an OPTIONS is a request, not a malformed message", sum.Malformed)
	}
	if s.Unregistered != natpingNAPs || after.contacts != 0 {
		t.Errorf("after the drain: regstorm unregistered %d, Kamailio still holds %d contacts", s.Unregistered, after.contacts)
	}
	if r := refusals(s.Responses); r != 0 || s.Timeouts != 0 || s.StaleResponses != 0 {
		t.Errorf("refusals %d (%v), timeouts %d, stale responses %d: want none", r, s.Responses, s.Timeouts, s.StaleResponses)
	}
	requestsAddUp(t, res)
}
