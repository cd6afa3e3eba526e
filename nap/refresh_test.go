package nap

import (
	"testing"
	"time"

	"github.com/regstorm/regstorm/sipwire"
)

// Refresh sends a registered NAP's refresh now, as its timer would later:
// the same Call-ID, the next CSeq; one whose refresh was refused is
// retried by the next Refresh; a NAP with a transaction in flight, or not
// started, sends nothing.
func TestRefreshNow(t *testing.T) {
	refuse := false
	h := newHarness(t, DefaultConfig(), 2, func(h *harness, req *sipwire.Msg, s sent) []reply {
		if refuse {
			return []reply{{rtt, response(req, 503, "Service Unavailable")}}
		}
		return ok200(req, contactOf(req, s.expires))
	})
	h.start(0)
	h.run(10 * time.Second)
	if h.naps[0].State != Registered {
		t.Fatalf("state %v", h.naps[0].State)
	}
	if h.d.Refresh(1, h.now()) {
		t.Errorf("NAP 1, never started, refreshed")
	}
	if !h.d.Refresh(0, h.now()) {
		t.Fatalf("the registered NAP did not refresh")
	}
	if h.d.Refresh(0, h.now()) {
		t.Errorf("a NAP with its refresh in flight refreshed again")
	}
	h.run(11 * time.Second)
	refuse = true
	h.d.Refresh(0, h.now())
	h.run(12 * time.Second)
	if h.naps[0].State != RetryWait || h.naps[0].Registered() {
		t.Fatalf("after a 503: state %v, registered %v", h.naps[0].State, h.naps[0].Registered())
	}
	refuse = false
	if !h.d.Refresh(0, h.now()) {
		t.Fatalf("a NAP whose refresh was refused did not retry")
	}
	h.run(13 * time.Second)
	if len(h.sends) != 4 {
		t.Fatalf("%d requests, want 4", len(h.sends))
	}
	first := h.sends[0]
	for k, s := range h.sends {
		var m sipwire.Msg
		if err := m.Parse(s.raw); err != nil {
			t.Fatal(err)
		}
		var f sipwire.Msg
		_ = f.Parse(first.raw)
		if string(m.CallID) != string(f.CallID) || s.cseq != first.cseq+uint32(k) || s.kind != SendRequest {
			t.Errorf("request %d: Call-ID %s CSeq %d kind %v; want the first's Call-ID, CSeq %d", k, m.CallID, s.cseq, s.kind, first.cseq+uint32(k))
		}
	}
	sameTimes(t, "requests", h.sendTimes(SendRequest), ms(0, 10, 11, 12))
	if h.naps[0].State != Registered || h.regd != 1 {
		t.Errorf("state %v, gauge %d", h.naps[0].State, h.regd)
	}
	h.checkCounts()
}
