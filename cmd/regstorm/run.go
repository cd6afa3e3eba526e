package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/nap"
	"github.com/regstorm/regstorm/profiles"
	"github.com/regstorm/regstorm/registrar"
	"github.com/regstorm/regstorm/report"
	"github.com/regstorm/regstorm/runspec"
	"github.com/regstorm/regstorm/trace"
)

func runFlags() []cli.Flag {
	d := nap.DefaultConfig()
	flags := []cli.Flag{
		&cli.StringFlag{Name: "target", Usage: "registrar, proxy or SBC as sip:host[:port][;transport=udp|tcp|tls|ws|wss] or sips:host[:port] (default: the embedded registrar on 127.0.0.1)", EnvVars: env("target")},
		&cli.StringFlag{Name: "transport", Value: "udp", Usage: "udp, tcp, tls, ws or wss", EnvVars: env("transport")},
		&cli.StringFlag{Name: "dns-server", Usage: "resolve --target and --proxy names with this DNS server, `host:port` (default: the system's, /etc/resolv.conf and /etc/hosts)", EnvVars: env("dns-server")},
		&cli.DurationFlag{Name: "initial-delay", Usage: "spread the first REGISTERs: each NAP waits its own random delay in [0, D) once the ramp starts it (as Asterisk's max_random_initial_delay)", EnvVars: env("initial-delay")},
		&cli.GenericFlag{Name: "expires-jitter", Value: seconds(0), Usage: "each NAP asks for --expires less its own random 0..S seconds (or a duration, e.g. 5m), so that NAPs registered together refresh apart", EnvVars: env("expires-jitter")},
		&cli.StringFlag{Name: "reboot-at", Usage: "reboot --reboot-fraction of the NAPs this long after the start, or at each of a list of times in order, e.g. 5m,7m30s (SIGUSR2 reboots them too): they lose their state and register from scratch at once, without un-REGISTERing", EnvVars: env("reboot-at")},
		&cli.Float64Flag{Name: "reboot-fraction", Value: 1, Usage: "the share of the NAPs a reboot takes, chosen evenly, 0 < F <= 1", EnvVars: env("reboot-fraction")},
		&cli.StringFlag{Name: "reboot-group", Usage: "a reboot takes NAPs of this group only (default: every group)", EnvVars: env("reboot-group")},
		&cli.Float64Flag{Name: "churn-rate", Usage: "NAPs going offline per second, each registered NAP in turn; back after --churn-offline, registering from scratch", EnvVars: env("churn-rate")},
		&cli.DurationFlag{Name: "churn-offline", Value: time.Minute, Usage: "how long a churned NAP stays offline", EnvVars: env("churn-offline")},
		&cli.BoolFlag{Name: "churn-silent", Usage: "churned NAPs vanish without un-REGISTERing (their bindings are left to expire)", EnvVars: env("churn-silent")},
		&cli.StringFlag{Name: "stages", Usage: "steps of the population, duration:naps[:rate] each, e.g. 30s:1000:200,1m:5000,30s:500: NAPs added register, NAPs taken away un-REGISTER (the run lasts their total unless --duration)", EnvVars: env("stages")},
		&cli.StringFlag{Name: "keepalive", Usage: "ping each registered NAP's next hop: crlf (RFC 5626 double-CRLF pings on tcp/tls; WebSocket pings on ws/wss) or options (OPTIONS requests, any transport); an unanswered ping drops the flow", EnvVars: env("keepalive")},
		&cli.DurationFlag{Name: "keepalive-interval", Value: 30 * time.Second, Usage: "time between a NAP's keep-alive pings", EnvVars: env("keepalive-interval")},
		&cli.StringFlag{Name: "proxy", Usage: "send through this outbound proxy, sip:host[:port][;transport=…] (a Route with ;lr); --target then names the registrar's domain, which is not contacted", EnvVars: env("proxy")},
		&cli.IntFlag{Name: "naps", Value: 1000, Usage: "number of simulated NAPs", EnvVars: env("naps")},
		&cli.Float64Flag{Name: "rate", Usage: "new NAPs per second during ramp-up (0: as fast as the target answers, at most --window registrations in flight)", EnvVars: env("rate")},
		&cli.IntFlag{Name: "window", Value: 1000, Usage: "with --rate 0: first registrations in flight at most", EnvVars: env("window")},
		&cli.DurationFlag{Name: "duration", Usage: "load phase length, then un-REGISTER and exit (0: until Ctrl-C)", EnvVars: env("duration")},
		&cli.GenericFlag{Name: "expires", Value: seconds(int64(d.Expires)), Usage: "requested registration interval (Contact ;expires=), seconds or a duration, e.g. 3600 or 1h", EnvVars: env("expires")},
		&cli.StringFlag{Name: "users", Usage: "users from a SIPp -inf CSV `FILE`: SEQUENTIAL|RANDOM, then user;domain;password lines", EnvVars: env("users")},
		&cli.StringFlag{Name: "user-pattern", Value: "nap%06d", Usage: "user name of NAP i (%d or %0Nd: the number i+user-start; %% a literal %)", EnvVars: env("user-pattern")},
		&cli.BoolFlag{Name: "shared-aor", Usage: "let several NAPs register one AoR on purpose (a --user-pattern without %d, a --users file shorter than --naps), each with its own contact: --sockets per-nap, the default then", EnvVars: env("shared-aor")},
		&cli.IntFlag{Name: "user-start", Value: 1, Usage: "number of the first NAP's user", EnvVars: env("user-start")},
		&cli.StringFlag{Name: "password", Value: "secret", Usage: "password; %d or %0Nd is the NAP's number, and a literal % is written %% (100% as 100%%)", EnvVars: env("password")},
		&cli.StringFlag{Name: "domain", Usage: "AOR domain: a host name, IPv4 or [IPv6] address (default: the target's host, as written)", EnvVars: env("domain")},
		&cli.StringFlag{Name: "digest-choice", Value: "first", Usage: "among several challenges in one 401/407: first (the topmost supported, RFC 8760) or strongest (SHA-256 over MD5)", EnvVars: env("digest-choice")},
		&cli.DurationFlag{Name: "t1", Value: d.T1, Usage: "RFC 3261 T1: first UDP retransmission", EnvVars: env("t1")},
		&cli.DurationFlag{Name: "t2", Value: d.T2, Usage: "RFC 3261 T2: retransmission interval cap", EnvVars: env("t2")},
		&cli.DurationFlag{Name: "timer-f", Value: d.TimerF, Usage: "transaction timeout (64*T1)", EnvVars: env("timer-f")},
		&cli.DurationFlag{Name: "retry", Value: d.Retry, Usage: "wait after a refusal, timeout or failed connect", EnvVars: env("retry")},
		&cli.DurationFlag{Name: "drain", Value: 5 * time.Second, Usage: "bound on the un-REGISTER phase at stop", EnvVars: env("drain")},
		&cli.StringFlag{Name: "sockets", Value: "shared", Usage: "shared (NAPs multiplexed on a few sockets) or per-nap (one local port per NAP)", EnvVars: env("sockets")},
		&cli.IntFlag{Name: "event-loops", Value: 1, Usage: "TCP event loops (gnet), and lanes = sockets-per-loop × event-loops for any transport; more than 1 only pays on many cores (see bench/RESULTS.md)", EnvVars: env("event-loops")},
		&cli.DurationFlag{Name: "tick", Value: time.Millisecond, Usage: "UDP: wake at most once per tick and batch what came meanwhile (0: wake on every datagram); latency still counts from the kernel's arrival time", EnvVars: env("tick")},
		&cli.BoolFlag{Name: "udp-gso", Value: true, Usage: "UDP: send a batch's datagrams of one size as one segmented message (UDP GSO) where the kernel can; --udp-gso=false: one by one", EnvVars: env("udp-gso")},
		&cli.IntFlag{Name: "sockets-per-loop", Usage: "with --sockets shared: sockets per event loop; 0: 1 for UDP, 4 for TCP, TLS and WebSocket", EnvVars: env("sockets-per-loop")},
		&cli.StringFlag{Name: "local-ip", Usage: "source addresses: a list or CIDR, e.g. 127.0.0.0/16", EnvVars: env("local-ip")},
		&cli.StringFlag{Name: "summary", Usage: "write the JSON summary to `FILE`, or - for stdout", EnvVars: env("summary")},
		&cli.StringFlag{Name: "hlog", Usage: "write an HdrHistogram interval log (1 s intervals, µs) to `FILE`; shards merge with 'regstorm merge'", EnvVars: env("hlog")},
		&cli.StringFlag{Name: "metrics-addr", Usage: "serve Prometheus metrics on `host:port` during the run, e.g. 127.0.0.1:9090", EnvVars: env("metrics-addr")},
		&cli.StringFlag{Name: "fail-on", Usage: "exit 1 when a condition holds, e.g. 'p99>50ms,timeouts>0,registered<100%,rate<5000' (see README)", EnvVars: env("fail-on")},
		&cli.StringFlag{Name: "shard", Usage: "k/N: run only NAPs with index ≡ k (mod N); the rates stay the whole run's (each shard takes 1/N)", EnvVars: env("shard")},
		&cli.StringFlag{Name: "start-at", Usage: "begin the load at `TIME`, RFC 3339 (2026-11-30T12:00:00Z) or Unix seconds: the sockets are made first, then the ramp waits for it, so that shards given the same TIME ramp as one process", EnvVars: env("start-at")},
		&cli.BoolFlag{Name: "quiet", Usage: "no progress output", EnvVars: env("quiet")},
		&cli.StringFlag{Name: "cpuprofile", Usage: "write a Go CPU profile of the run to `FILE` (go tool pprof)", EnvVars: env("cpuprofile")},
		&cli.StringFlag{Name: "profile", Usage: "ready profile name (" + strings.Join(profiles.Names(), ", ") + ") or YAML file; flags and env vars override it", EnvVars: env("profile")},
	}
	return append(append(append(flags, tlsFlags()...), traceFlags()...), captureFlags()...)
}

