package engine

import (
	"container/heap"
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/regstorm/regstorm/identity"
	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/nap"
	"github.com/regstorm/regstorm/netio"
	"github.com/regstorm/regstorm/registrar"
	"github.com/regstorm/regstorm/scheduler"
	"github.com/regstorm/regstorm/sipwire"
)

// simNet is a Network in simulated time: messages reach the registrar of
// their target (the real registrar logic, one per target) after oneWay,
// and its answers come back after oneWay; a stream connect completes
// after one round trip. It runs the engine's step itself, one event at a
// time, so a whole run (ramp, reloads, drain) takes milliseconds and every
// send has an exact time.
type simNet struct {
	t      *testing.T
	clock  scheduler.SimClock
	recv   Receiver
	step   func() time.Duration
	regs   map[string]*simRegistrar
	events simEvents
	seq    int
	port   uint16
	sent   []simSend
	oneWay time.Duration
	dead   map[string]bool // targets whose process is gone: connects refused, nothing answered
	conns  []*simConn
	noPong map[string]bool // targets that answer requests but no keep-alive ping
	pings  int
	// lose, if set, says which requests the network loses on their way
	// (a deterministic --drop).
	lose func(s simSend) bool
	// sockets: every socket or connection that sent a request, in order
	// (seen: the same as a set); answers: what the NAPs answered to the
	// requests delivered to them (deliverRequest).
	sockets []*simConn
	seen    map[*simConn]bool
	answers []simAnswer
}

// simAnswer is a NAP's response to a request from the network.
type simAnswer struct {
	at   time.Duration
	conn *simConn
	to   string
	msg  []byte
}

// deliverRequest delivers a request from target to the NAPs on socket c,
// as a registrar that pings its contacts does.
func (n *simNet) deliverRequest(c *simConn, from string, req []byte) {
	n.recv.OnMessageAt(c.tag, req, time.Time{}, netip.MustParseAddrPort(from))
}

type simRegistrar struct {
	reg    *registrar.Registrar
	w      *registrar.Worker
	silent bool
	// rewrite, if set, changes each answer on its way back (a registrar
	// that answers oddly).
	rewrite func(out []byte) []byte
}

// simSend is one request as the registrar of target received it.
type simSend struct {
	at        time.Duration
	target    string
	transport string
	user      string
	expires   int64 // Contact ;expires= (0: un-REGISTER)
	cseq      uint32
	callID    string
	conn      *simConn // the socket or connection it left on
}

type simEvent struct {
	at  time.Duration
	seq int
	fn  func()
}

type simEvents []simEvent

func (q simEvents) Len() int { return len(q) }
func (q simEvents) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q simEvents) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simEvents) Push(x any)   { *q = append(*q, x.(simEvent)) }
func (q *simEvents) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

var simEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newSimNet(t *testing.T, targets ...string) *simNet {
	n := &simNet{t: t, regs: map[string]*simRegistrar{}, port: 40000, oneWay: 10 * time.Millisecond}
	n.clock.Epoch = simEpoch // wall times from the simulated clock: the same in every run
	for _, tg := range targets {
		r := registrar.New(registrar.Config{})
		r.Now = func() time.Time { return simEpoch.Add(n.clock.Now()) }
		n.regs[tg] = &simRegistrar{reg: r, w: r.NewWorker()}
	}
	return n
}

// configure gives target a registrar of cfg (a rate cap, say) on the
// simulated clock.
func (n *simNet) configure(target string, cfg registrar.Config) {
	r := registrar.New(cfg)
	r.Now = func() time.Time { return simEpoch.Add(n.clock.Now()) }
	n.regs[target] = &simRegistrar{reg: r, w: r.NewWorker()}
}

// at runs fn at simulated time at, on the loop.
func (n *simNet) at(at time.Duration, fn func()) {
	n.seq++
	heap.Push(&n.events, simEvent{at: at, seq: n.seq, fn: fn})
}

