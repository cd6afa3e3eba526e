package nap

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/digestfast"
	"github.com/regstorm/regstorm/sipwire"
)

const rtt = 20 * time.Millisecond // the scripted registrar's answer delay

func silent(*harness, *sipwire.Msg, sent) []reply { return nil }

func ok200(req *sipwire.Msg, extra ...string) []reply {
	return []reply{{rtt, response(req, 200, "OK", extra...)}}
}

// Seed figure "Register with no answer", UDP: retransmissions at T1,
// doubling to T2, Timer F at 32 s, a new REGISTER 5 s later: a 37 s cycle.
func TestNoAnswerUDP(t *testing.T) {
	h := newHarness(t, DefaultConfig(), 1, silent)
	h.start(0)
	h.run(80 * time.Second)
	cycle := []float64{0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5}
	var want []float64
	for _, base := range []float64{0, 37, 74} {
		for _, c := range cycle {
			if base+c <= 80 {
				want = append(want, base+c)
			}
		}
	}
	sameTimes(t, "UDP no answer", h.sendTimes(), ms(want...))
	// New transactions at 0, 37, 74 (CSeq+1, new branch); the rest are
	// byte-identical retransmissions.
	sameTimes(t, "new REGISTERs", h.sendTimes(SendRequest), ms(0, 37, 74))
	for _, s := range h.sends {
		if s.kind == SendRetransmit {
			first := h.sends[0]
			for _, f := range h.sends {
				if f.kind == SendRequest && f.at <= s.at {
					first = f
				}
			}
			if string(s.raw) != string(first.raw) {
				t.Fatalf("retransmission at %v differs from its request", s.at)
			}
		}
	}
	if h.sends[0].cseq+1 != h.sends[11].cseq || h.sends[0].branch == h.sends[11].branch {
		t.Errorf("second cycle must be a new transaction: cseq %d→%d", h.sends[0].cseq, h.sends[11].cseq)
	}
	if h.counts[EvTimeout] != 2 { // at 32 s and 69 s
		t.Errorf("%d timeouts by 80 s, want 2", h.counts[EvTimeout])
	}
}

// Over TCP: no retransmissions; Timer F, then Retry, then a new REGISTER.
func TestNoAnswerTCP(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Transport = sipwire.TCP
	h := newHarness(t, cfg, 1, silent)
	h.start(0)
	h.run(80 * time.Second)
	sameTimes(t, "TCP no answer", h.sendTimes(), ms(0, 37, 74))
	if h.counts[EvRetransmit] != 0 {
		t.Errorf("%d retransmissions over TCP", h.counts[EvRetransmit])
	}
}

// Over TCP with the registrar not listening: a connection attempt every 5 s.
func TestTCPConnectRefusedRetriesEvery5s(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Transport = sipwire.TCP
	var attempts []time.Duration
	listening := false
	h := newHarness(t, cfg, 1, func(h *harness, req *sipwire.Msg, s sent) []reply { return ok200(req) })
	h.connect = func(h *harness, i uint32) bool {
		attempts = append(attempts, h.now())
		return listening
	}
	h.start(0)
	h.run(17 * time.Second)
	sameTimes(t, "connect attempts", attempts, ms(0, 5, 10, 15))
	listening = true
	h.run(21 * time.Second)
	sameTimes(t, "REGISTER after the registrar listens", h.sendTimes(), ms(20))
	if !h.naps[0].Registered() {
		t.Fatal("not registered once the registrar listens")
	}
}

// TCP connection lost while registered: reconnect at once, re-register.
func TestTCPConnectionLost(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Transport = sipwire.TCP
	h := newHarness(t, cfg, 1, func(h *harness, req *sipwire.Msg, s sent) []reply { return ok200(req) })
	h.start(0)
	h.run(100 * time.Second)
	up := true
	h.connect = func(*harness, uint32) bool { return up }
	up = false // the reconnect fails once, then works 5 s later
	h.d.Closed(0)
	if h.naps[0].Registered() {
		t.Fatal("still counted registered after the connection was lost and the reconnect failed")
	}
	up = true
	h.run(200 * time.Second)
	sameTimes(t, "re-register after reconnect", h.sendTimes(), ms(0, 105))
	if !h.naps[0].Registered() || h.counts[EvConnLost] != 1 || h.counts[EvConnectFailed] != 1 {
		t.Errorf("registered %v, lost %d, connect failures %d", h.naps[0].Registered(), h.counts[EvConnLost], h.counts[EvConnectFailed])
	}
}

