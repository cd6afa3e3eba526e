// Package engine runs a load: the lifecycle of a run (start, load, new
// configurations, drain) over a population of NAPs that grows and
// shrinks. Everything that is scheduled (timers, the ramp, the stops, the
// phases, once-a-second snapshots) happens in one step function that the
// network's loop calls, on one clock: the real one, or a simulated one
// under test. The command line wires the observers (progress, .hlog,
// Prometheus) and turns flags and profiles into Groups.
package engine

import (
	"context"
	"crypto/tls"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/nap"
	"github.com/regstorm/regstorm/netio"
	"github.com/regstorm/regstorm/scheduler"
	"github.com/regstorm/regstorm/sipwire"
	"github.com/regstorm/regstorm/trace"
)

// Options is one load run.
type Options struct {
	// Groups of NAPs: each complete (target, NAP settings, identity);
	// a run of one kind of NAP is one group.
	Groups []Group

	Rate   float64 // ramp: new NAPs per second, shared by the groups without a rate of their own; 0: windowed
	Window int     // registrations (and un-REGISTERs) started by pacing in flight at most (default 1000)
	// InitialDelay spreads the first REGISTERs: each NAP waits its own
	// random delay in [0, InitialDelay) after the ramp starts it.
	InitialDelay time.Duration
	Churn        Churn // NAPs going offline and back (churn.go)
	// Staged: the run is --stages; its first stage begins with the run
	// (the next ones with Stage).
	Staged   bool
	Duration time.Duration // load phase; 0: until ctx is cancelled
	Drain    time.Duration // bound on the un-REGISTER phase (default 5 s)
	// LeaveBindings: the stop sends no un-REGISTER (a capacity trial's
	// AoRs are left to expire): it waits, bounded by Drain, for the
	// transactions in flight to end, and the NAPs stop where they are.
	LeaveBindings bool
	PerNAP        bool // --sockets per-nap
	// SocketsPerLoop × EventLoops is the number of lanes (socket, wheel,
	// machine) each group's NAPs are spread over. SocketsPerLoop 0 (the
	// default): 1 for UDP, whose one loop thread sends each wake-up's
	// datagrams to a socket with one sendmmsg, the more at a time the
	// cheaper (GSO); 4 for TCP, TLS and WebSocket connections.
	SocketsPerLoop int
	EventLoops     int // gnet event loops for TCP (default 1)
	// Tick: the UDP loop wakes at most once per Tick and handles what came
	// meanwhile in one batch (0: on every datagram).
	Tick time.Duration
	// NoGSO: UDP batches go one datagram per message even where the
	// kernel could send datagrams of one size as one segmented message.
	NoGSO bool
	// TLS is the client configuration of tls and wss connections (roots,
	// client certificate, versions); the SNI is each target's host. nil:
	// the system's roots.
	TLS *tls.Config
	// NoResume makes every TLS handshake a full one; by default a NAP that
	// reconnects resumes its session (a shared connection, the lane's).
	NoResume bool
	// WSPath is the path of the WebSocket URI (default "/").
	WSPath string
	// Keepalive pings each registered NAP's next hop every
	// KeepaliveInterval (keepalive.go).
	Keepalive         nap.KeepaliveKind
	KeepaliveInterval time.Duration
	// ShardK, ShardN: --shard k/N, run only NAPs with index ≡ k (mod N) in
	// each group. The rates (Rate, a group's, Churn's) stay the whole
	// run's: shard k starts the group's NAP k+jN when one process running
	// every NAP would, at (k+jN)/rate, so that N shards started together
	// ramp as one process.
	ShardK int
	ShardN int
	// StartAt, when set, is the wall time the load begins: Start makes the
	// sockets, then waits for it, so that processes given the same StartAt
	// (the shards of a distributed run) begin their ramps together. A time
	// past begins at once; a stop (ctx) during the wait ends it, and the
	// run ends before sending anything. With a simulated Clock it is
	// still wall time.
	StartAt time.Time
	RunID   uint32 // makes Call-IDs and tags unique per run (0: random)

	// Observers get a Snapshot every SnapshotEvery (default 1 s) and a
	// final one.
	Observers     []Observer
	SnapshotEvery time.Duration
	// Trace, when set, gets every message on the wire and every
	// transaction's end (--trace, --pcap); nil costs nothing.
	Trace trace.Sink
	// Clock, Network and the host's CPU reading are the real ones unless
	// a test gives others.
	Clock      scheduler.Clock
	NewNetwork func(Receiver) (Network, error)
	HostCPU    func() metrics.CPUTimes
	// Logf gets the network library's errors (nil: dropped): the engine
	// writes nowhere of its own accord.
	Logf func(format string, args ...any)
}