// options plugs the simulated clock and network into o.
func (n *simNet) options(o Options) Options {
	o.Clock = &n.clock
	if o.SnapshotEvery == 0 {
		o.SnapshotEvery = time.Minute // hours of simulated time: a snapshot a second costs more than the run
	}
	o.NewNetwork = func(r Receiver) (Network, error) { n.recv = r; return n, nil }
	if o.HostCPU == nil {
		o.HostCPU = func() metrics.CPUTimes { return metrics.CPUTimes{} } // no host in simulated time
	}
	return o
}

// run drives the engine until its run is done (or until the bound).
func (n *simNet) run(e *Engine, bound time.Duration) {
	for {
		select {
		case <-e.done:
			return
		default:
		}
		sleep := n.step()
		next := n.clock.Now() + max(sleep, time.Millisecond)
		if len(n.events) > 0 && n.events[0].at < next {
			next = n.events[0].at
		}
		if next > bound {
			n.t.Fatalf("the run did not end by %v", bound)
		}
		n.clock.Set(next)
		for len(n.events) > 0 && n.events[0].at <= n.clock.Now() {
			heap.Pop(&n.events).(simEvent).fn()
		}
	}
}

// bindings counts the registrar's bindings at target now.
func (n *simNet) bindings(target string) int {
	c, _ := n.regs[target].reg.Loc.Count(simEpoch.Add(n.clock.Now()))
	return c
}

// sends lists the requests that reached target from user (any: "").
func (n *simNet) sends(target, user string) []simSend {
	var out []simSend
	for _, s := range n.sent {
		if (target == "" || s.target == target) && (user == "" || s.user == user) {
			out = append(out, s)
		}
	}
	return out
}

type simConn struct {
	n         *simNet
	target    string
	transport string
	tag       any
	local     netip.AddrPort
	closed    bool
}

func (n *simNet) newConn(t sipwire.Transport, remote string, tag any) *simConn {
	n.port++
	return &simConn{n: n, target: remote, transport: t.String(), tag: tag, local: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), n.port)}
}

// fromPort makes c's local port the one asked for, as a bind to it would
// (a reconnect from the port the NAP had).
func fromPort(c *simConn, local netip.AddrPort) *simConn {
	if local.Port() != 0 {
		c.local = netip.AddrPortFrom(c.local.Addr(), local.Port())
	}
	return c
}

func (n *simNet) Dial(network sipwire.Transport, _ netip.AddrPort, remote string, tag any) (Conn, error) {
	return n.newConn(network, remote, tag), nil
}

func (n *simNet) DialAsync(network sipwire.Transport, local netip.AddrPort, remote string, tag any, done func(Conn, error)) {
	if n.dead[remote] { // refused: an RST after one round trip
		n.at(n.clock.Now()+2*n.oneWay, func() { done(nil, errRefused) })
		return
	}
	c := fromPort(n.newConn(network, remote, tag), local)
	n.conns = append(n.conns, c)
	n.at(n.clock.Now()+2*n.oneWay, func() { done(c, nil) })
}

var errRefused = errors.New("simnet: connection refused")

// kill ends target's process at simulated time at: its connections drop
// (the peers see them closed), later connects are refused, datagrams go
// unanswered.
func (n *simNet) kill(at time.Duration, target string) {
	n.at(at, func() {
		if n.dead == nil {
			n.dead = map[string]bool{}
		}
		n.dead[target] = true
		for _, c := range n.conns {
			if c.target == target && !c.closed {
				c.closed = true
				n.recv.OnClosed(c.tag, errRefused)
			}
		}
	})
}

// silence makes target stop answering at simulated time at (its process
// alive: connections stay up).
func (n *simNet) silence(at time.Duration, target string) {
	n.at(at, func() { n.regs[target].silent = true })
}

func (n *simNet) SetStep(step func() time.Duration) { n.step = step }
func (n *simNet) Wake()                             {}
func (n *simNet) Stop() error                       { return nil }

func (c *simConn) Send(b []byte) error { return c.sendTo(b, c.target) }

// SendTo is a datagram to another target from the same socket.
func (c *simConn) SendTo(b []byte, to netip.AddrPort) error { return c.sendTo(b, to.String()) }