// Refusal (4xx) → retry after 5 s, forever.
func TestRefusalRetriesAfter5s(t *testing.T) {
	h := newHarness(t, DefaultConfig(), 1, func(h *harness, req *sipwire.Msg, s sent) []reply {
		return []reply{{rtt, response(req, 403, "Forbidden")}}
	})
	h.start(0)
	h.run(21 * time.Second)
	// Each attempt: sent at t, refused at t+20 ms, next at t+5.02 s.
	sameTimes(t, "403 retries", h.sendTimes(), ms(0, 5.02, 10.04, 15.06, 20.08))
	if h.counts[EvRefused] != 5 || h.naps[0].Registered() { // the 5th 403 arrives at 20.10 s
		t.Errorf("refused %d, registered %v", h.counts[EvRefused], h.naps[0].Registered())
	}
}

// No negotiation: the registrar echoes expires=3600 → refresh at 1800 s.
func TestRefreshAtHalfOfDefault(t *testing.T) {
	h := newHarness(t, DefaultConfig(), 1, func(h *harness, req *sipwire.Msg, s sent) []reply {
		return ok200(req, contactOf(req, 3600))
	})
	h.start(0)
	h.run(3700 * time.Second)
	sameTimes(t, "refreshes", h.sendTimes(), ms(0, 1800.02, 3600.04))
	if h.sends[0].expires != 3600 || h.naps[0].Granted != 3600 {
		t.Errorf("asked %d, granted %d", h.sends[0].expires, h.naps[0].Granted)
	}
}

// Seed case 1: the registrar rewrites our Contact ;expires=600 → refresh at 300 s.
func TestNegotiationCase1ContactExpires(t *testing.T) {
	h := newHarness(t, DefaultConfig(), 1, func(h *harness, req *sipwire.Msg, s sent) []reply {
		// Another binding of the AOR comes first and must not be taken for ours.
		return ok200(req, "Contact: <sip:nap000001@10.9.9.9:5060>;expires=50", contactOf(req, 600), "Expires: 3600")
	})
	h.start(0)
	h.run(700 * time.Second)
	sameTimes(t, "case 1", h.sendTimes(), ms(0, 300.02, 600.04))
}

// Seed case 2: no Contact ;expires, Expires: 120 → refresh at 60 s.
func TestNegotiationCase2ExpiresHeader(t *testing.T) {
	h := newHarness(t, DefaultConfig(), 1, func(h *harness, req *sipwire.Msg, s sent) []reply {
		return ok200(req, "Contact: <"+string(req.Contacts[0].URI)+">", "Expires: 120")
	})
	h.start(0)
	h.run(130 * time.Second)
	sameTimes(t, "case 2", h.sendTimes(), ms(0, 60.02, 120.04))
}

// A registrar granting more than asked: refresh at half of the minimum.
func TestGrantAboveRequestUsesRequest(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Expires = 100
	h := newHarness(t, cfg, 1, func(h *harness, req *sipwire.Msg, s sent) []reply {
		return ok200(req, contactOf(req, 7200))
	})
	h.start(0)
	h.run(60 * time.Second)
	sameTimes(t, "min(asked, granted)", h.sendTimes(), ms(0, 50.02))
}

