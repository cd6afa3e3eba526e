//go:build integration

package integration

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/sipwire"
)

// testKamailioStreamAuth5k registers 5 000 NAPs with Kamailio over tr (TLS
// or WSS), one connection each (--sockets per-nap), with digest auth; it
// watches Kamailio's own usrloc and connection counts until every NAP is
// bound and open, and checks that the drain leaves no binding behind.
func testKamailioStreamAuth5k(t *testing.T, tr sipwire.Transport) {
	k := startKamailioTLS(t, nil)
	const n = 5000
	port := k.tlsPort
	if tr == sipwire.WSS {
		port = k.wssPort
	}
	o := options(fmt.Sprintf("127.0.0.1:%d", port), n, tr)
	o.PerNAP = true
	o.TLS = &tls.Config{RootCAs: k.roots} // the engine names the server (127.0.0.1) itself
	// The load phase ends once Kamailio holds every binding and connection
	// (or at the bound): how long 5 000 handshakes take depends on this
	// machine's other load more than on regstorm. Kamailio reads TCP and TLS
	// with one process (bench/peers/kamailio.cfg); its main process hands
	// it each readable connection through a socket and, when that socket is
	// full, queues them and closes those still queued after 2 s ("queue
	// full", then "send_fd failed" in its log). With the default window of
	// 1 000, a drain's burst of un-REGISTERs lost 40 and 382 in two runs;
	// with 500 none, but thousands of "queue full"; with 200, not one.
	o.Duration = 150 * time.Second
	o.Drain = 20 * time.Second
	o.Window = 200

	var seen, conns, wsConns int
	var missing []string
	var allAt time.Duration
	start := time.Now()
	res := runUntil(t, o, func() bool {
		seen, conns = k.contacts(), k.tcpInfo()["opened_tls_connections"]
		if seen != n || conns != n {
			return false
		}
		allAt = time.Since(start)
		if tr == sipwire.WSS { // and its WebSocket module's own count
			wsConns = k.stat("websocket", "ws_current_connections")
		}
		// And a few AoRs as Kamailio would look them up for a call:
		// bound over this transport.
		for _, i := range []int{1, 2, 777, 2500, 4999, 5000} {
			aor := fmt.Sprintf("nap%06d", i)
			if out, ok := k.lookup(aor); !ok || !strings.Contains(strings.ToLower(out), "transport="+tr.String()) {
				missing = append(missing, aor+": "+out)
			}
		}
		return true
	})
	ran := time.Since(start)
	s := res.Summary
	left := k.contacts()
	info := k.tcpInfo()
	shm, _ := k.rpc("core.shmmem")
	t.Logf("%s per-nap: regstorm registered %d in %.2fs; Kamailio held %d contacts and %d TLS connections (%d WebSocket) at %v",
		s.Transport, s.Registered, *orZero(s.TimeToAllRegisterS), seen, conns, wsConns, allAt.Round(time.Millisecond))
	t.Logf("requests %d, 401s %d, 200s %d, timeouts %d, retransmissions %d, abandoned %d, in flight %d, connects %d, connect failures %d, connections lost %d, send failures %d",
		s.Requests, s.Responses["401"], s.Responses["200"], s.Timeouts, s.Retransmissions, s.Abandoned, res.InFlight, s.Connects, s.ConnectFailures, s.ConnectionsLost, s.SendFailures)
	t.Logf("latency ms p50 %.1f p99 %.1f max %.1f; registration ms p50 %.1f p99 %.1f; drain ms p50 %.1f p99 %.1f max %.1f",
		s.LatencyMS.P50, s.LatencyMS.P99, s.LatencyMS.Max, s.RegistrationMS.P50, s.RegistrationMS.P99, s.DrainLatencyMS.P50, s.DrainLatencyMS.P99, s.DrainLatencyMS.Max)
	if h := s.Handshakes; h != nil {
		t.Logf("handshakes: %d full, %d resumed; ms p50 %.1f p90 %.1f p99 %.1f max %.1f (count %d); connect failure reasons %v",
			h.Full, h.Resumed, h.LatencyMS.P50, h.LatencyMS.P90, h.LatencyMS.P99, h.LatencyMS.Max, h.LatencyMS.Count, s.ConnectFailureReasons)
	}
	t.Logf("run %v (load %v, drain bound %v); summary duration_s %.1f", ran.Round(time.Millisecond), o.Duration, o.Drain, s.DurationS)
	t.Logf("after the drain: Kamailio holds %d contacts; tcp_info %v; core.shmmem %s", left, info, oneLine(shm))

	if s.Registered != n || seen != n {
		t.Errorf("registered: regstorm says %d, Kamailio holds %d contacts, want %d", s.Registered, seen, n)
	}
	if conns != n {
		t.Errorf("Kamailio counted %d TLS connections, want %d (one per NAP)", conns, n)
	}
	if tr == sipwire.WSS && wsConns != n {
		t.Errorf("Kamailio's websocket module counted %d connections, want %d", wsConns, n)
	}
	if len(missing) > 0 {
		t.Errorf("lookups failed or not over %s: %v", tr, missing)
	}
	if s.AuthChallenges < n || s.Responses["401"] < n {
		t.Errorf("auth challenges %d, 401s %d: every NAP must be challenged", s.AuthChallenges, s.Responses["401"])
	}
	if s.Unregistered != n {
		t.Errorf("unregistered %d, want %d", s.Unregistered, n)
	}
	if left != 0 {
		t.Errorf("Kamailio still holds %d contacts after the drain", left)
	}
	if r := refusals(s.Responses); r != 0 || s.Timeouts != 0 || s.ConnectFailures != 0 || s.ConnectionsLost != 0 || s.SendFailures != 0 {
		t.Errorf("refusals %d, timeouts %d, connect failures %d (%v), connections lost %d, send failures %d: want none",
			r, s.Timeouts, s.ConnectFailures, s.ConnectFailureReasons, s.ConnectionsLost, s.SendFailures)
	}
	if h := s.Handshakes; h == nil || h.Full+h.Resumed < n || s.Connects < n {
		t.Errorf("connects %d, handshakes %+v: want at least %d (one per NAP)", s.Connects, h, n)
	}
	checkCounts(t, res)
}

