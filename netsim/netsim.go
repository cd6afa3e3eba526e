// Package netsim is a network in simulated time, for tests: the
// netio.Network a test gives a program (the engine's Options.NewNetwork,
// with its Clock and HostCPU) so that a whole run — ramp, reloads,
// outages, drain — takes milliseconds of real time and every message has
// an exact time.
//
// Behind each target is the real registrar logic (a registrar.Worker on
// the simulated clock). A request reaches it OneWay after it was sent and
// its answer comes back OneWay later; a stream connect completes after a
// round trip. Run drives the program: it calls the step the program gave
// (SetStep), moves the clock to the next thing due, runs what is due, and
// again, until the program is done.
//
// The network is not safe for concurrent use, but for At, SetStep and
// Stop (a program may start and end on a goroutine of its own): the
// step, the events and the inspection (Sends, Bindings …) run on the
// goroutine that calls Run, or on the caller's before and after it. A program changed
// from another goroutine while Run runs sees the change at whatever
// simulated time the loop has reached; a test that wants it at an exact
// time makes it from an At callback.
package netsim

import (
	"container/heap"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/netio"
	"github.com/regstorm/regstorm/registrar"
	"github.com/regstorm/regstorm/scheduler"
	"github.com/regstorm/regstorm/sipwire"
)

// Epoch is the wall time of simulated time 0: the same in every run, so
// that the registrars' clocks (and a program's wall times from the
// simulated clock) repeat.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// ErrRefused is a connect to a target whose process is gone, and the
// error a connection closed by the network is reported with.
var ErrRefused = errors.New("netsim: connection refused")

// ErrBound is Run's error when the program was not done by the bound.
var ErrBound = errors.New("netsim: the run did not end by its bound")

// Network is the simulated network. Its zero value is not usable: New
// makes one.
type Network struct {
	// OneWay is the time a message takes either way (default 10 ms).
	OneWay time.Duration
	// Lose, if set, says which requests the network loses on their way
	// (a deterministic --drop): they are in Sends, and never arrive.
	Lose func(s Send) bool

	clock  scheduler.SimClock
	recv   netio.Receiver
	regs   map[string]*registrarAt
	dead   map[string]bool // targets whose process is gone: connects refused, nothing answered
	noPong map[string]bool // targets that answer requests but no keep-alive ping
	port   uint16
	conns  []*Conn // stream connections made
	sent   []Send
	seen   map[*Conn]bool
	socks  []*Conn
	answer []Answer
	pings  int
	err    error // the first thing the network could not take

	mu     sync.Mutex // guards what follows: At may come from any goroutine
	events events
	seq    int
	step   func() time.Duration
	ready  chan struct{} // closed by SetStep; a new one after Stop
}

// registrarAt is what is behind one target address.
type registrarAt struct {
	reg     *registrar.Registrar
	w       *registrar.Worker
	silent  bool // alive, connections up, nothing answered
	rewrite func(out []byte) []byte
	peer    func(req []byte) [][]byte // a peer of the test's making in place of reg
}

// Send is one request as the network carried it towards its target.
type Send struct {
	At        time.Duration // when it was sent
	Target    string
	Transport sipwire.Transport
	User      string // the From URI's user
	Expires   int64  // the first Contact's ;expires= (0: none, or an un-REGISTER)
	CSeq      uint32
	CallID    string
	Conn      *Conn // the socket or connection it left on
}

// Answer is a program's response to a request the network delivered to
// it (DeliverRequest).
type Answer struct {
	At   time.Duration
	Conn *Conn
	To   string
	Msg  []byte
}

// New makes a network whose targets (host:port) each have a registrar of
// the default configuration; Configure gives one another.
func New(targets ...string) *Network {
	n := &Network{regs: map[string]*registrarAt{}, dead: map[string]bool{}, noPong: map[string]bool{}, port: 40000, OneWay: 10 * time.Millisecond, ready: make(chan struct{})}
	n.clock.Epoch = Epoch
	for _, tg := range targets {
		n.Configure(tg, registrar.Config{})
	}
	return n
}

// Configure puts a new registrar of cfg (a rate cap, a refusal …) behind
// target, on the simulated clock, with no bindings: a registrar
// restarted. Its Drop and Delay apply as the real server's do.
func (n *Network) Configure(target string, cfg registrar.Config) {
	r := registrar.New(cfg)
	r.Now = func() time.Time { return Epoch.Add(n.clock.Now()) }
	n.regs[target] = &registrarAt{reg: r, w: r.NewWorker()}
}

// Peer puts a peer of the test's making behind target in place of a
// registrar: each request that reaches it is handed to answer, and what
// answer returns goes back, in order, OneWay later (garbage included).
func (n *Network) Peer(target string, answer func(req []byte) [][]byte) {
	n.regs[target] = &registrarAt{peer: answer}
}

