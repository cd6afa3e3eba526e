// Package engine runs a load: it spreads NAPs over shards, puts their
// state machines on netio's event loops, ramps them up, stops and drains
// them, and returns the measurements. The CLI only turns flags into
// Options.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/nap"
	"github.com/regstorm/regstorm/netio"
	"github.com/regstorm/regstorm/scheduler"
	"github.com/regstorm/regstorm/sipwire"
)

// Options is one load run.
type Options struct {
	Target     string // host:port of the registrar, proxy or SBC
	NAPs       int
	Rate       float64       // new NAPs per second; 0: windowed (see Window)
	Window     int           // with Rate 0: initial registrations in flight at most (default 1000)
	Duration   time.Duration // load phase; 0: until ctx is cancelled
	Drain      time.Duration // bound on the un-REGISTER phase (default 5 s)
	NAP        nap.Config
	Identity   Identity
	PerNAP     bool            // --sockets per-nap
	LocalIPs   *netio.AddrPool // nil: the address the target is reached from
	Progress   io.Writer       // live progress, once a second; nil: none
	TTY        bool            // progress rewrites one line
	Sockets    int             // shared sockets per event loop (default 4)
	EventLoops int             // gnet event loops (default 1)
	// Tick: the UDP loop wakes at most once per Tick and handles what came
	// meanwhile in one batch (0: on every datagram). See netio.SetQuantum.
	Tick       time.Duration
	Thresholds []metrics.Threshold // --fail-on
	ShardK     int                 // --shard k/N: run only NAPs with index ≡ k (mod N)
	ShardN     int
	OnStarted  func(target string) // called once the sockets are up (tests)
	Hlog       io.Writer           // HdrHistogram interval log, one interval a second; nil: none
	// MetricsAddr serves Prometheus metrics (/metrics) during the run; "" for
	// none. The address is the user's: 127.0.0.1:9090 stays on loopback.
	MetricsAddr string
}

// Result is what a run measured.
type Result struct {
	Summary *metrics.Summary
	Totals  *metrics.Totals
	// RegisteredAll is when every NAP was registered at once for the first
	// time, from the start of the run (0: never).
	RegisteredAll time.Duration
	InFlight      int64 // transactions still open when the run ended
	// Crossed lists the --fail-on conditions that held, with the values.
	Crossed []string
}

type run struct {
	opts    Options
	clock   scheduler.Clock
	loops   *netio.Loops
	shards  []*shard
	nShards uint32
	window  atomic.Int64
	closing atomic.Bool
	nNAPs   int

	// UDP: one epoll loop thread (netio) runs the ramp and every shard's
	// timers through tickUDP; TCP: a ramp goroutine and a timer goroutine
	// per shard.
	udp           bool
	udpSleepUntil atomic.Int64 // when the UDP loop will wake by itself; 0 while it is awake
	rampMu        sync.Mutex   // held by whoever runs a ramp step
	rampOn        atomic.Bool  // the UDP loop still ramps
	rampBegin     time.Duration
	rampStarted   int

	hlog     *metrics.Hlog
	hlogFrom time.Time
	timeline []metrics.TimePoint // one point a second, written by progress only
}

// OnMessage takes a TCP message, handled as it is read.
func (r *run) OnMessage(tag any, msg []byte) { r.OnMessageAt(tag, msg, time.Time{}) }

// OnMessageAt takes a UDP datagram with the kernel's arrival time (zero:
// unknown, count it as arriving now).
func (r *run) OnMessageAt(tag any, msg []byte, arrived time.Time) {
	var s *shard
	switch t := tag.(type) {
	case *shard:
		s = t
	case *perNAP:
		s = t.s
	default:
		return
	}
	// How long it waited in the socket (the UDP loop's quantum): the
	// transaction ended at its arrival, not when we read it.
	var waited time.Duration
	if !arrived.IsZero() {
		waited = min(max(time.Since(arrived), 0), time.Second)
	}
	s.onMessageWaited(msg, waited)
}

func (r *run) OnClosed(tag any, err error) {
	switch t := tag.(type) {
	case *shard:
		t.onClosed(t)
	case *perNAP:
		t.s.onClosed(t)
	}
}

