package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/sipwire"
)

// hostilePeer answers every first REGISTER (CSeq 1) with a barrage of bad
// messages and a challenge nobody can answer, and every later REGISTER
// with a 200 OK that has no Contact; barrages counts the first.
func hostilePeer(barrages *int) func(req []byte) [][]byte {
	return func(req []byte) [][]byte {
		var m sipwire.Msg
		if m.Parse(req) != nil || !m.IsRequest {
			return nil
		}
		head := fmt.Sprintf("Via: %s\r\nFrom: %s\r\nTo: %s;tag=x\r\nCall-ID: %s\r\nCSeq: %d REGISTER\r\n",
			m.ViaHeaders[0], m.FromRaw, m.ToRaw, m.CallID, m.CSeq)
		if m.CSeq > 1 {
			return [][]byte{[]byte("SIP/2.0 200 OK\r\n" + head + "Content-Length: 0\r\n\r\n")} // no Contact, no Expires
		}
		*barrages++ // a retransmitted first REGISTER gets another barrage
		ok := "SIP/2.0 200 OK\r\n" + head + "Contact: <sip:x@y>;expires=60\r\nContent-Length: 0\r\n\r\n"
		return [][]byte{
			[]byte("\x00\x01garbage \xff\xfe not SIP at all"),                                                 // garbage
			[]byte(ok[:len(ok)/2]),                                                                            // truncated
			[]byte(strings.Replace(ok, "Content-Length: 0", "Content-Length: 500", 1)),                        // lies about its body
			[]byte(strings.Replace(ok, string(m.Via.Branch), "z9hG4bKrs0000000000000000deadbeefdeadbeef", 1)), // unknown branch
			[]byte("SIP/2.0 401 Unauthorized\r\n" + head + `WWW-Authenticate: Digest realm="r", nonce="n", algorithm=SHA-512-256` + "\r\nContent-Length: 0\r\n\r\n"),
			[]byte("SIP/2.0 200 OK\r\n" + head + "X-Pad: " + strings.Repeat("a", 60000) + "\r\nContent-Length: 0\r\n\r\n"), // huge header, after the transaction ended
		}
	}
}

func TestHostileResponsesAreCountedAndSurvived(t *testing.T) {
	var barrages int
	n := newSimNet(t)
	n.Peer(simX, hostilePeer(&barrages))
	// RFC timers (T1 500 ms): no retransmission before the barrage is
	// back; only the retry is short.
	o := baseOptions(simX, 100)
	o.Groups[0].NAP.Retry = 100 * time.Millisecond
	o.Duration, o.Drain = 1500*time.Millisecond, 500*time.Millisecond
	e := startSim(t, n, o)
	n.run(e, time.Minute)
	res, _ := e.Wait()
	s := res.Summary
	// Per NAP: garbage, the truncated 200 and the lying Content-Length are
	// malformed; the unknown-branch 200 and the 60 KB 200 (after the 401
	// ended the transaction) are stale; the 401 with an unknown algorithm
	// is a refusal, so the NAP retries after --retry, and the 200 without
	// Contact registers it for its own E. The drain's un-REGISTER gets a
	// 200 too.
	b := int64(barrages)
	if b < 100 || s.Malformed != 3*b || s.StaleResponses < 2*b {
		t.Errorf("%d barrages: malformed %d (want %d), stale %d (want >= %d)", b, s.Malformed, 3*b, s.StaleResponses, 2*b)
	}
	if s.Responses["401"] != 100 || s.AuthChallenges != 0 {
		t.Errorf("401s %d (want 100, each refused), challenges answered %d (want 0)", s.Responses["401"], s.AuthChallenges)
	}
	if s.Registered != 100 || s.Unregistered != 100 || s.Timeouts != 0 || s.Requests != 300 {
		t.Errorf("registered %d, unregistered %d, timeouts %d, requests %d (want 100, 100, 0, 300)", s.Registered, s.Unregistered, s.Timeouts, s.Requests)
	}
}