func (c *simConn) sendTo(b []byte, target string) error {
	n := c.n
	raw := append([]byte(nil), b...)
	var m sipwire.Msg
	if err := m.Parse(raw); err != nil {
		n.t.Fatalf("unparsable request: %v\n%s", err, raw)
	}
	if !m.IsRequest { // a NAP's answer to a request the network delivered (deliverRequest)
		n.answers = append(n.answers, simAnswer{at: n.clock.Now(), conn: c, to: target, msg: raw})
		return nil
	}
	if !n.seen[c] {
		if n.seen == nil {
			n.seen = map[*simConn]bool{}
		}
		n.seen[c] = true
		n.sockets = append(n.sockets, c)
	}
	s := simSend{at: n.clock.Now(), target: target, transport: c.transport, user: string(m.From.URI), cseq: m.CSeq, callID: string(m.CallID), conn: c}
	if m.NumContacts > 0 {
		s.expires = m.Contacts[0].Expires
	}
	_ = m.ParseAddresses()
	s.user = userOf(m.From.URI)
	n.sent = append(n.sent, s)
	r := n.regs[target]
	if r == nil || r.silent || n.dead[target] || (n.lose != nil && n.lose(s)) {
		return nil // nothing listens there, nothing answers, or it was lost
	}
	n.at(n.clock.Now()+n.oneWay, func() {
		if r.w.Handle(raw) == registrar.Reply {
			out := append([]byte(nil), r.w.Out...)
			if r.rewrite != nil {
				out = r.rewrite(out)
			}
			n.at(n.clock.Now()+n.oneWay, func() {
				if !c.closed {
					n.recv.OnMessageAt(c.tag, out, time.Time{}, netip.MustParseAddrPort(target))
				}
			})
		}
	})
	return nil
}

func userOf(uri []byte) string {
	s := string(uri)
	if i := len("sip:"); len(s) > i && s[:i] == "sip:" {
		s = s[i:]
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '@' {
			return s[:i]
		}
	}
	return s
}

// Close closes the connection; as a real network does, the receiver is
// told (a datagram socket's close is silent).
func (c *simConn) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	if c.transport != "udp" {
		c.n.at(c.n.clock.Now(), func() { c.n.recv.OnClosed(c.tag, errRefused) })
	}
	return nil
}

// Abort is Close: the simulated network has no FIN to tell from a reset.
func (c *simConn) Abort() error { return c.Close() }

// Ping is a CRLF keep-alive: the pong comes back after a round trip from
// a live target that answers pings.
func (c *simConn) Ping() error {
	n := c.n
	n.pings++
	if c.closed || c.transport == "udp" {
		return errRefused
	}
	if r := n.regs[c.target]; r == nil || r.silent || n.dead[c.target] || n.noPong[c.target] {
		return nil
	}
	n.at(n.clock.Now()+2*n.oneWay, func() {
		if !c.closed {
			n.recv.OnPong(c.tag)
		}
	})
	return nil
}
func (c *simConn) Closed() bool               { return c.closed }
func (c *simConn) Drops() int64               { return 0 }
func (c *simConn) NewBatch() netio.Batcher    { return nil } // sends one by one
func (c *simConn) Handshake() netio.Handshake { return netio.Handshake{} }
func (c *simConn) LocalAddr() netip.AddrPort  { return c.local }

// simGroup is a group of n NAPs at target, seed timers.
func simGroup(name string, n int, target string) Group {
	up, _ := identity.ParsePattern(name + "%03d")
	pp, _ := identity.ParsePattern("secret")
	return Group{Name: name, NAPs: n, Register: true, Target: target, NAP: nap.DefaultConfig(),
		Identity: identity.Identity{UserPattern: up, UserStart: 0, PasswordPattern: pp}}
}

// startSim starts an engine on the simulated network.
func startSim(t *testing.T, n *simNet, o Options) *Engine {
	t.Helper()
	e, err := Start(context.Background(), n.options(o))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// reloadAt applies groups at simulated time at, as SIGHUP would.
func (n *simNet) reloadAt(e *Engine, at time.Duration, groups ...Group) {
	n.at(at, func() {
		e.ctrlQ <- func(now time.Duration) { e.applyReload(withDomains(groups), now) }
	})
}