// runLoad is the run command: the load, from its configuration to its
// summary and exit status.
func runLoad(w world, c *cli.Context, stdout, stderr io.Writer) error {
	if c.Args().Len() > 0 {
		return usagef("unexpected argument %q (see regstorm --help)", c.Args().First())
	}
	// Signals first: from here no catchable signal ends the process
	// without the drain (a stop before the run starts ends it at once).
	hup, usr1, usr2 := make(chan struct{}, 1), make(chan struct{}, 1), make(chan struct{}, 1)
	ctx, stop := w.signals(stderr, hup, usr1, usr2)
	defer stop()
	rc, err := startConfig(ctx, c, stderr)
	if err != nil {
		return err
	}
	traceStderr(rc.opts.Trace, stderr)
	r := &loadRun{w: w, rc: rc, o: rc.opts, stdout: stdout, stderr: stderr, outs: newOutputs(stderr)}
	defer r.close()
	if err := r.startEmbedded(); err != nil {
		return err
	}
	if err := r.openOutputs(); err != nil {
		return err
	}
	e, err := r.start(ctx)
	if err != nil {
		return err
	}
	go reloads(e, hup, rc.typed, rc.profile, r.embedded, stderr)
	go censuses(e, usr1, stderr)
	reboots(w, e, usr2, rc.spec.Reboots, stderr)
	res, err := w.wait(e)
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	return r.finish(res)
}