// 401 → REGISTER with the right digest (checked by a real verifier) → 200.
func TestDigest401Flow(t *testing.T) {
	const nonce = "ZvHfA2bx3sQBbw+pHhkKkK0rXyD5iKHh"
	var verified int
	h := newHarness(t, DefaultConfig(), 1, func(h *harness, req *sipwire.Msg, s sent) []reply {
		if req.NumAuthorization == 0 {
			return []reply{{rtt, response(req, 401, "Unauthorized", `WWW-Authenticate: Digest realm="example.com", nonce="`+nonce+`", qop="auth", algorithm=MD5, opaque="op1"`)}}
		}
		var cr digestfast.Credentials
		if err := digestfast.ParseCredentials(req.Authorization[0], &cr); err != nil {
			t.Fatalf("Authorization does not parse: %v", err)
		}
		ha1, _ := digestfast.ComputeHA1(cr.Algorithm, []byte("nap000001"), []byte("example.com"), []byte("secret"))
		if string(cr.Username) != "nap000001" || string(cr.Nonce) != nonce || string(cr.URI) != "sip:example.com" ||
			string(cr.Opaque) != "op1" || !cr.Verify([]byte("REGISTER"), ha1.Bytes()) {
			return []reply{{rtt, response(req, 403, "Bad credentials")}}
		}
		verified++
		return ok200(req, contactOf(req, 3600))
	})
	h.start(0)
	h.run(2000 * time.Second)
	// 0: REGISTER, 0.02: 401 → REGISTER with Authorization at once,
	// 0.04: 200; refresh at 1800.04 → 401 → authenticated → 200.
	sameTimes(t, "401 flow", h.sendTimes(), ms(0, 0.02, 1800.04, 1800.06))
	s := h.sends
	if s[0].auth != "" || s[1].auth == "" || s[1].cseq != s[0].cseq+1 || s[1].branch == s[0].branch {
		t.Errorf("auth retry must be CSeq+1 with a new branch and credentials: %+v / %+v", s[0].cseq, s[1].cseq)
	}
	var first, second sipwire.Msg
	_ = first.Parse(s[0].raw)
	_ = second.Parse(s[1].raw)
	if string(first.CallID) != string(second.CallID) {
		t.Error("Call-ID changed across the auth retry")
	}
	if verified != 2 || h.counts[EvChallenged] != 2 || !h.naps[0].Registered() {
		t.Errorf("verified %d, challenged %d, registered %v", verified, h.counts[EvChallenged], h.naps[0].Registered())
	}
	for _, a := range h.actions {
		if a.Event == EvRegistered && a.RegLatency != 40*time.Millisecond {
			t.Errorf("registration latency %v, want 40ms (both round trips)", a.RegLatency)
		}
	}
}

// A second plain challenge to our credentials is a refusal: retry in 5 s.
func TestSecondChallengeIsRefusal(t *testing.T) {
	h := newHarness(t, DefaultConfig(), 1, func(h *harness, req *sipwire.Msg, s sent) []reply {
		return []reply{{rtt, response(req, 401, "Unauthorized", `WWW-Authenticate: Digest realm="r", nonce="n1", qop="auth"`)}}
	})
	h.start(0)
	h.run(5050 * time.Millisecond) // before the next attempt's own challenge
	sameTimes(t, "wrong password", h.sendTimes(), ms(0, 0.02, 5.04))
	if h.counts[EvRefused] != 1 {
		t.Errorf("refused %d", h.counts[EvRefused])
	}
}

// stale=true to our credentials: answer again with the new nonce.
func TestStaleNonceRetried(t *testing.T) {
	n := 0
	h := newHarness(t, DefaultConfig(), 1, func(h *harness, req *sipwire.Msg, s sent) []reply {
		n++
		switch n {
		case 1:
			return []reply{{rtt, response(req, 401, "Unauthorized", `WWW-Authenticate: Digest realm="r", nonce="old", qop="auth"`)}}
		case 2:
			return []reply{{rtt, response(req, 401, "Unauthorized", `WWW-Authenticate: Digest realm="r", nonce="new", qop="auth", stale=true`)}}
		}
		if !strings.Contains(string(req.Authorization[0]), `nonce="new"`) {
			t.Errorf("stale retry did not use the new nonce: %s", req.Authorization[0])
		}
		return ok200(req, contactOf(req, 3600))
	})
	h.start(0)
	h.run(time.Second)
	sameTimes(t, "stale", h.sendTimes(), ms(0, 0.02, 0.04))
	if !h.naps[0].Registered() {
		t.Error("not registered after a stale retry")
	}
}

// 407 is answered with Proxy-Authorization.
func TestProxyAuth407(t *testing.T) {
	h := newHarness(t, DefaultConfig(), 1, func(h *harness, req *sipwire.Msg, s sent) []reply {
		if req.NumProxyAuthorization == 0 {
			return []reply{{rtt, response(req, 407, "Proxy Authentication Required", `Proxy-Authenticate: Digest realm="p", nonce="x", algorithm=SHA-256, qop="auth"`)}}
		}
		if !strings.Contains(string(req.ProxyAuthorization[0]), "algorithm=SHA-256") {
			t.Errorf("%s", req.ProxyAuthorization[0])
		}
		return ok200(req)
	})
	h.start(0)
	h.run(time.Second)
	if !h.naps[0].Registered() || h.sends[1].auth == "" {
		t.Fatal("407 flow did not register")
	}
}