func (r *run) localAddr(global uint64) netip.Addr {
	if r.opts.LocalIPs == nil {
		return netip.Addr{}
	}
	return r.opts.LocalIPs.At(global)
}

// Run performs the load and returns its measurements.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.NAPs <= 0 {
		return nil, errors.New("engine: NAPs must be positive")
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
	if o.Sockets <= 0 {
		o.Sockets = 4
	}
	if o.ShardN <= 0 {
		o.ShardN, o.ShardK = 1, 0
	}
	network := "udp"
	if o.NAP.Transport == sipwire.TCP {
		network = "tcp"
	}
	host, _, err := net.SplitHostPort(o.Target)
	if err != nil {
		return nil, fmt.Errorf("engine: target %q: %v", o.Target, err)
	}
	if o.Identity.Domain == "" {
		o.Identity.Domain = host
		if strings.Contains(host, ":") {
			o.Identity.Domain = "[" + host + "]"
		}
	}
	if o.Identity.RunID == 0 {
		o.Identity.RunID = rand.Uint32()
	}
	// This process runs NAPs k, k+N, k+2N … of the whole load.
	mine := (o.NAPs - o.ShardK + o.ShardN - 1) / o.ShardN
	if o.PerNAP {
		if err := netio.RaiseFileLimit(uint64(mine) + 256); err != nil {
			return nil, fmt.Errorf("--sockets per-nap with %d NAPs %v", mine, err)
		}
	}
	r := &run{opts: o, clock: scheduler.NewRealClock(), nNAPs: mine}
	// Every branch of this run carries this random value, xor the shard:
	// unique across NAPs, sockets, processes and runs (DESIGN §2).
	salt := rand.Uint64()
	if o.MetricsAddr != "" {
		stop, addr, err := metrics.ServeMetrics(o.MetricsAddr, func() (*metrics.Totals, int) { return r.totals(), mine })
		if err != nil {
			return nil, fmt.Errorf("--metrics-addr %s: %v", o.MetricsAddr, err)
		}
		defer stop()
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "regstorm: Prometheus metrics on http://%s/metrics\n", addr)
		}
	}
	loops, err := netio.Start(r, o.EventLoops)
	if err != nil {
		return nil, err
	}
	r.loops = loops
	defer loops.Stop()
	loops.SetQuantum(o.Tick)

	nShards := o.Sockets * o.EventLoops
	if nShards > mine {
		nShards = mine
	}
	r.nShards = uint32(nShards)
	for k := 0; k < nShards; k++ {
		n := (mine - k + nShards - 1) / nShards
		s := &shard{r: r, id: uint32(k), naps: make([]nap.NAP, n), first: make([]bool, n), lag: make([]uint32, n),
			rec: metrics.NewRecorder(), wake: make(chan struct{}, 1)}
		s.wheel = scheduler.NewWheel(n, time.Millisecond, s.onTimer)
		idn := o.Identity
		s.dir = &directory{id: &idn, shards: uint32(nShards), shard: uint32(k),
			domain: []byte(o.Identity.Domain), ruri: []byte(o.Identity.RequestURI)}
		if len(s.dir.ruri) == 0 && len(o.Identity.Users) == 0 {
			s.dir.ruri = append([]byte("sip:"), o.Identity.Domain...)
		}
		s.dir.shardGlobal = func(local uint32) uint64 { return uint64(o.ShardK) + uint64(o.ShardN)*s.globalOf(local) }
		s.dir.local = s.localHostPort
		s.m = nap.NewMachine(o.NAP, s.dir)
		s.m.Salt = salt ^ uint64(k)
		if o.PerNAP {
			s.conns = make([]*netio.Conn, n)
		} else {
			ip := r.localAddr(uint64(k))
			if network == "udp" {
				c, err := loops.Dial("udp", netip.AddrPortFrom(ip, 0), o.Target, s)
				if err != nil {
					return nil, fmt.Errorf("engine: socket to %s: %v", o.Target, err)
				}
				s.conn, s.local = c, c.Local
				s.batch = netio.NewBatch(c)
			} else {
				s.local = netip.AddrPortFrom(ip, 0)
			}
		}
		r.shards = append(r.shards, s)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	r.udp = network == "udp"
	if !r.udp {
		for _, s := range r.shards {
			wg.Add(1)
			go func() { defer wg.Done(); s.loop(stop) }()
		}
	}
	defer func() { close(stop); wg.Wait() }()
	if o.OnStarted != nil {
		o.OnStarted(o.Target)
	}

	start := r.clock.Now()
	loadCtx := ctx
	if o.Duration > 0 {
		var cancel context.CancelFunc
		loadCtx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	var registeredAll atomic.Int64
	if o.Hlog != nil {
		hl, err := metrics.NewHlog(o.Hlog, time.Now())
		if err != nil {
			return nil, fmt.Errorf("--hlog: %v", err)
		}
		r.hlog, r.hlogFrom = hl, time.Now()
	}
	progressDone := make(chan struct{})
	go r.progress(loadCtx, start, &registeredAll, progressDone)
	r.rampBegin = r.clock.Now()
	if r.udp {
		r.rampOn.Store(true)
		loops.SetTick(r.tickUDP)
		<-loadCtx.Done()
		r.rampOn.Store(false)
		r.rampMu.Lock() // wait out a ramp step in progress: the drain must see every start
		r.rampMu.Unlock()
	} else {
		r.ramp(loadCtx)
	}
	<-loadCtx.Done()
	<-progressDone
	loadTime := r.clock.Now() - start

	registeredAtEnd := r.registered()
	proc := metrics.SampleProcess()
	r.drain()
	r.closing.Store(true)

	t := r.totals()
	var inFlight int64
	for _, s := range r.shards {
		s.rec.Lock()
		for i := range s.naps {
			switch s.naps[i].State {
			case nap.Trying, nap.Proceeding, nap.Unregistering:
				inFlight++
			}
		}
		s.rec.Unlock()
	}
	r.writeInterval() // the drain's interval
	sum := metrics.NewSummary(t, mine, network, registeredAtEnd, loadTime.Seconds())
	ra := time.Duration(registeredAll.Load())
	if ra > 0 {
		v := ra.Seconds()
		sum.TimeToAllRegisterS = &v
	}
	inf := inFlight
	sum.InFlight = &inf
	sum.FailureExamples = r.failureExamples()
	sum.Timeline = r.timeline
	sum.Process = &proc
	res := &Result{Summary: sum, Totals: t, RegisteredAll: ra, InFlight: inFlight}
	if o.Thresholds != nil {
		res.Crossed = metrics.Check(o.Thresholds, sum)
	}
	if r.hlog != nil {
		if err := r.hlog.Summary(sum); err != nil {
			return nil, fmt.Errorf("--hlog: %v", err)
		}
	}
	return res, nil
}

// failureExamples names, for each kind of failure, the user of one NAP it
// happened to (nil when nothing failed).
func (r *run) failureExamples() map[string]string {
	var out map[string]string
	var reg sipwire.Register
	for _, s := range r.shards {
		s.rec.Lock()
		for key, local := range s.examples {
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
			s.dir.Identity(local, &reg)
			out[name] = string(reg.User)
		}
		s.rec.Unlock()
	}
	return out
}

// writeInterval writes the interval since the last one to the .hlog.
func (r *run) writeInterval() {
	if r.hlog == nil {
		return
	}
	recs := make([]*metrics.Recorder, len(r.shards))
	for i, s := range r.shards {
		recs[i] = s.rec
	}
	now := time.Now()
	_ = r.hlog.Interval(metrics.TakeInterval(recs), r.hlogFrom, now)
	r.hlogFrom = now
}

// counters reads requests and the registered gauge, without merging
// histograms.
func (r *run) counters() (requests, registered int64) {
	for _, s := range r.shards {
		s.rec.Lock()
		requests += s.rec.Requests
		registered += s.rec.Registered
		s.rec.Unlock()
	}
	return
}

// registered is the registered gauge, without merging histograms.
func (r *run) registered() int64 {
	_, reg := r.counters()
	return reg
}

func (r *run) totals() *metrics.Totals {
	recs := make([]*metrics.Recorder, len(r.shards))
	for i, s := range r.shards {
		recs[i] = s.rec
	}
	return metrics.Merge(recs)
}

// ramp starts the NAPs: at Rate per second, or, with Rate 0, keeping at
// most Window first registrations in flight (as fast as the target answers,
// never an unbounded burst).
func (r *run) ramp(ctx context.Context) {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		r.rampMu.Lock()
		_, done := r.rampStep()
		r.rampMu.Unlock()
		if done {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// rampStep starts the NAPs that are due: paced, those whose start time
// (begin + i/Rate) has come; windowed, as many as the window has room
// for. It returns when the next start is due (0: when the window frees)
// and whether the ramp is over. rampMu is held.
func (r *run) rampStep() (next time.Duration, done bool) {
	o := r.opts
	target := 0
	if o.Rate > 0 {
		elapsed := (r.clock.Now() - r.rampBegin).Seconds()
		target = min(r.nNAPs, int(o.Rate*elapsed)+1)
	} else {
		target = min(r.nNAPs, r.rampStarted+int(int64(o.Window)-r.window.Load()))
	}
	for r.rampStarted < target {
		started := r.rampStarted
		s := r.shards[started%len(r.shards)]
		local := uint32(started / len(r.shards))
		if s.conns != nil && o.NAP.Transport == sipwire.UDP {
			// Per-nap UDP: the NAP's own socket, dialled outside the lock.
			c, err := r.loops.Dial("udp", netip.AddrPortFrom(r.localAddr(s.globalOf(local)), 0), o.Target, &perNAP{s: s, local: local})
			if err == nil {
				s.lock()
				s.conns[local] = c
				s.unlock()
			}
		}
		s.lock()
		// On the UDP loop, the REGISTERs join the shard's sendmmsg batch,
		// flushed by tickUDP right after this step.
		s.batching = r.udp && s.batch != nil
		s.first[local] = true
		r.window.Add(1)
		now := r.clock.Now()
		if o.Rate > 0 { // paced: NAP number `started` was due at begin + started/Rate
			due := r.rampBegin + time.Duration(float64(started)/o.Rate*float64(time.Second))
			s.scheduled, s.curLag = true, max(now-due, 0)
		}
		s.apply(local, s.m.Start(local, &s.naps[local], now))
		s.batching = false
		s.unlock()
		r.rampStarted++
	}
	if r.rampStarted >= r.nNAPs {
		return 0, true
	}
	if o.Rate > 0 {
		return r.rampBegin + time.Duration(float64(r.rampStarted)/o.Rate*float64(time.Second)), false
	}
	return 0, false
}

// tickUDP runs on the UDP loop's thread after each wake-up (datagrams
// already delivered): it runs a ramp step, fires every shard's due timers
// (sending with sendmmsg) and returns how long the loop may sleep.
func (r *run) tickUDP() time.Duration {
	r.udpSleepUntil.Store(0) // awake: other goroutines must wake us for anything new
	next := r.clock.Now() + 100*time.Millisecond
	if r.rampOn.Load() {
		r.rampMu.Lock()
		if r.rampOn.Load() {
			due, done := r.rampStep()
			if done {
				r.rampOn.Store(false)
			} else if due > 0 {
				next = min(next, due)
			}
		}
		r.rampMu.Unlock()
	}
	for _, s := range r.shards {
		s.lock()
		s.batching = s.batch != nil
		s.wheel.Advance(r.clock.Now())
		if s.batching {
			s.batch.Flush() // the ramp step's REGISTERs too
			s.batching = false
		}
		if d, ok := s.wheel.NextDeadline(); ok {
			next = min(next, d)
		}
		s.unlock()
	}
	r.udpSleepUntil.Store(int64(next))
	return next - r.clock.Now()
}

// drain un-REGISTERs every registered NAP and waits, at most Drain, for
// all of them to finish.
func (r *run) drain() {
	deadline := time.Now().Add(r.opts.Drain)
	// Like the ramp, at most Window un-REGISTERs in flight: a burst of 10^5
	// datagrams would only overflow socket buffers and cost retransmissions.
	for i := 0; time.Now().Before(deadline); i++ {
		progressed := false
		for _, s := range r.shards {
			if i >= len(s.naps) {
				continue
			}
			progressed = true
			for r.window.Load() >= int64(r.opts.Window) && time.Now().Before(deadline) {
				time.Sleep(200 * time.Microsecond)
			}
			s.rec.Lock()
			if st := s.naps[i].State; st != nap.Idle && st != nap.Stopped {
				a := s.m.Stop(uint32(i), &s.naps[i], r.clock.Now())
				if a.Send == nap.SendRequest && !s.first[i] {
					// A first REGISTER in flight holds its window slot
					// already: the un-REGISTER replacing it takes it over.
					s.first[i] = true
					r.window.Add(1)
				}
				s.apply(uint32(i), a)
			}
			s.rec.Unlock()
		}
		if !progressed {
			break
		}
	}
	for time.Now().Before(deadline) {
		busy := false
		for _, s := range r.shards {
			s.rec.Lock()
			for i := range s.naps {
				if st := s.naps[i].State; st != nap.Stopped && st != nap.Idle {
					busy = true
					break
				}
			}
			s.rec.Unlock()
			if busy {
				break
			}
		}
		if !busy {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// progressLine is one line of live progress. Latencies with no sample yet
// read "-", not 0; failures are refusals by code and timeouts (a 401
// answered with credentials is part of a registration, not a failure).
func progressLine(elapsed time.Duration, t *metrics.Totals, naps int, rate float64) string {
	lat := "p50 - p99 -"
	if t.Transaction.TotalCount() > 0 {
		p := metrics.PercentilesOf(t.Transaction)
		lat = fmt.Sprintf("p50 %.2fms p99 %.2fms", p.P50, p.P99)
	}
	var fails []string
	codes := make([]int, 0, len(t.Refusals))
	for code := range t.Refusals {
		codes = append(codes, code)
	}
	sort.Ints(codes)
	for _, code := range codes {
		fails = append(fails, fmt.Sprintf("%d:%d", code, t.Refusals[code]))
	}
	line := fmt.Sprintf("%6.1fs registered %d/%d  REGISTER/s %.0f  %s  retrans %d timeouts %d",
		elapsed.Seconds(), t.Registered, naps, rate, lat, t.Retransmissions, t.Timeouts)
	if len(fails) > 0 {
		line += "  refused " + strings.Join(fails, " ")
	}
	return line
}

// progress prints one line a second: registered/NAPs, REGISTER/s, p50/p99,
// timeouts and failures by code. It also notes when all are registered.
func (r *run) progress(ctx context.Context, start time.Duration, registeredAll *atomic.Int64, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var lastReq int64
	lastPrint := start
	for {
		select {
		case <-ctx.Done():
			if r.opts.Progress != nil && r.opts.TTY {
				fmt.Fprintln(r.opts.Progress)
			}
			return
		case <-tick.C:
		}
		now := r.clock.Now()
		if registeredAll.Load() == 0 && r.registered() >= int64(r.nNAPs) {
			registeredAll.Store(int64(now - start))
		}
		if now-lastPrint < time.Second {
			continue
		}
		r.writeInterval()
		reqs, reg := r.counters()
		r.timeline = append(r.timeline, metrics.TimePoint{T: (now - start).Seconds(), Registered: reg,
			Rate: float64(reqs-lastReq) / (now - lastPrint).Seconds(), Process: metrics.SampleProcess()})
		if r.opts.Progress == nil {
			lastPrint, lastReq = now, reqs
			continue
		}
		t := r.totals() // histograms merged once a second, only to print
		rate := float64(t.Requests-lastReq) / (now - lastPrint).Seconds()
		lastReq, lastPrint = t.Requests, now
		line := progressLine(now-start, t, r.nNAPs, rate)
		if r.opts.TTY {
			fmt.Fprintf(r.opts.Progress, "\r\x1b[K%s", line)
		} else {
			fmt.Fprintln(r.opts.Progress, line)
		}
	}
}