// Result is what a run measured.
type Result struct {
	Summary  *metrics.Summary
	Totals   *metrics.Totals
	Groups   map[string]*metrics.Totals // each group's, by name
	InFlight int64                      // transactions still open when the run ended
	Started  int64                      // NAPs the ramp started (a capacity trial's attempts)
}

// phase is where the run is.
type phase uint8

const (
	phaseLoad phase = iota
	phaseDrain
	phaseDone
)

// Engine is one run in progress.
type Engine struct {
	o     Options
	clock scheduler.Clock
	net   Network
	salt  uint64

	// Owned by the loop (step); read by Wait once the run is done.
	groups   []*groupRun
	byName   map[string]*groupRun
	lanes    []*lane // appended under lanesMu (Census reads it from any goroutine)
	lanesMu  sync.Mutex
	lanesN   uint32 // lanes made so far: each gets its own salt
	phase    phase
	start    time.Duration
	loadEnd  time.Duration // 0: none
	drainEnd time.Duration
	drainAt  time.Duration // the drain's last scan for NAPs still busy
	started  int64         // NAPs started (the ramp's and the window's), for Result
	meant    int           // NAPs meant to be registered (loop-owned)

	// The run's parts, each owning its state (and its file): what the run
	// was at the end of its load (result.go), the generator's self-check
	// (result.go), reloads (reload.go), reboots (reboot.go), churn
	// (churn.go), stages (stages.go), snapshots and the timeline
	// (snapshot.go), the DNS refreshes (resolve.go).
	atEnd
	rampCheck
	reloadState
	rebootState
	churnSt churnState
	stageState
	observing
	dns       dnsCounts
	refreshes refreshState // a capacity search's refresh trials (refresh.go)

	window     atomic.Int64 // paced starts and stops in flight
	registered atomic.Int64 // NAPs registered now, all groups
	sleepUntil atomic.Int64 // when the loop sleeps until; 0 while it is awake
	stopReq    atomic.Bool
	closing    atomic.Bool
	draining   chan struct{}                // closed when the load ends
	ctrlQ      chan func(now time.Duration) // work for the loop: reloads, reboots, targets, stages (onLoop)
	done       chan struct{}
	startedAt  time.Time
}

// groupRun is a group as the run knows it: its NAPs registering at one
// place (the live cohort), and the cohorts it moved away from.
type groupRun struct {
	name    string
	serial  uint32
	cohorts []*cohort // the live one last
	removed bool
}

func (g *groupRun) live() *cohort { return g.cohorts[len(g.cohorts)-1] }

// cohort is a group's NAPs registering at one place, as one identity, over
// one transport. A group whose target, AOR, transport or local address
// changes gets a new cohort; the old one un-REGISTERs its NAPs.
type cohort struct {
	e     *Engine
	g     *groupRun
	spec  Group
	lanes []*lane
	pred  *cohort    // the cohort this one replaced: NAP c starts after its un-REGISTER is sent
	ts    *targetSet // several targets (RFC 3263); nil: spec.Target only
	mine  int        // NAPs of the group this process runs
	want  int        // NAPs that should be registering now: [0, want)
	size  int        // NAP slots made so far
	// Ramp: NAPs [0, started) have been started; paced ones from
	// rampBase at rate, beginning at rampBegin.
	started   int
	rate      float64
	rampBegin time.Duration
	rampBase  int
	// Stops: NAPs [stopAt, stopTo) at or above want are still to stop;
	// stopN of them were stopped since stopBegin (-1: a new set, paced
	// from the next step); those below heldTo that held a window slot
	// were stopped ahead of their turn (stopHolders).
	stopAt, stopTo int
	stopN          int
	stopBegin      time.Duration
	stopRate       float64 // the pace of the current set (0: the window's)
	heldTo         int
}