// nextnonce in Authentication-Info: the refresh carries credentials at once.
func TestNextNonceMakesRefreshPreemptive(t *testing.T) {
	h := newHarness(t, DefaultConfig(), 1, func(h *harness, req *sipwire.Msg, s sent) []reply {
		if req.NumAuthorization == 0 {
			return []reply{{rtt, response(req, 401, "Unauthorized", `WWW-Authenticate: Digest realm="r", nonce="n1", qop="auth"`)}}
		}
		return ok200(req, contactOf(req, 3600), `Authentication-Info: nextnonce="n2", qop=auth`)
	})
	h.start(0)
	h.run(1900 * time.Second)
	sameTimes(t, "preemptive refresh", h.sendTimes(), ms(0, 0.02, 1800.04))
	if !strings.Contains(h.sends[2].auth, `nonce="n2"`) || !strings.Contains(h.sends[2].auth, "nc=00000001") {
		t.Errorf("refresh credentials: %s", h.sends[2].auth)
	}
}

// A NAP without a password treats a challenge as a refusal.
func TestChallengeWithoutPasswordIsRefusal(t *testing.T) {
	h := newHarness(t, DefaultConfig(), 1, func(h *harness, req *sipwire.Msg, s sent) []reply {
		return []reply{{rtt, response(req, 401, "Unauthorized", `WWW-Authenticate: Digest realm="r", nonce="n"`)}}
	})
	h.m.Dir.(*testDir).password = nil
	h.start(0)
	h.run(time.Second)
	if h.counts[EvRefused] != 1 || len(h.sends) != 1 {
		t.Errorf("refused %d, sends %d", h.counts[EvRefused], len(h.sends))
	}
}

// 423 + Min-Expires: adopt it and re-send at once; later REGISTERs keep it.
func TestIntervalTooBrief423(t *testing.T) {
	h := newHarness(t, DefaultConfig(), 1, func(h *harness, req *sipwire.Msg, s sent) []reply {
		if s.expires < 7200 {
			return []reply{{rtt, response(req, 423, "Interval Too Brief", "Min-Expires: 7200")}}
		}
		return ok200(req, contactOf(req, s.expires))
	})
	h.start(0)
	h.run(3700 * time.Second)
	sameTimes(t, "423", h.sendTimes(), ms(0, 0.02, 3600.04))
	if h.sends[1].expires != 7200 || h.sends[2].expires != 7200 || h.counts[EvRefused] != 0 {
		t.Errorf("expires %d then %d, refused %d", h.sends[1].expires, h.sends[2].expires, h.counts[EvRefused])
	}
}

// A 423 whose Min-Expires is not above ours cannot be satisfied: refusal.
func TestBogus423IsRefusal(t *testing.T) {
	h := newHarness(t, DefaultConfig(), 1, func(h *harness, req *sipwire.Msg, s sent) []reply {
		return []reply{{rtt, response(req, 423, "Interval Too Brief", "Min-Expires: 60")}}
	})
	h.start(0)
	h.run(time.Second)
	if h.counts[EvRefused] != 1 || len(h.sends) != 1 {
		t.Errorf("refused %d, sends %d", h.counts[EvRefused], len(h.sends))
	}
}

// A 1xx moves the transaction to Proceeding (RFC 3261 §17.1.2.2): over
// UDP the retransmissions go on, Timer E reset to T2 each time it fires;
// Timer F still runs.
func TestProvisionalRetransmitsAtT2UntilTimerF(t *testing.T) {
	h := newHarness(t, DefaultConfig(), 1, func(h *harness, req *sipwire.Msg, s sent) []reply {
		if s.kind == SendRetransmit {
			return nil
		}
		return []reply{{700 * time.Millisecond, response(req, 100, "Trying")}}
	})
	h.start(0)
	h.run(37200 * time.Millisecond)
	// 0: REGISTER, 0.5: retransmit (Timer E next at 1.5), 0.7: 100 Trying,
	// 1.5: Timer E fires in Proceeding: retransmit, then every T2 (4 s)
	// until Timer F at 32; 37: a new REGISTER.
	sameTimes(t, "1xx", h.sendTimes(), ms(0, 0.5, 1.5, 5.5, 9.5, 13.5, 17.5, 21.5, 25.5, 29.5, 37))
	if h.counts[EvTimeout] != 1 || h.counts[EvProvisional] != 1 {
		t.Errorf("timeouts %d provisional %d", h.counts[EvTimeout], h.counts[EvProvisional])
	}
	h.checkCounts()
}