// startConfig builds the run's configuration from its command line and
// plans it. A resolver that fails or does not answer at start is said,
// and the plan tried again every --retry until it answers or a signal
// ends the wait.
func startConfig(ctx context.Context, c *cli.Context, stderr io.Writer) (*runConfig, error) {
	rc, err := buildConfig(c)
	if err != nil {
		return nil, err
	}
	err = rc.plan()
	for du := (*runspec.DNSUnavailable)(nil); errors.As(err, &du); {
		fmt.Fprintf(stderr, "regstorm: %v; trying again in %v\n", du, du.Retry)
		select {
		case <-ctx.Done():
			return nil, cli.Exit("regstorm: stopped while the target could not be resolved; nothing was started", 1)
		case <-time.After(du.Retry):
		}
		err = rc.plan()
	}
	if err != nil {
		return nil, err
	}
	// At start only: a re-read profile keeps the start time, now past.
	if err := checkStartAt(rc.opts.StartAt, time.Now(), rc.quiet, stderr); err != nil {
		return nil, err
	}
	return rc, nil
}

// loadRun is a run from its start to its summary: what it opened is
// closed at its end, the last opened first.
type loadRun struct {
	w              world
	rc             *runConfig
	o              engine.Options
	stdout, stderr io.Writer
	embedded       embeddedRegistrar
	// The outputs: held in memory until the run has started (begin), then
	// created; one that fails is closed and said, and the run goes on.
	outs   *outputs
	begin  []*outFile
	hl     *metrics.Hlog
	hf, pf *outFile
	undo   []func()
}