// groupIndex is NAP (lane l, local i)'s index in its group: with --shard
// k/N this process runs the group's NAPs k, k+N, k+2N …
func (co *cohort) groupIndex(l, i uint32) uint64 {
	c := uint64(i)*uint64(len(co.lanes)) + uint64(l)
	return uint64(co.e.o.ShardK) + uint64(co.e.o.ShardN)*c
}

// Run performs the load and returns its measurements.
func Run(ctx context.Context, o Options) (*Result, error) {
	e, err := Start(ctx, o)
	if err != nil {
		return nil, err
	}
	return e.Wait()
}

// defaults fills what the options leave unset.
func (o *Options) defaults() {
	if o.HostCPU == nil {
		o.HostCPU = metrics.ReadCPUTimes
	}
	if o.Window <= 0 {
		o.Window = 1000
	}
	if o.Drain <= 0 {
		o.Drain = 5 * time.Second
	}
	if o.EventLoops <= 0 {
		// One event loop unless told otherwise: measured on 2 cores, a second
		// loop doubles the CPU per transaction at 2 000 REGISTER/s (thread
		// wake-ups per datagram) and adds nothing at 110 000/s (bench/RESULTS.md).
		o.EventLoops = 1
	}
	if o.SocketsPerLoop < 0 {
		o.SocketsPerLoop = 0
	}
	if o.ShardN <= 0 {
		o.ShardN, o.ShardK = 1, 0
	}
	if o.RunID == 0 {
		o.RunID = rand.Uint32()
	}
	if o.SnapshotEvery <= 0 {
		o.SnapshotEvery = time.Second
	}
}

// Start makes the sockets of every group and starts the run; Wait ends
// it. Nothing is sent before the network's loop runs the first step.
func Start(ctx context.Context, o Options) (*Engine, error) {
	o.defaults()
	o.Groups = withDomains(o.Groups)
	if err := validateGroups(o.Groups); err != nil {
		return nil, err
	}
	e := &Engine{o: o, clock: o.Clock, salt: rand.Uint64(), byName: map[string]*groupRun{},
		draining: make(chan struct{}), ctrlQ: make(chan func(time.Duration), 4), done: make(chan struct{}),
		observing: observing{snaps: make(chan *Snapshot, 16), observed: make(chan struct{})}, startedAt: wallNow(o.Clock)}
	if e.clock == nil {
		e.clock = scheduler.NewRealClock()
	}
	var err error
	if o.NewNetwork != nil {
		e.net, err = o.NewNetwork(e)
	} else {
		e.net, err = newNetio(e, o.EventLoops, o.Tick, !o.NoGSO, e.streamOptions(), o.Logf)
	}
	if err != nil {
		return nil, err
	}
	now := e.clock.Now()
	for i := range o.Groups {
		if _, err := e.addGroup(&o.Groups[i], now); err != nil {
			e.net.Stop()
			return nil, err
		}
	}
	go e.observe()
	for i := range o.Groups {
		if o.Groups[i].Resolve != nil && len(o.Groups[i].Targets) > 0 {
			e.watchDNS(&o.Groups[i])
		}
	}
	if !o.StartAt.IsZero() {
		// The sockets are up: wait for the start, then count from it.
		waitUntil(ctx, o.StartAt)
		if ctx.Err() != nil {
			e.stopReq.Store(true) // stopped while waiting: the first step drains, nothing starts
		}
		now = e.clock.Now()
		e.startedAt = time.Now() // the wait was in real time, whatever the clock
		for _, gr := range e.groups {
			for _, co := range gr.cohorts {
				co.rampBegin = now
			}
		}
	}
	e.start = now
	e.cpuAtStart = e.o.HostCPU()
	e.meant = e.meantNow()
	if o.Staged {
		e.beginStage(1, e.meantWhole(), now) // before the ramp: its REGISTERs are the stage's
	}
	e.nextSnap = now + o.SnapshotEvery
	e.lastSnapAt = now
	if o.Duration > 0 {
		e.loadEnd = now + o.Duration
	}
	go func() {
		select {
		case <-ctx.Done():
			e.stopReq.Store(true)
			e.net.Wake()
		case <-e.done:
		}
	}()
	e.net.SetStep(e.step)
	return e, nil
}