// The same after a 1xx answering the first transmission at once: Timer E,
// armed at T1 before the 1xx, still fires at 0.5 s, and then every T2
// until the 200 at 10 s.
func TestProvisionalThenLateFinal(t *testing.T) {
	h := newHarness(t, DefaultConfig(), 1, func(h *harness, req *sipwire.Msg, s sent) []reply {
		if s.kind == SendRetransmit {
			return nil
		}
		return []reply{{rtt, response(req, 100, "Trying")}, {10 * time.Second, response(req, 200, "OK", contactOf(req, 3600))}}
	})
	h.start(0)
	h.run(20 * time.Second)
	sameTimes(t, "REGISTER after 100 Trying", h.sendTimes(), ms(0, 0.5, 4.5, 8.5))
	if !h.naps[0].Registered() || h.naps[0].Due() != 1810*time.Second {
		t.Errorf("registered %v, refresh at %v", h.naps[0].Registered(), h.naps[0].Due())
	}
	h.checkCounts()
}

// An un-REGISTER is a client transaction like a REGISTER: a 1xx moves it
// to Proceeding, where it retransmits every T2, not at the T1 doubling of
// Trying; its final response ends it.
func TestUnregisterProvisionalRetransmitsAtT2(t *testing.T) {
	h := newHarness(t, DefaultConfig(), 1, func(h *harness, req *sipwire.Msg, s sent) []reply {
		if s.expires != 0 {
			return ok200(req, contactOf(req, s.expires))
		}
		if s.kind == SendRetransmit {
			return []reply{{rtt, response(req, 100, "Trying")}}
		}
		return []reply{{rtt, response(req, 100, "Trying")}, {8 * time.Second, response(req, 200, "OK")}}
	})
	h.start(0)
	h.run(10 * time.Second)
	h.stop(0)
	h.run(30 * time.Second)
	// The un-REGISTER at 10, its 100 at 10.02; Timer E (armed at T1) at
	// 10.5, then T2: 14.5; the 200 at 18.
	sameTimes(t, "un-REGISTER after 100 Trying", unregisterTimes(h), ms(10, 10.5, 14.5))
	if h.counts[EvUnregistered] != 1 || h.naps[0].State != Stopped || h.regd != 0 {
		t.Errorf("unregistered %d, state %v, gauge %d", h.counts[EvUnregistered], h.naps[0].State, h.regd)
	}
	h.checkCounts()
}

// Late and duplicate responses to finished transactions are ignored.
func TestLateAndDuplicateResponsesIgnored(t *testing.T) {
	h := newHarness(t, DefaultConfig(), 1, func(h *harness, req *sipwire.Msg, s sent) []reply {
		r := response(req, 200, "OK", contactOf(req, 3600))
		// The answer to the first transmission comes late (after a
		// retransmission), and twice.
		return []reply{{600 * time.Millisecond, r}, {900 * time.Millisecond, r}}
	})
	h.start(0)
	h.run(2 * time.Second)
	if h.counts[EvRegistered] != 1 || h.counts[EvStale] != 3 {
		t.Errorf("registered %d times, stale %d (want 1 and 3: the duplicate and both answers to the retransmission)", h.counts[EvRegistered], h.counts[EvStale])
	}
	// The refresh timer survived the stale responses.
	if due, ok := h.d.Wheel.Scheduled(0); !ok || due != 1800*time.Second+600*time.Millisecond {
		t.Errorf("refresh timer %v %v after stale responses", due, ok)
	}
	// A response with a foreign branch or CSeq is stale too.
	var other sipwire.Msg
	_ = other.Parse(response(mustReq(t, h.sends[0].raw), 200, "OK"))
	other.CSeq++
	if a := h.m.OnResponse(0, &h.naps[0], h.now(), &other); a.Event != EvStale || a.Wake == 0 {
		t.Errorf("foreign CSeq: %v wake %v", a.Event, a.Wake)
	}
}

func mustReq(t *testing.T, raw []byte) *sipwire.Msg {
	var m sipwire.Msg
	if err := m.Parse(raw); err != nil {
		t.Fatal(err)
	}
	return &m
}

// Stop: a registered NAP un-REGISTERs (Expires: 0); an unregistered one
// just stops.
func TestStopUnregisters(t *testing.T) {
	h := newHarness(t, DefaultConfig(), 2, func(h *harness, req *sipwire.Msg, s sent) []reply {
		if s.nap == 1 {
			return []reply{{rtt, response(req, 403, "Forbidden")}}
		}
		return ok200(req, contactOf(req, s.expires))
	})
	h.start(0)
	h.start(1)
	h.run(10 * time.Second)
	if h.regd != 1 {
		t.Fatalf("registered gauge %d", h.regd)
	}
	h.stop(0)
	h.stop(1)
	h.run(11 * time.Second)
	last := h.sends[len(h.sends)-1]
	var m sipwire.Msg
	_ = m.Parse(last.raw)
	if last.nap != 0 || last.expires != 0 || m.Expires != 0 {
		t.Errorf("last send: NAP %d expires %d / header %d", last.nap, last.expires, m.Expires)
	}
	if h.counts[EvUnregistered] != 1 || h.regd != 0 || h.naps[0].State != Stopped || h.naps[1].State != Stopped {
		t.Errorf("unregistered %d, gauge %d, states %v %v", h.counts[EvUnregistered], h.regd, h.naps[0].State, h.naps[1].State)
	}
	if h.d.Wheel.Pending() != 0 {
		t.Errorf("%d timers left after stop", h.d.Wheel.Pending())
	}
}

