package nap

import (
	"testing"
	"time"
	"unsafe"

	"github.com/regstorm/regstorm/digestfast"
	"github.com/regstorm/regstorm/sipwire"
)

// TestScale100kWithAuth starts 10^5 NAPs at the same instant through the
// real wheel against a scripted registrar that challenges every REGISTER
// without credentials: all must register (401 → 200), then refresh once at
// 1800 s, in simulated time.
func TestScale100kWithAuth(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	var bad int
	h := newHarness(t, DefaultConfig(), n, func(h *harness, req *sipwire.Msg, s sent) []reply {
		if req.NumAuthorization == 0 {
			return []reply{{rtt, response(req, 401, "Unauthorized", `WWW-Authenticate: Digest realm="example.com", nonce="abc", qop="auth"`)}}
		}
		var cr digestfast.Credentials
		if digestfast.ParseCredentials(req.Authorization[0], &cr) != nil {
			bad++
		}
		return ok200(req, contactOf(req, 3600))
	})
	for i := 0; i < n; i++ {
		h.start(uint32(i))
	}
	h.run(time.Second)
	if h.regd != n || h.counts[EvRegistered] != n || h.counts[EvChallenged] != n || bad != 0 {
		t.Fatalf("after 1 s: gauge %d, registered %d, challenged %d, bad credentials %d (of %d)", h.regd, h.counts[EvRegistered], h.counts[EvChallenged], bad, n)
	}
	if h.d.Wheel.Pending() != n {
		t.Fatalf("%d refresh timers pending, want %d", h.d.Wheel.Pending(), n)
	}
	h.run(1801 * time.Second)
	if h.counts[EvRefresh] != n || h.counts[EvRegistered] != 2*n || h.counts[EvTimeout] != 0 || h.regd != n {
		t.Fatalf("after the refresh: refresh %d, registered %d, timeouts %d, gauge %d", h.counts[EvRefresh], h.counts[EvRegistered], h.counts[EvTimeout], h.regd)
	}
	for i := range h.naps {
		if h.naps[i].State != Registered || h.naps[i].CSeq != 4 {
			t.Fatalf("NAP %d: %v CSeq %d", i, h.naps[i].State, h.naps[i].CSeq)
		}
	}
}

// TestNAPSize keeps the per-NAP state small: it exists 10^6 times.
func TestNAPSize(t *testing.T) {
	if s := unsafe.Sizeof(NAP{}); s > 96 {
		t.Errorf("NAP is %d bytes, want <= 96", s)
	}
	if s := unsafe.Sizeof(authState{}); s > 160 {
		t.Errorf("authState is %d bytes, want <= 160", s)
	}
}

// BenchmarkRefreshCycle is the machine's CPU per registration refresh: the
// timer fires, a REGISTER is encoded, the 200 is handled (parse excluded).
func BenchmarkRefreshCycle(b *testing.B) {
	m := NewMachine(DefaultConfig(), &benchDir{})
	var n NAP
	m.Start(0, &n, 0)
	var req, resp sipwire.Msg
	_ = req.Parse(m.Out)
	raw := response(&req, 200, "OK", contactOf(&req, 3600))
	branch := make([]byte, 0, 64)
	b.ReportAllocs()
	now := time.Duration(0)
	for b.Loop() {
		// Patch the response to the current transaction, as the wire would.
		_ = resp.Parse(raw)
		branch = sipwire.AppendBranch(branch[:0], m.Salt, BranchID(0, n.Txn))
		resp.Via.Branch = branch
		resp.CSeq = n.CSeq
		now += 20 * time.Millisecond
		if a := m.OnResponse(0, &n, now, &resp); a.Event != EvRegistered {
			b.Fatalf("%v", a.Event)
		}
		now += 1800 * time.Second
		if a := m.OnTimer(0, &n, now); a.Send != SendRequest {
			b.Fatal("no refresh")
		}
	}
}

// benchDir is an allocation-free directory: fixed identity.
type benchDir struct{}

var (
	bUser, bDomain, bHost = []byte("nap000001"), []byte("example.com"), []byte("127.0.0.1")
	bCallID, bTag, bPass  = []byte("00000000@regstorm"), []byte("t0"), []byte("secret")
)

func (benchDir) Identity(i uint32, r *sipwire.Register) {
	r.User, r.Domain, r.LocalHost, r.LocalPort, r.CallID, r.FromTag = bUser, bDomain, bHost, 5070, bCallID, bTag
}
func (benchDir) Password(uint32) []byte { return bPass }