// waitUntil sleeps until the wall time at, or until ctx is done. It
// looks at the wall clock again at least once a second: a timer runs on
// the monotonic clock, and a wall clock stepped meanwhile (NTP) would
// otherwise shift the start from the other processes'.
func waitUntil(ctx context.Context, at time.Time) {
	for {
		d := time.Until(at.Round(0)) // at's wall time, not a monotonic reading
		if d <= 0 {
			return
		}
		t := time.NewTimer(min(d, time.Second))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// withDomains defaults each group's AOR domain to its target's host.
func withDomains(gs []Group) []Group {
	out := append([]Group(nil), gs...)
	for i := range out {
		if out[i].Target == "" && len(out[i].Targets) > 0 {
			out[i].Target = out[i].Targets[0].Addr
		}
		if out[i].Identity.Domain != "" {
			continue
		}
		host, _, err := net.SplitHostPort(out[i].Target)
		if err != nil {
			continue
		}
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		out[i].Identity.Domain = host
	}
	return out
}

// addGroup makes a group and its first cohort.
func (e *Engine) addGroup(g *Group, now time.Duration) (*groupRun, error) {
	gr := &groupRun{name: g.Name, serial: uint32(len(e.groups))}
	e.groups = append(e.groups, gr)
	e.byName[g.Name] = gr
	if _, err := e.addCohort(gr, g, nil, now); err != nil {
		return nil, err
	}
	return gr, nil
}

// addCohort makes a cohort for spec with its lanes and shared sockets.
func (e *Engine) addCohort(gr *groupRun, spec *Group, pred *cohort, now time.Duration) (*cohort, error) {
	o := &e.o
	co := &cohort{e: e, g: gr, spec: *spec, pred: pred, mine: mine(spec.NAPs, o.ShardK, o.ShardN), rampBegin: now}
	co.spec.Identity.RunID = o.RunID
	if spec.Register {
		co.want = co.mine
	}
	co.rate = e.rateOf(spec)
	co.ts = newTargetSet(spec)
	nLanes := o.SocketsPerLoop * o.EventLoops
	if o.SocketsPerLoop == 0 {
		nLanes = 4 * o.EventLoops
		if spec.NAP.Transport == sipwire.UDP {
			// One socket per loop: at 5 000 REGISTER/s and --tick 1ms, four
			// sockets got about one datagram each per wake-up, one took five,
			// segmented together (bench/RESULTS.md, issue 17).
			nLanes = o.EventLoops
		}
	}
	for k := 0; k < nLanes; k++ {
		l := &lane{e: e, co: co, idx: uint32(k), id: co.spec.Identity,
			laneTally: laneTally{rec: metrics.NewRecorder()},
			laneSockets: laneSockets{network: spec.NAP.Transport, target: spec.Target, udp: spec.NAP.Transport == sipwire.UDP,
				localIPs: spec.LocalIPs}}
		l.dir = &directory{id: &l.id, group: gr.serial, domain: []byte(co.spec.Identity.Domain), ruri: []byte(co.spec.Identity.RequestURI)}
		if len(l.dir.ruri) == 0 && len(co.spec.Identity.Users) == 0 {
			l.dir.ruri = append([]byte("sip:"), co.spec.Identity.Domain...)
		}
		l.dir.global = func(i uint32) uint64 { return co.groupIndex(l.idx, i) }
		l.dir.local = l.localHostPort
		l.tap = o.Trace
		if ap, err := netip.ParseAddrPort(spec.Target); err == nil {
			l.remote = ap
		}
		m := nap.NewMachine(co.spec.NAP, l.dir)
		m.Salt = e.salt ^ uint64(e.lanesN) // unique per lane, random per run (docs/design.md)
		e.lanesN++
		l.d = nap.NewDriver(m, 0, e.clock, time.Millisecond, l, l)
		l.d.Armed = l.armed
		l.keeper()
		l.ts = co.ts
		l.targetRecorder()
		if o.PerNAP {
			l.conns = []Conn{}
		} else {
			ip := e.localAddr(co.spec.LocalIPs, uint64(k))
			n := 1
			if l.ts != nil && !l.udp {
				n = len(l.ts.addrs) // a connection per target
			}
			for t := 0; t < n; t++ {
				l.sh = append(l.sh, &sharedConn{l: l, t: uint8(t), local: netip.AddrPortFrom(ip, 0)})
			}
			if co.spec.NAP.Transport == sipwire.UDP {
				sc := l.sh[0]
				c, err := e.net.Dial(sipwire.UDP, sc.local, co.spec.Target, sc)
				if err != nil {
					return nil, &ConfigError{Group: gr.name, Field: "target", Msg: err.Error()}
				}
				sc.conn, sc.local = c, c.LocalAddr()
				l.batch = c.NewBatch()
			}
		}
		// Room for the lane's share of the NAPs now, once: growing one NAP
		// at a time during the ramp copied the arrays and doubled the RSS.
		if share := (co.mine - k + nLanes - 1) / nLanes; share > 0 {
			l.grow(share)
		}
		co.lanes = append(co.lanes, l)
		e.lanesMu.Lock()
		e.lanes = append(e.lanes, l)
		e.lanesMu.Unlock()
	}
	gr.cohorts = append(gr.cohorts, co)
	return co, nil
}

// meantNow counts the NAPs meant to be registered.
func (e *Engine) meantNow() (n int) {
	for _, gr := range e.groups {
		if co := gr.live(); !gr.removed && co.spec.Register {
			n += co.mine
		}
	}
	return n
}

// meantWhole counts the NAPs meant to be registered in the whole run,
// every shard's: a stage's population is the step's, the same in every
// shard's summary (as later stages have it), so that a merge can check it.
func (e *Engine) meantWhole() (n int) {
	for _, gr := range e.groups {
		if co := gr.live(); !gr.removed && co.spec.Register {
			n += co.spec.NAPs
		}
	}
	return n
}

// rateOf is a group's ramp rate: its own, or its share of the run's rate
// in proportion to its NAPs among the groups without a rate of their own.
func (e *Engine) rateOf(g *Group) float64 {
	if g.Rate > 0 {
		return g.Rate
	}
	if e.o.Rate <= 0 {
		return 0
	}
	var shared int
	for i := range e.o.Groups {
		if e.o.Groups[i].Rate == 0 && e.o.Groups[i].Register {
			shared += e.o.Groups[i].NAPs
		}
	}
	if shared == 0 || g.NAPs == 0 {
		return e.o.Rate
	}
	return e.o.Rate * float64(g.NAPs) / float64(shared)
}

func (e *Engine) localAddr(pool *netio.AddrPool, index uint64) netip.Addr {
	if pool == nil {
		return netip.Addr{}
	}
	return pool.At(index)
}

// wallNow is the wall time now: a simulated clock's own when it has one
// (scheduler.SimClock with an Epoch), so simulated runs report the same
// wall times every time; else the real one.
func wallNow(c scheduler.Clock) time.Time {
	if w, ok := c.(interface{ Wall() time.Time }); ok {
		if t := w.Wall(); !t.IsZero() {
			return t
		}
	}
	return time.Now()
}

// wallClock is the wall time of the run's clock reading now.
func (e *Engine) wallClock(now time.Duration) time.Time { return e.startedAt.Add(now - e.start) }

// armed: a timer at at was set by a lane; wake the loop if it sleeps past
// it. On the loop's own thread nothing is needed: it recomputes its sleep.
func (e *Engine) armed(at time.Duration, onLoop bool) {
	if onLoop {
		return
	}
	if su := e.sleepUntil.Load(); su == 0 || int64(at) < su {
		e.net.Wake()
	}
}

// OnMessageAt takes a message from the network (Receiver).
func (e *Engine) OnMessageAt(tag any, msg []byte, arrived time.Time, from netip.AddrPort) {
	if e.closing.Load() {
		return
	}
	var l *lane
	switch t := tag.(type) {
	case *sharedConn:
		l = t.l
	case *napTag:
		l = t.l
	default:
		return
	}
	// How long it waited in the socket (--tick): the transaction
	// ended at its arrival, not when it was read.
	var waited time.Duration
	if !arrived.IsZero() {
		waited = min(max(time.Since(arrived), 0), time.Second)
	}
	l.onMessage(tag, msg, waited, l.udp, from)
}

// OnClosed takes a lost stream connection (Receiver).
func (e *Engine) OnClosed(tag any, err error) {
	if e.closing.Load() {
		return
	}
	switch t := tag.(type) {
	case *sharedConn:
		t.l.onClosed(t, err)
	case *napTag:
		t.l.onClosed(t, err)
	}
}

// maxSleep bounds the loop's sleep when nothing is due sooner.
const maxSleep = 100 * time.Millisecond

// step runs on the network's loop after every wake-up: new
// configurations, the phases, the ramp and the stops, every lane's
// timers, the snapshot of the second. It returns how long the loop may
// sleep.
func (e *Engine) step() time.Duration {
	e.sleepUntil.Store(0) // awake: others must wake us for anything new
	now := e.clock.Now()
	if e.phase == phaseDone {
		e.sleepUntil.Store(int64(now + maxSleep))
		return maxSleep
	}
	next := now + maxSleep
	e.control(now)
	if e.phase == phaseLoad && (e.stopReq.Load() || (e.loadEnd > 0 && now >= e.loadEnd)) {
		e.beginDrain(now)
	}
	for _, gr := range e.groups {
		for _, co := range gr.cohorts {
			if due := e.stops(co, now); due > 0 {
				next = min(next, due)
			}
		}
	}
	if e.phase == phaseLoad {
		for _, gr := range e.groups {
			if due := e.ramp(gr.live(), now); due > 0 {
				next = min(next, due)
			}
		}
		if due := e.paceRefreshes(now); due > 0 {
			next = min(next, due)
		}
	}
	for _, l := range e.lanes {
		l.lockOnLoop()
		l.batching = l.batch != nil
		l.d.Advance(now)
		if l.ka != nil {
			l.ka.Advance(now)
			if d, ok := l.ka.Wheel.NextDeadline(); ok {
				next = min(next, d)
			}
		}
		if l.batch != nil {
			l.batch.Flush() // the ramp's and the stops' sends too
		}
		if d, ok := l.d.Wheel.NextDeadline(); ok {
			next = min(next, d)
		}
		l.unlockOnLoop()
	}
	e.followEvent(now)
	if d := e.churn(now); d > 0 {
		next = min(next, d)
	}
	if e.registeredAll == 0 && e.phase == phaseLoad && e.meant > 0 && e.registered.Load() >= int64(e.meant) {
		e.registeredAll = now - e.start
	}
	if e.phase == phaseDrain && e.drained(now) {
		e.finish(now)
		return maxSleep
	}
	if now >= e.nextSnap {
		e.snapshot(now, false)
		e.nextSnap = now + e.o.SnapshotEvery
	}
	next = min(next, e.nextSnap)
	if e.loadEnd > 0 && e.phase == phaseLoad {
		next = min(next, e.loadEnd)
	}
	if e.phase == phaseDrain {
		next = min(next, e.drainEnd, now+10*time.Millisecond)
	}
	e.sleepUntil.Store(int64(next))
	return max(next-now, 0)
}

// beginDrain ends the load phase: every NAP un-REGISTERs.
func (e *Engine) beginDrain(now time.Duration) {
	e.loadTime = now - e.start
	close(e.draining)
	e.closeEvent(now) // what it reached by the end of the load
	e.endStage(now)
	e.registeredAtEnd = map[*groupRun]int64{}
	e.atLoadEnd = metrics.NewCounts()
	for _, gr := range e.groups {
		var reg int64
		for _, co := range gr.cohorts {
			for _, l := range co.lanes {
				l.mu.Lock()
				e.atLoadEnd.AddCounts(l.rec)
				reg += l.rec.Registered
				for t := range l.rec.Targets {
					if e.targetsAtEnd == nil {
						e.targetsAtEnd = map[string]int64{}
					}
					e.targetsAtEnd[l.rec.TargetNames[t]] += l.rec.Targets[t].Registered
				}
				l.mu.Unlock()
			}
		}
		e.registeredAtEnd[gr] = reg
	}
	e.snapshot(now, false) // the load's last second
	e.nextSnap = now + e.o.SnapshotEvery
	proc := metrics.SampleProcess()
	e.process = &proc
	e.generator = e.selfCheck(now)
	e.phase = phaseDrain
	e.drainEnd = now + e.o.Drain
	if e.o.LeaveBindings {
		return // no stops: drained waits for the transactions in flight
	}
	for _, gr := range e.groups {
		for _, co := range gr.cohorts {
			co.stopFrom(0)
		}
	}
}

// drained reports whether the drain is over: every stop issued and no NAP
// busy, or its bound reached. NAPs are scanned at most every 10 ms.
func (e *Engine) drained(now time.Duration) bool {
	if now >= e.drainEnd {
		return true
	}
	for _, gr := range e.groups {
		for _, co := range gr.cohorts {
			if co.stopAt < co.stopTo {
				return false
			}
		}
	}
	if now-e.drainAt < 10*time.Millisecond && e.drainAt != 0 {
		return false
	}
	e.drainAt = now
	for _, l := range e.lanes {
		l.lockOnLoop()
		busy := l.busy()
		if e.o.LeaveBindings {
			busy = l.leave() // each NAP stops once its transaction in flight has ended
		}
		l.unlockOnLoop()
		if busy {
			return false
		}
	}
	return true
}

// finish ends the run: a final snapshot, then Wait returns.
func (e *Engine) finish(now time.Duration) {
	e.closing.Store(true) // late answers change nothing now
	if e.phase == phaseDrain {
		e.drainTime = now - e.start - e.loadTime
	}
	e.phase = phaseDone
	e.snapshot(now, true)
	close(e.snaps)
	close(e.done)
}

// Reload applies a new configuration while the run goes on (the seed's
// "apply a new configuration"): NAPs added start registering, NAPs
// removed or whose group says register false un-REGISTER and stop, a
// changed target, AOR, transport or local address un-REGISTERs at the
// old place and registers at the new one, changed credentials, expires
// and timers take effect at each NAP's next REGISTER. NAPs still
// described keep their Call-ID, CSeq and timers. A configuration that
// does not validate changes nothing.
func (e *Engine) Reload(groups []Group) (Change, error) {
	groups = withDomains(groups)
	if err := validateGroups(groups); err != nil {
		e.RefuseReload(err.Error())
		return Change{}, err
	}
	return onLoop(e, func(now time.Duration) Change { return e.applyReload(groups, now) })
}

// applyReload applies a new configuration on the loop: during the load
// only.
func (e *Engine) applyReload(groups []Group, now time.Duration) Change {
	if e.phase != phaseLoad {
		return Change{Items: []string{"ignored: the run is stopping"}}
	}
	ch := e.apply(groups, now)
	e.reloads.Applied++
	e.reloads.Changes = append(e.reloads.Changes, ch.String())
	e.newChanges = append(e.newChanges, ch.String())
	return ch
}

// RefuseReload counts a new configuration that could not be loaded.
func (e *Engine) RefuseReload(why string) {
	select {
	case e.ctrlQ <- func(time.Duration) {
		e.reloads.Refused++
		e.newChanges = append(e.newChanges, "refused: "+why)
	}:
		e.net.Wake()
	case <-e.done:
	}
}

// StartedAt is when the run started (the stages count from it).
func (e *Engine) StartedAt() time.Time { return e.startedAt }

// Done is closed when the run is over.
func (e *Engine) Done() <-chan struct{} { return e.done }

// Wait waits for the run to end and returns its measurements.
func (e *Engine) Wait() (*Result, error) {
	<-e.done
	<-e.observed
	res := e.result()
	_ = e.net.Stop()
	return res, nil
}
