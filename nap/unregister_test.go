package nap

import (
	"testing"
	"time"

	"github.com/regstorm/regstorm/sipwire"
)

// A refused un-REGISTER is sent again (a new transaction) after the
// Retry-After its answer gave, else after Retry; one ended by Timer F
// after Timer F + Retry; until one is answered 2xx. While it waits, the
// NAP says why the last failed.
func TestRefusedUnregisterIsSentAgain(t *testing.T) {
	unregs := 0
	h := newHarness(t, DefaultConfig(), 1, func(h *harness, req *sipwire.Msg, s sent) []reply {
		if s.expires != 0 {
			return ok200(req, contactOf(req, s.expires))
		}
		if s.kind == SendRetransmit {
			return nil
		}
		unregs++
		switch unregs {
		case 1:
			return []reply{{rtt, response(req, 503, "Service Unavailable", "Retry-After: 2")}}
		case 2:
			return []reply{{rtt, response(req, 500, "Server Internal Error")}}
		case 3:
			return nil // Timer F
		}
		return ok200(req)
	})
	h.start(0)
	h.run(10 * time.Second)
	h.stop(0)
	h.run(10*time.Second + 100*time.Millisecond)
	if code, ok := h.naps[0].UnregisterFailedWith(); !ok || code != 503 {
		t.Fatalf("after the 503: %d %v, state %v", code, ok, h.naps[0].State)
	}
	h.run(100 * time.Second)
	// 10 s: 503, Retry-After 2 → 12.02 s: 500 → 17.04 s (Retry 5 s):
	// unanswered, retransmitted, Timer F at 49.04 → 54.04 s: 200.
	var firsts []time.Duration
	for _, s := range h.sends {
		if s.expires == 0 && s.kind == SendRequest {
			firsts = append(firsts, s.at)
		}
	}
	sameTimes(t, "un-REGISTERs", firsts, ms(10, 12.02, 17.04, 54.04))
	if h.counts[EvUnregRefused] != 2 || h.counts[EvUnregistered] != 1 || h.naps[0].State != Stopped || h.regd != 0 {
		t.Errorf("refused %d, unregistered %d, state %v, gauge %d", h.counts[EvUnregRefused], h.counts[EvUnregistered], h.naps[0].State, h.regd)
	}
	h.checkCounts()
}

// An un-REGISTER is not sent again once the binding it would remove has
// expired anyway (Expires after the stop began): the NAP stops.
func TestUnregisterNotRetriedPastTheBinding(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Expires = 8
	h := newHarness(t, cfg, 1, func(h *harness, req *sipwire.Msg, s sent) []reply {
		if s.expires != 0 {
			return ok200(req, contactOf(req, s.expires))
		}
		return []reply{{rtt, response(req, 403, "Forbidden")}}
	})
	h.start(0)
	h.run(time.Second)
	h.stop(0)
	h.run(60 * time.Second)
	// 1 s, 6.02 s (Retry), then 11.04 s would be past 1 + 8 s: stopped.
	sameTimes(t, "un-REGISTERs", unregisterTimes(h), ms(1, 6.02))
	if h.naps[0].State != Stopped || h.counts[EvUnregRefused] != 1 || h.counts[EvStopped] != 1 {
		t.Errorf("state %v, refused %d, stopped %d", h.naps[0].State, h.counts[EvUnregRefused], h.counts[EvStopped])
	}
	h.checkCounts()
}