// runUntil runs the load until done (polled every 250 ms) says so, and a
// second more for the last answers to reach regstorm, or until the load
// phase's bound; then drains.
func runUntil(t *testing.T, o engine.Options, done func() bool) *engine.Result {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type ran struct {
		res *engine.Result
		err error
	}
	end := make(chan ran, 1)
	go func() {
		res, err := engine.Run(ctx, o)
		end <- ran{res, err}
	}()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case r := <-end:
			if r.err != nil {
				t.Fatal(r.err)
			}
			return r.res
		case <-tick.C:
			if done() {
				tick.Stop()
				time.AfterFunc(time.Second, cancel)
			}
		}
	}
}

// checkCounts: every request ended in a final response, a timeout, was
// abandoned, or is still in flight (as engine/e2e_test.go checks it).
func checkCounts(t *testing.T, res *engine.Result) {
	t.Helper()
	s := res.Summary
	requestsAddUp(t, res)
	if s.InFlight == nil || *s.InFlight != res.InFlight {
		t.Errorf("summary in_flight %v, result %d", s.InFlight, res.InFlight)
	}
	if s.MessagesSent != s.Requests+s.Retransmissions {
		t.Errorf("messages sent %d != requests %d + retransmissions %d", s.MessagesSent, s.Requests, s.Retransmissions)
	}
	if s.Malformed != 0 {
		t.Errorf("malformed %d", s.Malformed)
	}
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func TestKamailioTLSAuth5k(t *testing.T) { testKamailioStreamAuth5k(t, sipwire.TLS) }
func TestKamailioWSSAuth5k(t *testing.T) { testKamailioStreamAuth5k(t, sipwire.WSS) }

// requestsAddUp: every request ended in a final response, a timeout, was
// abandoned, or is still in flight (docs/summary.md's count, as engine/e2e_test.go
// checks it).
func requestsAddUp(t *testing.T, res *engine.Result) {
	t.Helper()
	s := res.Summary
	var finals int64
	for code, n := range res.Totals.Responses {
		if code >= 200 {
			finals += n
		}
	}
	if s.Requests != finals+s.Timeouts+s.Abandoned+res.InFlight {
		t.Errorf("requests %d != final responses %d + timeouts %d + abandoned %d + in flight %d", s.Requests, finals, s.Timeouts, s.Abandoned, res.InFlight)
	}
}
