package engine

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/regstorm/regstorm/netsim"
	"github.com/regstorm/regstorm/sipwire"
)

// pingRequest is an OPTIONS as Kamailio's nathelper sends it to a
// registered contact (no To tag, a branch of its own).
func pingRequest(method, user, from string, seq int, toTag string) []byte {
	to := "<sip:" + user + "@127.0.0.1>"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	return fmt.Appendf(nil, "%s sip:%s@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-ping-%d\r\n"+
		"Via: SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bK-second-%d\r\nFrom: <sip:pinger@%s>;tag=pt%d\r\nTo: %s\r\n"+
		"Call-ID: ping-%d@%s\r\nCSeq: %d %s\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		method, user, from, seq, seq, from, seq, to, seq, from, seq, method)
}

// A registrar that pings every registered contact with OPTIONS every 5 s
// (Kamailio's nathelper, Asterisk's qualify) gets a 200 from each, with
// Allow and Accept, on the socket the NAP registered from, with its Vias,
// From, Call-ID and CSeq copied and a To tag added: counted under
// requests_received, never as malformed; the NAPs stay registered.
func TestRequestsFromTheRegistrarAreAnswered(t *testing.T) {
	for _, tc := range []struct {
		name      string
		transport sipwire.Transport
		perNAP    bool
	}{{"udp-shared", sipwire.UDP, false}, {"udp-per-nap", sipwire.UDP, true}, {"tcp-per-nap", sipwire.TCP, true}, {"tcp-shared", sipwire.TCP, false}} {
		t.Run(tc.name, func(t *testing.T) {
			n := newSimNet(t, simX)
			g := simGroup("g", 10, simX)
			g.NAP.Transport = tc.transport
			e := startSim(t, n, Options{Groups: []Group{g}, PerNAP: tc.perNAP, Duration: 30 * time.Second, Drain: 5 * time.Second})
			type ping struct {
				conn *netsim.Conn
				req  []byte
			}
			var pings []ping
			for round := 1; round <= 5; round++ {
				n.At(time.Duration(round)*5*time.Second, func() {
					last := map[string]*netsim.Conn{}
					var users []string
					for _, s := range n.Sent() {
						if _, ok := last[s.User]; !ok {
							users = append(users, s.User)
						}
						last[s.User] = s.Conn
					}
					for _, u := range users {
						req := pingRequest("OPTIONS", u, simX, len(pings), "")
						pings = append(pings, ping{last[u], req})
						n.DeliverRequest(last[u], simX, req)
					}
				})
			}
			n.run(e, 100*time.Second)
			res, _ := e.Wait()
			checkSums(t, res)
			s := res.Summary
			if len(pings) != 50 || s.RequestsReceived["OPTIONS"] != 50 || len(s.RequestsReceived) != 1 || s.Malformed != 0 {
				t.Fatalf("%d pings; requests_received %v, malformed %d", len(pings), s.RequestsReceived, s.Malformed)
			}
			if len(n.Answers()) != len(pings) {
				t.Fatalf("%d answers to %d pings", len(n.Answers()), len(pings))
			}
			for k, a := range n.Answers() {
				var req, res sipwire.Msg
				if err := req.Parse(pings[k].req); err != nil {
					t.Fatal(err)
				}
				if err := res.Parse(a.Msg); err != nil || res.ParseAddresses() != nil {
					t.Fatalf("answer %d: %v\n%s", k, err, a.Msg)
				}
				if a.Conn != pings[k].conn || a.To != simX {
					t.Errorf("answer %d left on %p to %s; the ping came on %p from %s", k, a.Conn, a.To, pings[k].conn, simX)
				}
				if res.StatusCode != 200 || res.NumVia != 2 || !bytes.Equal(res.Via.Branch, req.Via.Branch) ||
					!bytes.Equal(res.CallID, req.CallID) || res.CSeq != req.CSeq || string(res.CSeqMethod) != "OPTIONS" ||
					!bytes.Equal(res.FromRaw, req.FromRaw) || len(res.To.Tag) == 0 ||
					!bytes.Contains(a.Msg, []byte("\r\nAllow: OPTIONS\r\n")) || !bytes.Contains(a.Msg, []byte("\r\nAccept: application/sdp\r\n")) {
					t.Fatalf("answer %d:\n%s", k, a.Msg)
				}
			}
			if s.Registered != 10 || s.Unregistered != 10 {
				t.Errorf("registered %d, unregistered %d", s.Registered, s.Unregistered)
			}
		})
	}
}

// Other requests get a proper final answer: 481 inside a dialog the NAP
// does not have (a To tag) and to a CANCEL, 405 with Allow to a method it
// does not take (an INVITE), none to an ACK; each counted by method.
func TestOtherRequestsGetAFinalAnswer(t *testing.T) {
	n := newSimNet(t, simX)
	e := startSim(t, n, Options{Groups: []Group{simGroup("g", 1, simX)}, Duration: 10 * time.Second, Drain: 5 * time.Second})
	reqs := [][]byte{pingRequest("NOTIFY", "g000", simX, 1, "abc"), pingRequest("INVITE", "g000", simX, 2, ""),
		pingRequest("ACK", "g000", simX, 3, "abc"), pingRequest("CANCEL", "g000", simX, 4, ""),
		pingRequest("OPTIONS", "g000", simX, 5, "indialog"), pingRequest("FOO", "g000", simX, 6, ""),
		[]byte("OPTIONS sip:g000@127.0.0.1 SIP/2.0\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n")} // no Via: cannot be answered
	n.At(time.Second, func() {
		for _, r := range reqs {
			n.DeliverRequest(n.Sockets()[0], simX, r)
		}
	})
	n.run(e, 100*time.Second)
	res, _ := e.Wait()
	s := res.Summary
	want := map[string]int64{"NOTIFY": 1, "INVITE": 1, "ACK": 1, "CANCEL": 1, "OPTIONS": 1, "other": 1}
	if fmt.Sprint(s.RequestsReceived) != fmt.Sprint(want) || s.Malformed != 1 {
		t.Fatalf("requests_received %v (want %v), malformed %d (want 1: the request without Via)", s.RequestsReceived, want, s.Malformed)
	}
	var codes []int
	for _, a := range n.Answers() {
		var m sipwire.Msg
		if err := m.Parse(a.Msg); err != nil {
			t.Fatal(err)
		}
		codes = append(codes, m.StatusCode)
		if m.StatusCode == 405 && !bytes.Contains(a.Msg, []byte("\r\nAllow: OPTIONS\r\n")) {
			t.Errorf("405 without Allow:\n%s", a.Msg)
		}
	}
	if fmt.Sprint(codes) != "[481 405 481 481 405]" {
		t.Errorf("answers %v, want [481 405 481 481 405] (NOTIFY, INVITE, CANCEL, in-dialog OPTIONS, FOO; none to the ACK)", codes)
	}
}
