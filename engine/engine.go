// Package engine runs a load: the lifecycle of a run (start, load, new
// configurations, drain) over a population of NAPs that grows and
// shrinks. Everything that is scheduled (timers, the ramp, the stops, the
// phases, once-a-second snapshots) happens in one tick function that the
// network's loop calls, on one clock: the real one, or a simulated one
// under test. The command line wires the observers (progress, .hlog,
// Prometheus) and turns flags and profiles into Groups.
package engine

import (
	"context"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/nap"
	"github.com/regstorm/regstorm/netio"
	"github.com/regstorm/regstorm/scheduler"
	"github.com/regstorm/regstorm/sipwire"
)

// Options is one load run.
type Options struct {
	// Groups of NAPs. Without any, the fields below make one group named
	// "default" (every NAP alike, registering).
	Groups   []Group
	Target   string
	NAPs     int
	NAP      nap.Config
	Identity Identity
	LocalIPs *netio.AddrPool

	Rate     float64       // ramp: new NAPs per second, shared by the groups without a rate of their own; 0: windowed
	Window   int           // registrations (and un-REGISTERs) started by pacing in flight at most (default 1000)
	Duration time.Duration // load phase; 0: until ctx is cancelled
	Drain    time.Duration // bound on the un-REGISTER phase (default 5 s)
	PerNAP   bool          // --sockets per-nap
	// SocketsPerLoop × EventLoops is the number of lanes (socket, wheel,
	// machine) each group's NAPs are spread over (defaults 4 × 1).
	SocketsPerLoop int
	EventLoops     int // gnet event loops for TCP (default 1)
	// Tick: the UDP loop wakes at most once per Tick and handles what came
	// meanwhile in one batch (0: on every datagram).
	Tick   time.Duration
	ShardK int // --shard k/N: run only NAPs with index ≡ k (mod N) in each group
	ShardN int
	RunID  uint32 // makes Call-IDs and tags unique per run (0: random)

	// Observers get a Snapshot every SnapshotEvery (default 1 s) and a
	// final one.
	Observers     []Observer
	SnapshotEvery time.Duration
	// Clock and Network are the real ones unless a test gives others.
	Clock      scheduler.Clock
	NewNetwork func(Receiver) (Network, error)
	OnStarted  func(target string) // called once the sockets are up (tests)
}