func (r *loadRun) close() {
	for i := len(r.undo) - 1; i >= 0; i-- {
		r.undo[i]()
	}
}

// startEmbedded starts the embedded registrar when a group has no target:
// in-process, on free ports, serving every transport (a reload may bring
// a group on another).
func (r *loadRun) startEmbedded() error {
	if !needsEmbedded(r.o.Groups) {
		return nil
	}
	srv, err := r.w.listen(registrar.Config{Logf: logTo(r.stderr, "regstorm: ")})
	if err != nil {
		return cli.Exit(fmt.Sprintf("embedded registrar: %v", err), 1)
	}
	r.undo = append(r.undo, func() { srv.Close() })
	r.embedded = srv
	withTarget(r.o.Groups, srv)
	r.o.TLS = trustEmbedded(r.o.TLS, srv.Certificate())
	if !r.rc.quiet {
		fmt.Fprintf(r.stderr, "regstorm: embedded registrar on %s (tls %s, ws %s, wss %s; certificate sha256 %s)\n",
			srv.AddrOf("udp"), srv.AddrOf("tls"), srv.AddrOf("ws"), srv.AddrOf("wss"), srv.Fingerprint())
	}
	return nil
}

// openOutputs prepares --hlog, the progress, --metrics-addr and
// --cpuprofile.
func (r *loadRun) openOutputs() error {
	rc, o := r.rc, &r.o
	if f := rc.hlog; f != "" {
		r.hf = newOutFile("--hlog", f, r.outs)
		r.undo = append(r.undo, func() { r.hf.Close() })
		var err error
		if r.hl, err = metrics.NewHlog(r.hf, later(o.StartAt, time.Now())); err != nil {
			return cli.Exit(fmt.Sprintf("--hlog: %v", err), 1)
		}
		r.begin = append(r.begin, r.hf)
		o.Observers = append(o.Observers, &hlogObserver{hl: r.hl})
	}
	if !rc.quiet {
		o.Observers = append(o.Observers, &progressObserver{w: r.stderr, tty: isTTY(r.stderr)})
	}
	o.Logf = logTo(r.stderr, "regstorm: ") // the network library's errors
	if a := rc.metricsAddr; a != "" {
		po := &promObserver{}
		var labels map[string]string
		if o.ShardN > 0 { // --shard k/N: the pods of a distributed run apart
			labels = map[string]string{"shard": strconv.Itoa(o.ShardK)}
		}
		stopProm, addr, err := metrics.ServeMetrics(a, po.view, labels)
		if err != nil {
			return cli.Exit(fmt.Sprintf("--metrics-addr %s: %v", a, err), 1)
		}
		r.undo = append(r.undo, stopProm)
		o.Observers = append(o.Observers, po)
		if !rc.quiet {
			fmt.Fprintf(r.stderr, "regstorm: Prometheus metrics on http://%s/metrics\n", addr)
		}
	}
	if f := rc.cpuprofile; f != "" {
		r.pf = newOutFile("--cpuprofile", f, r.outs)
		r.undo = append(r.undo, func() { r.pf.Close() })
		if err := pprof.StartCPUProfile(r.pf); err != nil {
			return cli.Exit(fmt.Sprintf("--cpuprofile: %v", err), 1)
		}
		r.undo = append(r.undo, pprof.StopCPUProfile)
		r.begin = append(r.begin, r.pf)
	}
	return nil
}

// start starts the engine (at the first stage, if any), then creates the
// outputs held so far.
func (r *loadRun) start(ctx context.Context) (*engine.Engine, error) {
	o, stages := r.o, r.rc.spec.Stages
	o.Clock, o.NewNetwork, o.HostCPU = r.w.clock, r.w.newNetwork, r.w.hostCPU
	base := o.Groups // as written: the stages scale it
	if len(stages) > 0 {
		o.Groups = staged(base, stages[0])
		o.Staged = true
		if o.Duration == 0 { // the stages are the run, as k6's are
			for _, st := range stages {
				o.Duration += st.Duration
			}
		}
	}
	e, err := engine.Start(ctx, o)
	if err != nil {
		var ce *engine.ConfigError
		if errors.As(err, &ce) {
			return nil, usagef("%v", err)
		}
		// Input was checked before: what fails now is the run itself.
		return nil, cli.Exit(err.Error(), 1)
	}
	if len(stages) > 0 {
		progress := r.stderr
		if r.rc.quiet {
			progress = io.Discard // --quiet: nothing but errors
		}
		runStages(r.w, e, base, stages, progress, r.stderr)
	}
	for _, f := range r.begin {
		f.begin()
	}
	return e, nil
}