// Scaled timers: the same 37 s cycle at 1/100 scale.
func TestScaledTimers(t *testing.T) {
	cfg := DefaultConfig()
	cfg.T1, cfg.T2, cfg.TimerF, cfg.Retry = 5*time.Millisecond, 40*time.Millisecond, 320*time.Millisecond, 50*time.Millisecond
	h := newHarness(t, cfg, 1, silent)
	h.start(0)
	h.run(372 * time.Millisecond)
	sameTimes(t, "scaled", h.sendTimes(), ms(0, 0.005, 0.015, 0.035, 0.075, 0.115, 0.155, 0.195, 0.235, 0.275, 0.315, 0.370))
}

// A timer that fires late (as real timers do) must not shift the later
// retransmissions: they stay on the T1 grid and the 10th still precedes
// Timer F. Found with SIPp: in real time the 10th retransmission used to
// lose the race with Timer F.
func TestLateTimersDoNotDrift(t *testing.T) {
	cfg := DefaultConfig()
	cfg.T1, cfg.T2, cfg.TimerF, cfg.Retry = 10*time.Millisecond, 80*time.Millisecond, 640*time.Millisecond, 100*time.Millisecond
	m := NewMachine(cfg, &testDir{})
	var n NAP
	a := m.Start(0, &n, 0)
	var sends []time.Duration
	late := 3 * time.Millisecond // every timer fires 3 ms after its deadline
	for i := 0; i < 30 && a.Wake != 0; i++ {
		now := a.Wake + late
		a = m.OnTimer(0, &n, now)
		if a.Send == SendRetransmit {
			sends = append(sends, now-late)
		}
		if a.Event == EvTimeout {
			if a.Wake != 740*time.Millisecond {
				t.Errorf("next REGISTER due at %v, want 740ms (Timer F due + retry)", a.Wake)
			}
			break
		}
	}
	sameTimes(t, "due times of the retransmissions", sends, ms(0.010, 0.030, 0.070, 0.150, 0.230, 0.310, 0.390, 0.470, 0.550, 0.630))
}

// Stop while the first REGISTER is still unanswered: the registrar may yet
// bind it, so the NAP un-REGISTERs anyway.
func TestStopWithRegisterInFlightUnregisters(t *testing.T) {
	h := newHarness(t, DefaultConfig(), 1, func(h *harness, req *sipwire.Msg, s sent) []reply {
		return []reply{{time.Second, response(req, 200, "OK", contactOf(req, s.expires))}}
	})
	h.start(0)
	h.run(100 * time.Millisecond) // REGISTER sent, 200 not back yet
	h.stop(0)
	h.run(3 * time.Second)
	unreg := 0
	for _, s := range h.sends {
		if s.kind == SendRequest && s.expires == 0 {
			unreg++
			if s.at != 100*time.Millisecond {
				t.Errorf("un-REGISTER at %v, want at the stop (100ms)", s.at)
			}
		}
	}
	if unreg != 1 {
		t.Fatalf("%d un-REGISTERs, want 1", unreg)
	}
	if h.naps[0].State != Stopped || h.counts[EvUnregistered] != 1 || h.regd != 0 {
		t.Errorf("state %v, unregistered %d, gauge %d", h.naps[0].State, h.counts[EvUnregistered], h.regd)
	}
}