// Result is what a run measured.
type Result struct {
	Summary  *metrics.Summary
	Totals   *metrics.Totals
	InFlight int64 // transactions still open when the run ended
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

	// Owned by the loop (tick); read by Wait once the run is done.
	groups   []*groupRun
	byName   map[string]*groupRun
	lanes    []*lane
	lanesN   uint32 // lanes made so far: each gets its own salt
	phase    phase
	start    time.Duration
	loadEnd  time.Duration // 0: none
	drainEnd time.Duration
	drainAt  time.Duration // the drain's last scan for NAPs still busy
	// At the end of the load phase, for the summary.
	loadTime        time.Duration
	registeredAtEnd map[*groupRun]int64
	process         *metrics.Process // the tester at the end of the load
	nextSnap        time.Duration
	lastReqs        int64
	lastSnapAt      time.Duration
	registeredAll   time.Duration
	reloads         metrics.Reloads
	newChanges      []string

	window     atomic.Int64 // paced starts and stops in flight
	registered atomic.Int64 // NAPs registered now, all groups
	meant      int          // NAPs meant to be registered (loop-owned)
	sleepUntil atomic.Int64 // when the loop sleeps until; 0 while it is awake
	stopReq    atomic.Bool
	closing    atomic.Bool
	reloadQ    chan *reloadReq
	refusedQ   chan string
	done       chan struct{}

	snaps     chan *Snapshot
	observed  chan struct{}
	timeline  []metrics.TimePoint // written by the observer goroutine
	timeMu    sync.Mutex
	startedAt time.Time
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
	pred  *cohort // the cohort this one replaced: NAP c starts after its un-REGISTER is sent
	mine  int     // NAPs of the group this process runs
	want  int     // NAPs that should be registering now: [0, want)
	size  int     // NAP slots made so far
	// Ramp: NAPs [0, started) have been started; paced ones from
	// rampBase at rate, beginning at rampBegin.
	started   int
	rate      float64
	rampBegin time.Duration
	rampBase  int
	// Stops: NAPs [stopAt, stopTo) at or above want are still to stop.
	stopAt, stopTo int
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
	if o.SocketsPerLoop <= 0 {
		o.SocketsPerLoop = 4
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
	if len(o.Groups) == 0 {
		o.Groups = []Group{{Name: "default", NAPs: o.NAPs, Register: true, Target: o.Target, NAP: o.NAP, Identity: o.Identity, LocalIPs: o.LocalIPs}}
	}
}

// Start makes the sockets of every group and starts the run; Wait ends
// it. Nothing is sent before the network's loop runs the first tick.
func Start(ctx context.Context, o Options) (*Engine, error) {
	o.defaults()
	o.Groups = withDomains(o.Groups)
	if err := validateGroups(o.Groups); err != nil {
		return nil, err
	}
	e := &Engine{o: o, clock: o.Clock, salt: rand.Uint64(), byName: map[string]*groupRun{},
		reloadQ: make(chan *reloadReq, 4), refusedQ: make(chan string, 4), done: make(chan struct{}),
		snaps: make(chan *Snapshot, 16), observed: make(chan struct{}), startedAt: time.Now()}
	if e.clock == nil {
		e.clock = scheduler.NewRealClock()
	}
	var err error
	if o.NewNetwork != nil {
		e.net, err = o.NewNetwork(e)
	} else {
		e.net, err = newNetio(e, o.EventLoops, o.Tick)
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
	if o.OnStarted != nil {
		o.OnStarted(o.Groups[0].Target)
	}
	e.start = now
	e.meant = e.meantNow()
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
	e.net.SetTick(e.tick)
	return e, nil
}

// withDomains defaults each group's AOR domain to its target's host.
func withDomains(gs []Group) []Group {
	out := append([]Group(nil), gs...)
	for i := range out {
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
	nLanes := o.SocketsPerLoop * o.EventLoops
	for k := 0; k < nLanes; k++ {
		l := &lane{e: e, co: co, idx: uint32(k), rec: metrics.NewRecorder(), network: spec.NAP.Transport.String(),
			target: spec.Target, udp: spec.NAP.Transport == sipwire.UDP, localIPs: spec.LocalIPs, id: co.spec.Identity}
		l.dir = &directory{id: &l.id, group: gr.serial, domain: []byte(co.spec.Identity.Domain), ruri: []byte(co.spec.Identity.RequestURI)}
		if len(l.dir.ruri) == 0 && len(co.spec.Identity.Users) == 0 {
			l.dir.ruri = append([]byte("sip:"), co.spec.Identity.Domain...)
		}
		l.dir.global = func(i uint32) uint64 { return co.groupIndex(l.idx, i) }
		l.dir.local = l.localHostPort
		m := nap.NewMachine(co.spec.NAP, l.dir)
		m.Salt = e.salt ^ uint64(e.lanesN) // unique per lane, random per run (DESIGN §2)
		e.lanesN++
		l.d = nap.NewDriver(m, 0, e.clock, time.Millisecond, l, l)
		l.d.Armed = l.armed
		if o.PerNAP {
			l.conns = []Conn{}
		} else {
			ip := e.localAddr(co.spec.LocalIPs, uint64(k))
			l.local = netip.AddrPortFrom(ip, 0)
			if co.spec.NAP.Transport == sipwire.UDP {
				c, err := e.net.Dial("udp", l.local, co.spec.Target, l)
				if err != nil {
					return nil, &ConfigError{Group: gr.name, Field: "target", Msg: err.Error()}
				}
				l.conn, l.local = c, c.LocalAddr()
				if b, ok := e.net.(batching); ok {
					l.batch = b.newBatch(c)
				}
			}
		}
		// Room for the lane's share of the NAPs now, once: growing one NAP
		// at a time during the ramp copied the arrays and doubled the RSS.
		if share := (co.mine - k + nLanes - 1) / nLanes; share > 0 {
			l.grow(share)
		}
		co.lanes = append(co.lanes, l)
		e.lanes = append(e.lanes, l)
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
func (e *Engine) OnMessageAt(tag any, msg []byte, arrived time.Time) {
	if e.closing.Load() {
		return
	}
	var l *lane
	switch t := tag.(type) {
	case *lane:
		l = t
	case *napTag:
		l = t.l
	default:
		return
	}
	// How long it waited in the socket (the loop's tick): the transaction
	// ended at its arrival, not when it was read.
	var waited time.Duration
	if !arrived.IsZero() {
		waited = min(max(time.Since(arrived), 0), time.Second)
	}
	l.onMessage(msg, waited, l.udp)
}

// OnClosed takes a lost stream connection (Receiver).
func (e *Engine) OnClosed(tag any, err error) {
	if e.closing.Load() {
		return
	}
	switch t := tag.(type) {
	case *lane:
		t.onClosed(t)
	case *napTag:
		t.l.onClosed(t)
	}
}

// maxSleep bounds the loop's sleep when nothing is due sooner.
const maxSleep = 100 * time.Millisecond

// tick runs on the network's loop after every wake-up: new
// configurations, the phases, the ramp and the stops, every lane's
// timers, the snapshot of the second. It returns how long the loop may
// sleep.
func (e *Engine) tick() time.Duration {
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
			e.stops(co)
		}
	}
	if e.phase == phaseLoad {
		for _, gr := range e.groups {
			if due := e.ramp(gr.live(), now); due > 0 {
				next = min(next, due)
			}
		}
	}
	for _, l := range e.lanes {
		l.lockOnLoop()
		l.batching = l.batch != nil
		l.d.Advance(now)
		if l.batch != nil {
			l.batch.Flush() // the ramp's and the stops' sends too
		}
		if d, ok := l.d.Wheel.NextDeadline(); ok {
			next = min(next, d)
		}
		l.unlockOnLoop()
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

// control applies new configurations and counts refused ones.
func (e *Engine) control(now time.Duration) {
	for {
		select {
		case req := <-e.reloadQ:
			var ch Change
			if e.phase == phaseLoad {
				ch = e.apply(req.groups, now)
				e.reloads.Applied++
				e.reloads.Changes = append(e.reloads.Changes, ch.String())
				e.newChanges = append(e.newChanges, ch.String())
			} else {
				ch.Items = []string{"ignored: the run is stopping"}
			}
			req.reply <- ch
		case why := <-e.refusedQ:
			e.reloads.Refused++
			e.newChanges = append(e.newChanges, "refused: "+why)
		default:
			return
		}
	}
}

// ramp starts a cohort's NAPs that are due: paced at its rate, or as the
// window has room. It returns when the next paced start is due (0: none,
// or when the window frees).
func (e *Engine) ramp(co *cohort, now time.Duration) time.Duration {
	for co.started < co.want {
		c := co.started
		if p := co.pred; p != nil && c < p.size && p.stopAt <= c {
			return 0 // its un-REGISTER at the old place is not sent yet
		}
		var due time.Duration
		paced := co.rate > 0
		if paced {
			if due = pacedStart(co.rampBegin, c-co.rampBase, co.rate); due > now {
				return due
			}
		} else if e.window.Load() >= int64(e.o.Window) {
			return 0
		}
		e.startNAP(co, c, paced, due)
		co.started++
	}
	return 0
}

// startNAP starts cohort NAP c, unless it is running already (a stop that
// a new configuration took back).
func (e *Engine) startNAP(co *cohort, c int, paced bool, due time.Duration) {
	l := co.lanes[c%len(co.lanes)]
	i := uint32(c / len(co.lanes))
	l.lockOnLoop()
	defer l.unlockOnLoop()
	if c >= co.size {
		co.size = c + 1
	}
	l.grow(int(i) + 1)
	if st := l.d.NAPs[i].State; st != nap.Idle && st != nap.Stopped {
		return
	}
	if l.conns != nil && co.spec.NAP.Transport == sipwire.UDP && l.conns[i] == nil {
		c, err := e.net.Dial("udp", netip.AddrPortFrom(e.localAddr(l.localIPs, co.groupIndex(l.idx, i)), 0), l.target, &napTag{l: l, i: i})
		if err == nil {
			l.conns[i] = c
		}
	}
	if !l.paced[i] {
		l.paced[i] = true
		e.window.Add(1)
	}
	l.batching = l.batch != nil
	l.d.Start(i, paced, due)
}

// stops un-REGISTERs the cohort's NAPs at or above want that are still to
// stop, as the window has room. It reports whether none is left.
func (e *Engine) stops(co *cohort) bool {
	for co.stopAt < co.stopTo {
		c := co.stopAt
		if c < co.want {
			co.stopAt++ // wanted again meanwhile: it keeps running
			continue
		}
		if e.window.Load() >= int64(e.o.Window) {
			return false
		}
		l := co.lanes[c%len(co.lanes)]
		i := uint32(c / len(co.lanes))
		l.lockOnLoop()
		if int(i) < len(l.d.NAPs) {
			if st := l.d.NAPs[i].State; st != nap.Idle && st != nap.Stopped {
				if !l.paced[i] {
					l.paced[i] = true // released when the stop ends (Tally)
					e.window.Add(1)
				}
				l.batching = l.batch != nil
				l.d.Stop(i)
			}
		}
		l.unlockOnLoop()
		co.stopAt++
	}
	return true
}

// stopFrom sets a cohort to un-REGISTER its NAPs from c on.
func (co *cohort) stopFrom(c int) {
	co.want = min(co.want, c)
	co.started = min(co.started, c)
	co.stopAt = min(co.stopAt, c)
	if co.stopTo <= co.stopAt {
		co.stopAt = c
	}
	co.stopTo = max(co.stopTo, co.size)
}

// beginDrain ends the load phase: every NAP un-REGISTERs.
func (e *Engine) beginDrain(now time.Duration) {
	e.loadTime = now - e.start
	e.registeredAtEnd = map[*groupRun]int64{}
	for _, gr := range e.groups {
		var reg int64
		for _, co := range gr.cohorts {
			for _, l := range co.lanes {
				l.mu.Lock()
				reg += l.rec.Registered
				l.mu.Unlock()
			}
		}
		e.registeredAtEnd[gr] = reg
	}
	e.snapshot(now, false) // the load's last second
	proc := metrics.SampleProcess()
	e.process = &proc
	e.phase = phaseDrain
	e.drainEnd = now + e.o.Drain
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
	req := &reloadReq{groups: groups, reply: make(chan Change, 1)}
	select {
	case e.reloadQ <- req:
	case <-e.done:
		return Change{}, errStopping
	}
	e.net.Wake()
	select {
	case ch := <-req.reply:
		return ch, nil
	case <-e.done:
		return Change{}, errStopping
	}
}

// RefuseReload counts a new configuration that could not be loaded.
func (e *Engine) RefuseReload(why string) {
	select {
	case e.refusedQ <- why:
		e.net.Wake()
	case <-e.done:
	}
}

var errStopping = &ConfigError{Field: "reload", Msg: "the run is stopping"}

// Groups are the groups' names, in order.
func (e *Engine) Groups() []string {
	var out []string
	for _, g := range e.o.Groups {
		out = append(out, g.Name)
	}
	return out
}

// Wait waits for the run to end and returns its measurements.
func (e *Engine) Wait() (*Result, error) {
	<-e.done
	<-e.observed
	res := e.result()
	_ = e.net.Stop()
	return res, nil
}

// totals merges every lane of a group (or of all, gr nil).
func (e *Engine) totals(gr *groupRun) (t *metrics.Totals, inFlight int64) {
	t = metrics.NewTotals()
	for _, g := range e.groups {
		if gr != nil && g != gr {
			continue
		}
		for _, co := range g.cohorts {
			for _, l := range co.lanes {
				l.mu.Lock()
				t.Add(l.rec)
				inFlight += l.inFlight()
				l.mu.Unlock()
			}
		}
	}
	return t, inFlight
}

// result builds the summary once the run is done.
func (e *Engine) result() *Result {
	t, inFlight := e.totals(nil)
	var meant int
	var registered int64
	sum := &metrics.Summary{}
	groups := map[string]*metrics.GroupSummary{}
	for _, gr := range e.groups {
		gt, gin := e.totals(gr)
		co := gr.live()
		naps := co.mine
		register := co.spec.Register && !gr.removed
		if register {
			meant += naps
		}
		if gr.removed {
			naps = 0
		}
		registered += e.registeredAtEnd[gr]
		gs := metrics.NewGroupSummary(gt, naps, register, e.registeredAtEnd[gr], gin)
		gs.Removed = gr.removed
		groups[gr.name] = gs
	}
	transport := e.o.Groups[0].NAP.Transport.String()
	*sum = *metrics.NewSummary(t, meant, transport, registered, e.loadTime.Seconds())
	sum.Groups = groups
	sum.Process = e.process
	sum.Reloads = e.reloads
	inf := inFlight
	sum.InFlight = &inf
	sum.FailureExamples = e.failureExamples()
	if e.registeredAll > 0 {
		v := e.registeredAll.Seconds()
		sum.TimeToAllRegisterS = &v
	}
	e.timeMu.Lock()
	sum.Timeline = e.timeline
	e.timeMu.Unlock()
	return &Result{Summary: sum, Totals: t, InFlight: inFlight}
}

// failureExamples names, for each kind of failure, the user of one NAP it
// happened to (nil when nothing failed).
func (e *Engine) failureExamples() map[string]string {
	var out map[string]string
	var reg sipwire.Register
	for _, l := range e.lanes {
		l.mu.Lock()
		for key, i := range l.examples {
			name := strconv.Itoa(key)
			switch key {
			case exampleTimeout:
				name = "timeout"
			case exampleConnect:
				name = "connect-failed"
			}
			if _, ok := out[name]; ok {
				continue
			}
			if out == nil {
				out = map[string]string{}
			}
			l.dir.Identity(i, &reg)
			out[name] = string(reg.User)
		}
		l.mu.Unlock()
	}
	return out
}

// Snapshot is the run at one moment, for observers.
type Snapshot struct {
	Elapsed time.Duration // since the start
	Final   bool          // after the drain: the last one
	Drain   bool          // the load is over, NAPs are un-registering
	NAPs    int           // NAPs meant to be registered
	// Totals of the run; their histograms are nil unless an observer
	// needs them (NeedHistograms).
	Totals *metrics.Totals
	Groups []GroupSnapshot
	// Interval holds the transactions since the previous snapshot (the
	// .hlog's interval); nil unless an observer needs it (NeedInterval).
	Interval         *hdrhistogram.Histogram
	IntervalFrom, At time.Time
	Rate             float64  // REGISTER/s since the previous snapshot
	Reloads          []string // configurations applied or refused since the previous snapshot
}

// GroupSnapshot is one group's share of a snapshot.
type GroupSnapshot struct {
	Name     string
	NAPs     int // meant to be registered
	Register bool
	Removed  bool
	Totals   *metrics.Totals
}

// Observer gets the snapshots of a run, in order, on a goroutine of its
// own (never the loop).
type Observer interface {
	Observe(s *Snapshot)
}

// Needs says what of a snapshot an observer reads. Merging histograms
// costs (each is 190 KB): a snapshot carries them only when an observer
// asks. An Observer without a Needs method gets everything.
type Needs uint8

const (
	NeedHistograms Needs = 1 << iota // Totals' histograms (run and groups)
	NeedInterval                     // Interval
)

type needer interface{ Needs() Needs }

// needs is what the observers read, together.
func (e *Engine) needs() Needs {
	var n Needs
	for _, o := range e.o.Observers {
		if nd, ok := o.(needer); ok {
			n |= nd.Needs()
		} else {
			n |= NeedHistograms | NeedInterval
		}
	}
	return n
}

// snapshot merges the lanes into a Snapshot for the observers.
func (e *Engine) snapshot(now time.Duration, final bool) {
	needs := e.needs()
	hist := needs&NeedHistograms != 0
	newTotals := metrics.NewCounts
	if hist {
		newTotals = metrics.NewTotals
	}
	s := &Snapshot{Elapsed: now - e.start, Final: final, Drain: e.phase != phaseLoad || final,
		At: e.startedAt.Add(now - e.start), IntervalFrom: e.startedAt.Add(e.lastSnapAt - e.start), Reloads: e.newChanges}
	if needs&NeedInterval != 0 {
		s.Interval = metrics.NewHistogram()
	}
	e.newChanges = nil
	for _, gr := range e.groups {
		gs := GroupSnapshot{Name: gr.name, Removed: gr.removed, Totals: newTotals()}
		co := gr.live()
		gs.Register = co.spec.Register && !gr.removed
		if gs.Register {
			gs.NAPs = co.mine
			s.NAPs += co.mine
		}
		for _, c := range gr.cohorts {
			for _, l := range c.lanes {
				l.mu.Lock()
				if hist {
					gs.Totals.Add(l.rec)
				} else {
					gs.Totals.AddCounts(l.rec)
				}
				if s.Interval != nil {
					l.rec.TakeInterval(s.Interval)
				}
				l.mu.Unlock()
			}
		}
		s.Groups = append(s.Groups, gs)
	}
	if len(s.Groups) == 1 {
		s.Totals = s.Groups[0].Totals // one group is the run
	} else {
		s.Totals = newTotals()
		for _, gs := range s.Groups {
			if hist {
				s.Totals.AddTotals(gs.Totals)
			} else {
				s.Totals.AddCountsOf(gs.Totals)
			}
		}
	}
	if d := now - e.lastSnapAt; d > 0 {
		s.Rate = float64(s.Totals.Requests-e.lastReqs) / d.Seconds()
	}
	e.lastReqs, e.lastSnapAt = s.Totals.Requests, now
	select {
	case e.snaps <- s:
	default:
		if final {
			e.snaps <- s // the final one is never dropped
		}
	}
}

// observe hands snapshots to the observers and keeps the timeline.
func (e *Engine) observe() {
	defer close(e.observed)
	for s := range e.snaps {
		if !s.Drain {
			e.timeMu.Lock()
			e.timeline = append(e.timeline, metrics.TimePoint{T: s.Elapsed.Seconds(), Registered: s.Totals.Registered,
				Rate: s.Rate, Process: metrics.SampleProcess()})
			e.timeMu.Unlock()
		}
		for _, o := range e.o.Observers {
			o.Observe(s)
		}
	}
}
