package engine

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regstorm/regstorm/netsim"
	"github.com/regstorm/regstorm/sipwire"
	"github.com/regstorm/regstorm/trace"
)

// tapRecorder keeps what a trace sink is handed.
type tapRecorder struct {
	mu       sync.Mutex
	msgs     []trace.Message
	outcomes []trace.Outcome
}

func (r *tapRecorder) Message(m *trace.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := *m
	c.Data = append([]byte(nil), m.Data...)
	r.msgs = append(r.msgs, c)
}

func (r *tapRecorder) Outcome(o *trace.Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outcomes = append(r.outcomes, *o)
}

// The trace tap sees every message on the wire, with its NAP, direction,
// addresses and time, and each transaction's end: as many messages as the
// summary's messages_sent + messages_received.
func TestTraceSeesEveryMessage(t *testing.T) {
	n := newSimNet(t, simX)
	tap := &tapRecorder{}
	e := startSim(t, n, Options{Groups: []Group{simGroup("g", 2, simX), simGroup("h", 1, "10.0.0.9:5060")},
		Duration: 40 * time.Second, Drain: 5 * time.Second, Trace: tap})
	n.run(e, 120*time.Second)
	res, _ := e.Wait()
	s := res.Summary
	if int64(len(tap.msgs)) != s.MessagesSent+s.MessagesReceived {
		t.Fatalf("%d messages traced, summary %d sent + %d received", len(tap.msgs), s.MessagesSent, s.MessagesReceived)
	}
	first := tap.msgs[0]
	if !first.Sent || first.Transport != "udp" || first.Remote.String() != simX || !first.Local.IsValid() ||
		!strings.HasPrefix(string(first.Data), "REGISTER ") || first.At.IsZero() {
		t.Errorf("first message %+v", first)
	}
	var ok, failed int
	for _, o := range tap.outcomes {
		if o.OK {
			ok++
		} else {
			failed++
		}
	}
	// g: 2 registrations and 2 un-registrations; h (nobody there): a
	// timeout at 32 s, then its next REGISTER abandoned at the stop.
	if ok != 5 || failed != 1 {
		t.Errorf("outcomes %+v", tap.outcomes)
	}
	for _, m := range tap.msgs {
		if m.Group == "h" && !m.Sent {
			t.Errorf("a message received for h, which nobody answers: %+v", m)
		}
	}
}

// failingNet refuses every send to one target, as a full socket buffer
// or a dead connection does.
type failingConn struct{ *netsim.Conn }

func (c failingConn) Send([]byte) error { return errClosed }

// A send the socket refuses is counted (send_failures), and the NAP goes
// on as if the datagram were lost: retransmissions, then Timer F.
func TestSendFailuresCounted(t *testing.T) {
	n := newSimNet(t, simX)
	o := n.options(Options{Groups: []Group{simGroup("g", 2, simX)}, Duration: 40 * time.Second, Drain: time.Second})
	o.NewNetwork = func(r Receiver) (Network, error) { _, _ = n.NewNetwork(r); return failingNet{n.Network}, nil }
	e, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	n.run(e, 120*time.Second)
	res, _ := e.Wait()
	s := res.Summary
	if s.SendFailures != s.MessagesSent || s.MessagesSent < 2*11 || s.Timeouts != 2 {
		t.Errorf("send failures %d, messages sent %d, timeouts %d: want every send failed, 2 timeouts", s.SendFailures, s.MessagesSent, s.Timeouts)
	}
	checkSums(t, res)
}

type failingNet struct{ *netsim.Network }

func (f failingNet) Dial(network sipwire.Transport, local netip.AddrPort, remote string, tag any) (Conn, error) {
	c, err := f.Network.Dial(network, local, remote, tag)
	if err != nil {
		return nil, err
	}
	return failingConn{c.(*netsim.Conn)}, nil
}