// finish closes the outputs, writes the histograms, the summary and the
// report, and gives the exit status.
func (r *loadRun) finish(res *engine.Result) error {
	rc, o, outs := r.rc, r.o, r.outs
	outs.end()
	if r.pf != nil {
		pprof.StopCPUProfile()
		_ = r.pf.Close() // a failure is in outs
	}
	closeTraces(o.Trace, rc, outs)
	res.Summary.StartAt = o.StartAt.UTC()
	if o.ShardN > 0 {
		res.Summary.Shard = &metrics.ShardInfo{K: o.ShardK, N: o.ShardN}
	}
	if r.hl != nil {
		r.writeHlog(res)
	}
	var crossed []string
	if f := rc.failOn; f != "" {
		th, _ := metrics.ParseThresholds(f) // checked in checkGates
		crossed = metrics.Check(th, res.Summary)
	}
	if f := rc.summary; f != "" {
		var w io.Writer = r.stdout
		var sf *outFile
		if f != "-" {
			sf = newOutFile("--summary", f, outs)
			sf.begin()
			w = sf
		}
		err := res.Summary.WriteJSON(w)
		if sf != nil {
			if cerr := sf.Close(); err == nil {
				err = cerr
			}
		}
		outs.fail("--summary", f, err, true)
	}
	if !rc.quiet {
		_ = report.WriteText(r.stderr, res.Summary) // with the generator's warning, if it did not keep up
	}
	return exitStatus(res.Summary, crossed, outs.list(), r.stderr)
}

// writeHlog ends --hlog: every whole-run histogram, tagged, so that a
// merge of shards is exact; then the summary.
func (r *loadRun) writeHlog(res *engine.Result) {
	end := res.Summary.StartedAt.Add(time.Duration((res.Summary.DurationS + res.Summary.Drain.DurationOrZero()) * float64(time.Second)))
	err := r.hl.Tagged(metrics.RunHistograms(res.Totals, res.Groups, res.Summary), res.Summary.StartedAt, end)
	if err == nil {
		err = r.hl.Summary(res.Summary)
	}
	if cerr := r.hf.Close(); err == nil {
		err = cerr
	}
	r.outs.fail("--hlog", r.rc.hlog, err, true)
}

// closeTraces closes the --trace and --pcap sinks; one that failed is
// recorded in outs (said now, unless the trace said it when it failed).
func closeTraces(s trace.Sink, rc *runConfig, outs *outputs) {
	for _, x := range trace.Sinks(s) {
		switch x := x.(type) {
		case *trace.Text:
			said := rc.traceFile != nil && rc.traceFile.failure() != nil // the trace said it when it failed
			outs.fail("--trace", rc.trace, x.Close(), !said)
		case *trace.Pcap:
			err := x.Close()
			if in := errors.Unwrap(err); in != nil {
				err = in // not "pcap FILE:" again
			}
			outs.fail("--pcap", rc.pcap, err, true)
		case trace.Closer:
			_ = x.Close()
		}
	}
}

// needsEmbedded tells whether a group has no target of its own.
func needsEmbedded(gs []engine.Group) bool {
	for i := range gs {
		if gs[i].Target == "" {
			return true
		}
	}
	return false
}

// withTarget points the groups without a target at the embedded
// registrar's address for their transport.
func withTarget(gs []engine.Group, srv embeddedRegistrar) {
	for i := range gs {
		if gs[i].Target == "" {
			gs[i].Target = srv.AddrOf(gs[i].NAP.Transport.String())
		}
	}
}