// Registrar is the registrar behind target (its location service, its
// switches).
func (n *Network) Registrar(target string) *registrar.Registrar { return n.regs[target].reg }

// Worker is the worker that handles target's requests (its counters).
func (n *Network) Worker(target string) *registrar.Worker { return n.regs[target].w }

// Clock is the simulated clock the network runs on: the program's.
func (n *Network) Clock() *scheduler.SimClock { return &n.clock }

// Now is the simulated time.
func (n *Network) Now() time.Duration { return n.clock.Now() }

// NewNetwork gives the network the receiver its messages go to: the
// engine's Options.NewNetwork.
func (n *Network) NewNetwork(r netio.Receiver) (netio.Network, error) {
	n.recv = r
	return n, nil
}

// HostCPU is a host that uses no CPU: the engine's Options.HostCPU in
// simulated time, where the real host's would mean nothing.
func HostCPU() metrics.CPUTimes { return metrics.CPUTimes{} }

// At runs fn at simulated time at, on the loop; events due at the same
// time run in the order they were given. Safe from any goroutine.
func (n *Network) At(at time.Duration, fn func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.seq++
	heap.Push(&n.events, event{at: at, seq: n.seq, fn: fn})
}

// Run drives the program until done is closed: it waits for the program's
// step (SetStep), then calls it, moves the clock to the earlier of what
// the step asked (at least 1 ms on) and the next event, and runs the
// events due, again and again. A program that stops its network (Stop:
// an engine's Wait) is no longer stepped; Run waits, in real time, for
// the next one's step (a capacity search runs one engine per trial) or
// for done. It returns ErrBound if simulated time would pass bound first,
// and the first message the network could not take.
func (n *Network) Run(done <-chan struct{}, bound time.Duration) error {
	for {
		select {
		case <-done:
			return n.err
		default:
		}
		if n.err != nil {
			return n.err
		}
		n.mu.Lock()
		step, ready := n.step, n.ready
		n.mu.Unlock()
		if step == nil {
			select {
			case <-ready:
			case <-done:
			}
			continue
		}
		sleep := step()
		next := n.clock.Now() + max(sleep, time.Millisecond)
		if at, ok := n.nextEvent(); ok && at < next {
			next = at
		}
		if next > bound {
			return fmt.Errorf("%w (%v)", ErrBound, bound)
		}
		n.clock.Set(next)
		for fn := n.due(); fn != nil; fn = n.due() {
			fn()
		}
	}
}

// nextEvent is when the next event is due.
func (n *Network) nextEvent() (time.Duration, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.events) == 0 {
		return 0, false
	}
	return n.events[0].at, true
}

// due takes the next event due now, if any.
func (n *Network) due() func() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.events) == 0 || n.events[0].at > n.clock.Now() {
		return nil
	}
	return heap.Pop(&n.events).(event).fn
}

// SetStep is the program's step (netio.Network): Run calls it.
func (n *Network) SetStep(step func() time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.step = step
	select {
	case <-n.ready: // a step already: this one replaces it
	default:
		close(n.ready)
	}
}

// Wake does nothing: Run never sleeps in real time.
func (n *Network) Wake() {}

// Stop ends the program's stepping (netio.Network); the network stays,
// for inspection and for a next program.
func (n *Network) Stop() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.step != nil {
		n.step, n.ready = nil, make(chan struct{})
	}
	return nil
}

// Dial makes a socket or connection at once (netio.Network).
func (n *Network) Dial(t sipwire.Transport, _ netip.AddrPort, remote string, tag any) (netio.Conn, error) {
	return n.newConn(t, remote, tag), nil
}

// DialAsync connects after a round trip from local's port (a reconnect
// from the port a NAP had), or is refused after one if the target is gone.
func (n *Network) DialAsync(t sipwire.Transport, local netip.AddrPort, remote string, tag any, done func(netio.Conn, error)) {
	if n.dead[remote] {
		n.At(n.clock.Now()+2*n.OneWay, func() { done(nil, ErrRefused) })
		return
	}
	c := n.newConn(t, remote, tag)
	if local.Port() != 0 {
		c.local = netip.AddrPortFrom(c.local.Addr(), local.Port())
	}
	n.conns = append(n.conns, c)
	n.At(n.clock.Now()+2*n.OneWay, func() { done(c, nil) })
}

func (n *Network) newConn(t sipwire.Transport, remote string, tag any) *Conn {
	n.port++
	return &Conn{n: n, target: remote, transport: t, tag: tag, local: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), n.port)}
}

// event is something due at a simulated time; seq keeps those due at the
// same time in order.
type event struct {
	at  time.Duration
	seq int
	fn  func()
}

type events []event

func (q events) Len() int { return len(q) }
func (q events) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q events) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *events) Push(x any)   { *q = append(*q, x.(event)) }
func (q *events) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