// A registrar that closes the TCP connection after every answer (issue
// 12): the NAP stays registered, reconnects and re-registers at most once
// per Retry, never in a storm, and at stop reconnects to un-REGISTER.
func TestTCPRegistrarClosingAfterEachAnswer(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Transport = sipwire.TCP
	h := newHarness(t, cfg, 1, func(h *harness, req *sipwire.Msg, s sent) []reply {
		return ok200(req, contactOf(req, 3600))
	})
	h.closeAfterAnswer = true
	connects := 0
	h.connect = func(*harness, uint32) bool { connects++; return true }
	h.start(0)
	h.run(21 * time.Second)
	sameTimes(t, "REGISTERs", h.sendTimes(), ms(0, 5, 10, 15, 20))
	if !h.naps[0].Registered() || h.regd != 1 {
		t.Fatalf("registered %v (gauge %d): a lost connection does not end a binding", h.naps[0].Registered(), h.regd)
	}
	h.stop(0)
	h.run(22 * time.Second)
	if got := h.sends[len(h.sends)-1]; got.expires != 0 || got.at != 21*time.Second {
		t.Fatalf("last send at %v expires %d: want the un-REGISTER at stop (21 s)", got.at, got.expires)
	}
	if h.naps[0].State != Stopped || h.regd != 0 || connects != 6 || h.counts[EvUnregistered] != 1 {
		t.Errorf("state %v, gauge %d, connects %d (want 6), unregistered %d", h.naps[0].State, h.regd, connects, h.counts[EvUnregistered])
	}
	h.checkCounts()
}

// Stop while a registered NAP reconnects (its connection lost, the new
// connect under way): the NAP un-REGISTERs on that connection once it is
// up, or stops if it fails, and never connects a second time. A second
// connect raced the first from another local port: two connections for
// one NAP, and the un-REGISTER could carry a Contact the registrar never
// bound (1 000 TLS NAPs against --close-after-answer left bindings
// behind after the drain).
func TestStopWhileReconnectingConnectsOnce(t *testing.T) {
	for _, up := range []bool{true, false} {
		t.Run(map[bool]string{true: "connects", false: "connect-fails"}[up], func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Transport = sipwire.TCP
			h := newHarness(t, cfg, 1, func(h *harness, req *sipwire.Msg, s sent) []reply {
				return ok200(req, contactOf(req, 3600))
			})
			h.start(0)
			h.run(10 * time.Second)
			h.hold = true
			h.d.Closed(0) // the last REGISTER was 10 s ago: reconnect at once
			h.stop(0)
			if len(h.held) != 1 || h.naps[0].State != Connecting {
				t.Fatalf("%d connects under way after the stop, state %v: want the one reconnect", len(h.held), h.naps[0].State)
			}
			h.hold = false
			if up {
				h.d.Connected(0)
			} else {
				h.d.ConnectFailed(0)
			}
			h.run(11 * time.Second)
			unregs := 0
			for _, s := range h.sends {
				if s.expires == 0 {
					unregs++
				}
			}
			want := map[bool]int{true: 1, false: 0}[up]
			if unregs != want || h.counts[EvUnregistered] != want || h.naps[0].State != Stopped || h.regd != 0 {
				t.Errorf("un-REGISTERs %d, unregistered %d (want %d), state %v, gauge %d", unregs, h.counts[EvUnregistered], want, h.naps[0].State, h.regd)
			}
			h.checkCounts()
		})
	}
}

// Stop while a REGISTER is open at a registrar that closes the connection
// after each answer: the un-REGISTER sent behind that REGISTER is lost
// when the connection closes after the REGISTER's answer. The NAP
// connects again and sends it once more, so that the stop leaves no
// binding behind (1 000 TLS NAPs against --close-after-answer left 1-4 %
// of them bound).
func TestStopUnregisterLostWithConnectionSentAgain(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Transport = sipwire.TCP
	onConn := 0 // requests the registrar has read on the current connection
	h := newHarness(t, cfg, 1, func(h *harness, req *sipwire.Msg, s sent) []reply {
		onConn++
		if onConn > 1 {
			return nil // read after the answer that closes the connection: lost
		}
		return []reply{{100 * time.Millisecond, response(req, 200, "OK", contactOf(req, s.expires))}}
	})
	h.closeAfterAnswer = true
	h.connect = func(*harness, uint32) bool { onConn = 0; return true }
	h.start(0)
	h.run(5050 * time.Millisecond) // the REGISTER of 5 s is open
	h.stop(0)
	h.run(6 * time.Second)
	sameTimes(t, "un-REGISTERs", unregisterTimes(h), ms(5.05, 5.1))
	if h.counts[EvUnregistered] != 1 || h.naps[0].State != Stopped || h.regd != 0 || h.abandoned != 2 {
		t.Errorf("unregistered %d, state %v, gauge %d, abandoned %d (want 1, stopped, 0, 2: the REGISTER and the lost un-REGISTER)",
			h.counts[EvUnregistered], h.naps[0].State, h.regd, h.abandoned)
	}
	h.checkCounts()
}