// censuses prints, on each SIGUSR1, the NAPs by state and the failures so
// far, on one line.
func censuses(e *engine.Engine, usr1 <-chan struct{}, stderr io.Writer) {
	for range usr1 {
		s := &metrics.Summary{Failures: e.Failures()}
		if s.Failures == nil {
			s.Failures = map[string]*metrics.Failure{}
		}
		tl := ""
		if f := s.Failures["timeout"]; f != nil {
			tl = fmt.Sprintf("; timeouts %d", f.Count)
		}
		fmt.Fprintf(stderr, "regstorm: SIGUSR1: %s%s; %s\n", e.Census(), tl, report.Failures(s))
	}
}

// reloads applies the profile again on each SIGHUP (docs/cli.md, a gateway told to
// "apply a new configuration"): flags and env vars still win over it, as
// at start. A profile that does not load or validate is refused with its
// file and line, and the run goes on unchanged.
func reloads(e *engine.Engine, hup <-chan struct{}, typed runspec.Values, p *profiles.Profile, embedded embeddedRegistrar, stderr io.Writer) {
	for range hup {
		if p == nil || !p.File {
			why := "no --profile file to read again"
			if p != nil {
				why = p.Source + " is a ready profile, not a file"
			}
			fmt.Fprintf(stderr, "regstorm: SIGHUP: %s; nothing changes\n", why)
			continue
		}
		rc, err := buildConfig(typed)
		if err == nil {
			err = rc.plan()
		}
		if err == nil && needsEmbedded(rc.opts.Groups) {
			if embedded == nil {
				err = usagef("--profile %s: a group has no target, and this run has no embedded registrar", p.Source)
			} else {
				withTarget(rc.opts.Groups, embedded)
			}
		}
		if err != nil {
			msg := err.Error()
			if ue, ok := err.(usageError); ok {
				msg = ue.Msg
			}
			fmt.Fprintf(stderr, "regstorm: SIGHUP: new configuration refused, the run goes on unchanged: %s\n", msg)
			e.RefuseReload(msg)
			continue
		}
		if _, err := e.Reload(rc.opts.Groups); err != nil {
			fmt.Fprintf(stderr, "regstorm: SIGHUP: new configuration refused, the run goes on unchanged: %v\n", err)
		}
	}
}

// exitStatus is 1 when a --fail-on condition held, no NAP registered at
// all or an output failed (docs/cli.md), each said on stderr; the run's or
// the merge's.
func exitStatus(s *metrics.Summary, crossed, outputsFailed []string, stderr io.Writer) error {
	for _, line := range crossed {
		fmt.Fprintf(stderr, "regstorm: --fail-on crossed: %s\n", line)
	}
	failed := len(crossed) > 0
	if msg := failedOutputs(outputsFailed); msg != "" {
		fmt.Fprintf(stderr, "regstorm: %s\n", msg)
		failed = true
	}
	if s.NAPs > 0 && s.Registered == 0 {
		fmt.Fprintf(stderr, "regstorm: %s\n", report.NoneRegistered(s))
		failed = true
	}
	if failed {
		return cli.Exit("", 1)
	}
	return nil
}

// Bounds of --start-at around now: further is a mistake (a unit, a date,
// the start time of an earlier run), refused before anything starts.
const (
	startAtAhead = 24 * time.Hour
	startAtPast  = time.Hour
)

// checkStartAt refuses a start time too far from now (exit 2); one a
// little past is said on stderr, and the load begins at once.
func checkStartAt(at, now time.Time, quiet bool, stderr io.Writer) error {
	if at.IsZero() {
		return nil
	}
	stamp := at.UTC().Format(time.RFC3339Nano)
	switch d := at.Sub(now); {
	case d > startAtAhead:
		return usagef("--start-at %s is %v away, more than %v: a unit or a date wrong? (Unix seconds, not milliseconds)", stamp, d.Round(time.Second), startAtAhead)
	case d < -startAtPast:
		return usagef("--start-at %s was %v ago, more than %v: the start time of an earlier run?", stamp, (-d).Round(time.Second), startAtPast)
	case d < 0:
		fmt.Fprintf(stderr, "regstorm: --start-at %s was %v ago: starting now, behind the processes that started on time\n", stamp, (-d).Round(time.Millisecond))
	case !quiet:
		fmt.Fprintf(stderr, "regstorm: --start-at %s: the load begins in %v\n", stamp, d.Round(time.Millisecond))
	}
	return nil
}

// later is the later of two times.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