// An un-REGISTER is sent again once only: lost with its connection a
// second time, the NAP stops.
func TestStopUnregisterLostTwiceStops(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Transport = sipwire.TCP
	h := newHarness(t, cfg, 1, func(h *harness, req *sipwire.Msg, s sent) []reply {
		if s.expires == 0 {
			return nil
		}
		return ok200(req, contactOf(req, s.expires))
	})
	h.start(0)
	h.run(10 * time.Second)
	h.stop(0)
	h.run(11 * time.Second)
	h.d.Closed(0)
	h.run(12 * time.Second)
	h.d.Closed(0)
	h.run(13 * time.Second)
	sameTimes(t, "un-REGISTERs", unregisterTimes(h), ms(10, 11))
	if h.naps[0].State != Stopped || h.regd != 0 || h.abandoned != 2 || h.counts[EvUnregistered] != 0 {
		t.Errorf("state %v, gauge %d, abandoned %d, unregistered %d", h.naps[0].State, h.regd, h.abandoned, h.counts[EvUnregistered])
	}
	h.checkCounts()
}

func unregisterTimes(h *harness) []time.Duration {
	var out []time.Duration
	for _, s := range h.sends {
		if s.expires == 0 {
			out = append(out, s.at)
		}
	}
	return out
}

// A REGISTER in flight when its connection drops is abandoned and sent
// again after Retry from the first one, not at once.
func TestTCPConnectionLostInFlight(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Transport = sipwire.TCP
	h := newHarness(t, cfg, 1, nil) // never answers
	h.start(0)
	h.run(time.Second)
	h.d.Closed(0)
	if h.abandoned != 1 || h.naps[0].State != RetryWait {
		t.Fatalf("abandoned %d, state %v", h.abandoned, h.naps[0].State)
	}
	h.run(6 * time.Second)
	sameTimes(t, "REGISTERs", h.sendTimes(), ms(0, 5))
	h.checkCounts()
}

// Stop while a REGISTER is in flight: the un-REGISTER replaces it, and the
// replaced transaction is counted as abandoned, so every request is
// accounted for (docs/summary.md), over UDP and TCP.
func TestStopInFlightAbandons(t *testing.T) {
	for _, tr := range []sipwire.Transport{sipwire.UDP, sipwire.TCP} {
		t.Run(tr.String(), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Transport = tr
			h := newHarness(t, cfg, 3, func(h *harness, req *sipwire.Msg, s sent) []reply {
				if req.Contacts[0].Expires == 0 {
					return ok200(req)
				}
				return nil // the REGISTERs get no answer
			})
			for i := range uint32(3) {
				h.start(i)
			}
			h.run(2 * time.Second)
			for i := range uint32(3) {
				h.stop(i)
			}
			h.run(3 * time.Second)
			if h.requests != 6 || h.abandoned != 3 || h.counts[EvUnregistered] != 3 || h.timeouts != 0 {
				t.Fatalf("requests %d abandoned %d unregistered %d timeouts %d", h.requests, h.abandoned, h.counts[EvUnregistered], h.timeouts)
			}
			h.checkCounts()
		})
	}
}

// Branches carry the machine's salt: two machines (two socket groups, two
// runs) never send the same branch for the same NAP and transaction, and a
// response carrying another salt is stale, not taken as ours.
func TestBranchCarriesSalt(t *testing.T) {
	var got [2]string
	var ms [2]*Machine
	for k := range 2 {
		h := newHarness(t, DefaultConfig(), 1, func(h *harness, req *sipwire.Msg, s sent) []reply { return ok200(req) })
		h.m.Salt = uint64(k+1) * 0x9e3779b97f4a7c15
		h.start(0)
		got[k], ms[k] = h.sends[0].branch, h.m
	}
	if got[0] == got[1] {
		t.Fatalf("same branch %s from two salts", got[0])
	}
	// Machine 0's NAP answered with machine 1's branch: not its transaction.
	h := newHarness(t, DefaultConfig(), 1, nil)
	h.m.Salt = ms[0].Salt
	h.start(0)
	var req sipwire.Msg
	_ = req.Parse(h.sends[0].raw)
	resp := response(&req, 200, "OK")
	resp = bytes.Replace(resp, []byte(got[0]), []byte(got[1]), 1)
	var msg sipwire.Msg
	if err := msg.Parse(resp); err != nil {
		t.Fatal(err)
	}
	if a := h.m.OnResponse(0, &h.naps[0], h.now(), &msg); a.Event != EvStale {
		t.Fatalf("a response with another salt gave %v, want stale", a.Event)
	}
}
