package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/nap"
	"github.com/regstorm/regstorm/netio"
	"github.com/regstorm/regstorm/profiles"
	"github.com/regstorm/regstorm/registrar"
	"github.com/regstorm/regstorm/report"
	"github.com/regstorm/regstorm/sipwire"
)

func runFlags() []cli.Flag {
	d := nap.DefaultConfig()
	return []cli.Flag{
		&cli.StringFlag{Name: "target", Usage: "registrar, proxy or SBC as sip:host:port (default: the embedded registrar on 127.0.0.1)", EnvVars: env("target")},
		&cli.StringFlag{Name: "transport", Value: "udp", Usage: "udp or tcp", EnvVars: env("transport")},
		&cli.IntFlag{Name: "naps", Value: 1000, Usage: "number of simulated NAPs", EnvVars: env("naps")},
		&cli.Float64Flag{Name: "rate", Usage: "new NAPs per second during ramp-up (0: as fast as the target answers, at most --window registrations in flight)", EnvVars: env("rate")},
		&cli.IntFlag{Name: "window", Value: 1000, Usage: "with --rate 0: first registrations in flight at most", EnvVars: env("window")},
		&cli.DurationFlag{Name: "duration", Usage: "load phase length, then un-REGISTER and exit (0: until Ctrl-C)", EnvVars: env("duration")},
		&cli.IntFlag{Name: "expires", Value: int(d.Expires), Usage: "requested registration interval, seconds (Contact ;expires=)", EnvVars: env("expires")},
		&cli.StringFlag{Name: "users", Usage: "SIPp -inf CSV: SEQUENTIAL|RANDOM, then user;domain;password lines", EnvVars: env("users")},
		&cli.StringFlag{Name: "user-pattern", Value: "nap%06d", Usage: "user name of NAP i (printf %d of i+user-start)", EnvVars: env("user-pattern")},
		&cli.IntFlag{Name: "user-start", Value: 1, Usage: "number of the first NAP's user", EnvVars: env("user-start")},
		&cli.StringFlag{Name: "password", Value: "secret", Usage: "password pattern (may contain %d)", EnvVars: env("password")},
		&cli.StringFlag{Name: "domain", Usage: "AOR domain (default: the target's host)", EnvVars: env("domain")},
		&cli.DurationFlag{Name: "t1", Value: d.T1, Usage: "RFC 3261 T1: first UDP retransmission", EnvVars: env("t1")},
		&cli.DurationFlag{Name: "t2", Value: d.T2, Usage: "RFC 3261 T2: retransmission interval cap", EnvVars: env("t2")},
		&cli.DurationFlag{Name: "timer-f", Value: d.TimerF, Usage: "transaction timeout (64*T1)", EnvVars: env("timer-f")},
		&cli.DurationFlag{Name: "retry", Value: d.Retry, Usage: "wait after a refusal, timeout or failed connect", EnvVars: env("retry")},
		&cli.DurationFlag{Name: "drain", Value: 5 * time.Second, Usage: "bound on the un-REGISTER phase at stop", EnvVars: env("drain")},
		&cli.StringFlag{Name: "sockets", Value: "shared", Usage: "shared (NAPs multiplexed on a few sockets) or per-nap (one local port per NAP)", EnvVars: env("sockets")},
		&cli.IntFlag{Name: "event-loops", Value: 1, Usage: "gnet event loops; more than 1 only pays on many cores (see bench/RESULTS.md)", EnvVars: env("event-loops")},
		&cli.DurationFlag{Name: "tick", Value: time.Millisecond, Usage: "UDP: wake at most once per tick and batch what came meanwhile (0: wake on every datagram); latency still counts from the kernel's arrival time", EnvVars: env("tick")},
		&cli.IntFlag{Name: "sockets-per-loop", Value: 4, Usage: "with --sockets shared: sockets per event loop", EnvVars: env("sockets-per-loop")},
		&cli.StringFlag{Name: "local-ip", Usage: "source addresses: a list or CIDR, e.g. 127.0.0.0/16", EnvVars: env("local-ip")},
		&cli.StringFlag{Name: "summary", Usage: "write the JSON summary to FILE, or - for stdout", EnvVars: env("summary")},
		&cli.StringFlag{Name: "hlog", Usage: "write an HdrHistogram interval log (1 s intervals, µs) to FILE; shards merge with `regstorm merge`", EnvVars: env("hlog")},
		&cli.StringFlag{Name: "metrics-addr", Usage: "serve Prometheus metrics on host:port during the run, e.g. 127.0.0.1:9090", EnvVars: env("metrics-addr")},
		&cli.StringFlag{Name: "fail-on", Usage: "exit 1 when a condition holds, e.g. 'p99>50ms,timeouts>0,registered<100%,rate<5000' (see README)", EnvVars: env("fail-on")},
		&cli.StringFlag{Name: "shard", Usage: "k/N: run only NAPs with index ≡ k (mod N)", EnvVars: env("shard")},
		&cli.BoolFlag{Name: "quiet", Usage: "no progress output", EnvVars: env("quiet")},
		&cli.StringFlag{Name: "cpuprofile", Usage: "write a Go CPU profile of the run to FILE (go tool pprof)", EnvVars: env("cpuprofile")},
		&cli.StringFlag{Name: "profile", Usage: "ready profile name (" + strings.Join(profiles.Names(), ", ") + ") or YAML file; flags and env vars override it", EnvVars: env("profile")},
	}
}

// applyProfile sets every flag the profile names that the command line and
// the environment left unset.
func applyProfile(c *cli.Context) error {
	name := c.String("profile")
	if name == "" {
		return nil
	}
	var known []string
	for _, f := range runFlags() {
		if n := f.Names()[0]; n != "profile" {
			known = append(known, n)
		}
	}
	settings, err := profiles.Load(name, known)
	if err != nil {
		return usagef("--profile: %v", err)
	}
	for _, st := range settings {
		if c.IsSet(st.Key) {
			continue
		}
		if err := c.Set(st.Key, st.Value); err != nil {
			return usagef("--profile %s: line %d: %s: %q is not a valid value", name, st.Line, st.Key, st.Value)
		}
	}
	return nil
}

func registrarFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "listen", Value: "127.0.0.1:5060", Usage: "host:port (port 0: any free port)", EnvVars: env("listen")},
		&cli.StringFlag{Name: "transport", Value: "udp,tcp", Usage: "udp, tcp or both", EnvVars: env("registrar-transport")},
		&cli.BoolFlag{Name: "auth", Usage: "require digest authentication", EnvVars: env("auth")},
		&cli.StringFlag{Name: "realm", Usage: "digest realm (default: the AOR's domain)", EnvVars: env("realm")},
		&cli.StringFlag{Name: "password", Value: "secret", Usage: "password pattern; %d is the number in the user name", EnvVars: env("registrar-password")},
		&cli.StringFlag{Name: "users", Usage: "SIPp CSV of user;domain;password (overrides --password)", EnvVars: env("registrar-users")},
		&cli.IntFlag{Name: "min-expires", Usage: "answer 423 below this", EnvVars: env("min-expires")},
		&cli.IntFlag{Name: "max-expires", Usage: "clamp requested intervals to this", EnvVars: env("max-expires")},
		&cli.StringFlag{Name: "expires-style", Value: "contact", Usage: "granted interval in Contact ;expires (contact) or only in the Expires header (header)", EnvVars: env("expires-style")},
		&cli.Float64Flag{Name: "drop", Usage: "fraction of requests silently ignored", EnvVars: env("drop")},
		&cli.DurationFlag{Name: "delay", Usage: "answer this late", EnvVars: env("delay")},
		&cli.StringFlag{Name: "reject", Usage: "CODE:P, e.g. 503:0.05", EnvVars: env("reject")},
		&cli.BoolFlag{Name: "silent", Usage: "never answer", EnvVars: env("silent")},
	}
}

// parseTarget accepts sip:host:port, host:port, sip:host and [v6]:port.
func parseTarget(s string) (string, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimPrefix(strings.TrimPrefix(t, "sip:"), "sips:")
	if i := strings.IndexAny(t, ";?"); i >= 0 {
		t = t[:i]
	}
	if at := strings.LastIndexByte(t, '@'); at >= 0 {
		t = t[at+1:]
	}
	if t == "" || strings.ContainsAny(t, " <>\"") {
		return "", usagef("--target %q: want sip:host:port", s)
	}
	if strings.Count(t, "[") != strings.Count(t, "]") {
		return "", usagef("--target %q: unbalanced brackets", s)
	}
	host, port, err := net.SplitHostPort(t)
	if err != nil {
		// No port: host alone (a bare IPv6 address must be bracketed).
		if strings.Count(t, ":") > 1 && !strings.HasPrefix(t, "[") {
			return "", usagef("--target %q: bracket IPv6 addresses, e.g. sip:[::1]:5060", s)
		}
		host, port = strings.Trim(t, "[]"), "5060"
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535 || host == "" {
		return "", usagef("--target %q: bad port", s)
	}
	return net.JoinHostPort(host, port), nil
}

// loadOptions turns the run flags into engine options, or a usage error
// naming the flag.
func loadOptions(c *cli.Context) (engine.Options, error) {
	var o engine.Options
	o.NAPs = c.Int("naps")
	if o.NAPs <= 0 {
		return o, usagef("--naps %d: must be at least 1", o.NAPs)
	}
	o.NAP = nap.DefaultConfig()
	switch strings.ToLower(c.String("transport")) {
	case "udp":
		o.NAP.Transport = sipwire.UDP
	case "tcp":
		o.NAP.Transport = sipwire.TCP
	default:
		return o, usagef("--transport %q: want udp or tcp (tls is not supported yet)", c.String("transport"))
	}
	if e := c.Int("expires"); e <= 0 || e > sipwire.MaxDelta {
		return o, usagef("--expires %d: want 1..%d seconds", e, int64(sipwire.MaxDelta))
	} else {
		o.NAP.Expires = uint32(e)
	}
	o.NAP.T1, o.NAP.T2, o.NAP.TimerF, o.NAP.Retry = c.Duration("t1"), c.Duration("t2"), c.Duration("timer-f"), c.Duration("retry")
	for _, f := range []string{"t1", "t2", "timer-f", "retry"} {
		if c.Duration(f) <= 0 {
			return o, usagef("--%s %v: must be positive", f, c.Duration(f))
		}
	}
	if o.NAP.T2 < o.NAP.T1 {
		return o, usagef("--t2 %v: must not be below --t1 %v", o.NAP.T2, o.NAP.T1)
	}
	if o.Rate = c.Float64("rate"); o.Rate < 0 {
		return o, usagef("--rate %v: must not be negative", o.Rate)
	}
	if o.Window = c.Int("window"); o.Window <= 0 {
		return o, usagef("--window %d: must be positive", o.Window)
	}
	if o.Duration = c.Duration("duration"); o.Duration < 0 {
		return o, usagef("--duration %v: must not be negative", o.Duration)
	}
	o.Drain = c.Duration("drain")
	if o.EventLoops = c.Int("event-loops"); o.EventLoops < 0 {
		return o, usagef("--event-loops %d: must not be negative", o.EventLoops)
	}
	if o.Tick = c.Duration("tick"); o.Tick < 0 || o.Tick > 100*time.Millisecond {
		return o, usagef("--tick %v: want 0 (wake on every datagram) up to 100ms", o.Tick)
	}
	if o.Sockets = c.Int("sockets-per-loop"); o.Sockets <= 0 {
		return o, usagef("--sockets-per-loop %d: must be positive", o.Sockets)
	}
	switch c.String("sockets") {
	case "shared":
	case "per-nap":
		o.PerNAP = true
	default:
		return o, usagef("--sockets %q: want shared or per-nap", c.String("sockets"))
	}
	if s := c.String("local-ip"); s != "" {
		pool, err := netio.ParseAddrPool(s)
		if err != nil {
			return o, usagef("--local-ip: %v", err)
		}
		o.LocalIPs = pool
	}
	if s := c.String("shard"); s != "" {
		var k, n int
		if _, err := fmt.Sscanf(s, "%d/%d", &k, &n); err != nil || n <= 0 || k < 0 || k >= n {
			return o, usagef("--shard %q: want k/N with 0 <= k < N", s)
		}
		o.ShardK, o.ShardN = k, n
	}
	up, err := engine.ParsePattern(c.String("user-pattern"))
	if err != nil {
		return o, usagef("--user-pattern: %v", err)
	}
	pp, err := engine.ParsePattern(c.String("password"))
	if err != nil {
		return o, usagef("--password: the pattern is invalid (only %%d or %%0Nd is supported)")
	}
	o.Identity = engine.Identity{UserPattern: up, UserStart: uint64(c.Int("user-start")), PasswordPattern: pp, Domain: c.String("domain")}
	if f := c.String("users"); f != "" {
		users, err := engine.LoadUsers(f)
		if err != nil {
			return o, usagef("--users: %v", err)
		}
		o.Identity.Users = users
	}
	if t := c.String("target"); t != "" {
		if o.Target, err = parseTarget(t); err != nil {
			return o, err
		}
	}
	o.MetricsAddr = c.String("metrics-addr")
	if e := c.String("fail-on"); e != "" {
		if o.Thresholds, err = metrics.ParseThresholds(e); err != nil {
			return o, usagef("--fail-on: %v", err)
		}
	}
	return o, nil
}

func runLoad(c *cli.Context, stdout, stderr io.Writer) error {
	if c.Args().Len() > 0 {
		return usagef("unexpected argument %q (see regstorm --help)", c.Args().First())
	}
	if err := applyProfile(c); err != nil {
		return err
	}
	o, err := loadOptions(c)
	if err != nil {
		return err
	}
	var summaryOut io.Writer
	if f := c.String("summary"); f == "-" {
		summaryOut = stdout
	} else if f != "" {
		file, err := os.Create(f)
		if err != nil {
			return usagef("--summary: %v", err)
		}
		defer file.Close()
		summaryOut = file
	}
	if f := c.String("hlog"); f != "" {
		file, err := os.Create(f)
		if err != nil {
			return usagef("--hlog: %v", err)
		}
		defer file.Close()
		o.Hlog = file
	}
	if o.Target == "" {
		// No target: the embedded registrar, in-process, on a free port.
		// Over TCP it holds one descriptor per NAP connection as well.
		if o.PerNAP || o.NAP.Transport == sipwire.TCP {
			if err := netio.RaiseFileLimit(2*uint64(o.NAPs) + 512); err != nil {
				return usagef("--naps %d with the embedded registrar %v", o.NAPs, err)
			}
		}
		srv, err := registrar.Listen(registrar.New(registrar.Config{}), "127.0.0.1", 0, []string{"udp", "tcp"})
		if err != nil {
			return cli.Exit(fmt.Sprintf("embedded registrar: %v", err), 1)
		}
		defer srv.Close()
		o.Target = srv.Addr
		if !c.Bool("quiet") {
			fmt.Fprintf(stderr, "regstorm: embedded registrar on %s\n", srv.Addr)
		}
	}
	if !c.Bool("quiet") {
		o.Progress, o.TTY = stderr, isTTY(stderr)
	}
	if f := c.String("cpuprofile"); f != "" {
		pf, err := os.Create(f)
		if err != nil {
			return usagef("--cpuprofile: %v", err)
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return usagef("--cpuprofile: %v", err)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signalContext(stderr)
	defer stop()
	res, err := engine.Run(ctx, o)
	if err != nil {
		if strings.Contains(err.Error(), "--") {
			return usagef("%v", err)
		}
		return cli.Exit(err.Error(), 1)
	}
	if summaryOut != nil {
		if err := res.Summary.WriteJSON(summaryOut); err != nil {
			return cli.Exit(err.Error(), 1)
		}
	}
	if len(res.Crossed) > 0 {
		for _, line := range res.Crossed {
			fmt.Fprintf(stderr, "regstorm: --fail-on crossed: %s\n", line)
		}
		return cli.Exit("", 1)
	}
	return nil
}

// runMerge merges the .hlog files of shards into one summary: counts are
// summed, percentiles come from the merged histogram.
func runMerge(c *cli.Context, stdout io.Writer) error {
	if c.Args().Len() == 0 {
		return usagef("merge: give the .hlog files of the shards")
	}
	var parts []*metrics.Summary
	merged := metrics.NewHistogram()
	var files []string
	for _, a := range c.Args().Slice() {
		// Expand globs here too, so a shell-less container can merge /results/*.hlog.
		if m, err := filepath.Glob(a); err == nil && len(m) > 0 {
			files = append(files, m...)
		} else {
			files = append(files, a)
		}
	}
	for _, f := range files {
		file, err := os.Open(f)
		if err != nil {
			return usagef("merge: %v", err)
		}
		h, _, sum, err := metrics.ReadHlog(file)
		file.Close()
		if err != nil {
			return usagef("merge: %s: %v", f, err)
		}
		if sum == nil {
			return usagef("merge: %s has no regstorm summary line (was its run cut short?)", f)
		}
		merged.Merge(h)
		parts = append(parts, sum)
	}
	out := metrics.MergeSummaries(parts, merged)
	if e := c.String("fail-on"); e != "" {
		ts, err := metrics.ParseThresholds(e)
		if err != nil {
			return usagef("--fail-on: %v", err)
		}
		for _, line := range metrics.Check(ts, out) {
			fmt.Fprintf(c.App.ErrWriter, "regstorm: --fail-on crossed: %s\n", line)
		}
	}
	w := stdout
	if f := c.String("summary"); f != "-" && f != "" {
		file, err := os.Create(f)
		if err != nil {
			return usagef("--summary: %v", err)
		}
		defer file.Close()
		w = file
	}
	if err := out.WriteJSON(w); err != nil {
		return cli.Exit(err.Error(), 1)
	}
	if len(out.ThresholdsFailed) > 0 {
		return cli.Exit("", 1)
	}
	return nil
}

func runRegistrar(c *cli.Context, stderr io.Writer) error {
	cfg := registrar.Config{
		Auth: c.Bool("auth"), Realm: c.String("realm"),
		Drop: c.Float64("drop"), Delay: c.Duration("delay"), Silent: c.Bool("silent"),
	}
	if v := c.Int("min-expires"); v < 0 {
		return usagef("--min-expires %d: must not be negative", v)
	} else {
		cfg.MinExpires = uint32(v)
	}
	if v := c.Int("max-expires"); v < 0 {
		return usagef("--max-expires %d: must not be negative", v)
	} else {
		cfg.MaxExpires = uint32(v)
	}
	if cfg.MaxExpires > 0 && cfg.MinExpires > cfg.MaxExpires {
		return usagef("--min-expires %d is above --max-expires %d", cfg.MinExpires, cfg.MaxExpires)
	}
	switch c.String("expires-style") {
	case "contact":
	case "header":
		cfg.Style = registrar.StyleHeader
	default:
		return usagef("--expires-style %q: want contact or header", c.String("expires-style"))
	}
	if cfg.Drop < 0 || cfg.Drop > 1 {
		return usagef("--drop %v: want a fraction 0..1", cfg.Drop)
	}
	if r := c.String("reject"); r != "" {
		code, p, ok := strings.Cut(r, ":")
		n, err1 := strconv.Atoi(code)
		f, err2 := strconv.ParseFloat(p, 64)
		if !ok || err1 != nil || err2 != nil || n < 300 || n > 699 || f < 0 || f > 1 {
			return usagef("--reject %q: want CODE:P with CODE 300..699 and P 0..1, e.g. 503:0.05", r)
		}
		cfg.RejectCode, cfg.RejectProb = n, f
	}
	pass, err := passwordLookup(c)
	if err != nil {
		return err
	}
	cfg.Password = pass
	host, portS, err := net.SplitHostPort(c.String("listen"))
	port, perr := strconv.Atoi(portS)
	if err != nil || perr != nil || port < 0 || port > 65535 {
		return usagef("--listen %q: want host:port", c.String("listen"))
	}
	var transports []string
	for _, t := range strings.Split(c.String("transport"), ",") {
		switch t = strings.TrimSpace(strings.ToLower(t)); t {
		case "udp", "tcp":
			transports = append(transports, t)
		default:
			return usagef("--transport %q: want udp, tcp or udp,tcp", c.String("transport"))
		}
	}
	srv, err := registrar.Listen(registrar.New(cfg), host, port, transports)
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	fmt.Fprintf(stderr, "regstorm registrar: listening on %s (%s)\n", srv.Addr, strings.Join(transports, ","))
	ctx, stop := signalContext(stderr)
	defer stop()
	// SIGUSR1 prints the counters and the bindings held, without stopping
	// (approximate while requests are being handled).
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-usr1:
			printRegistrarStats(stderr, srv)
		}
	}
	err = srv.Close()
	printRegistrarStats(stderr, srv)
	return err
}

func printRegistrarStats(w io.Writer, srv *registrar.Server) {
	st := srv.Stats()
	held, aors := srv.Reg.Loc.Count(time.Now())
	fmt.Fprintf(w, "regstorm registrar: %d requests, %d bindings made, %d removed, %d held for %d AoRs, %d challenges, %d auth failures, %d replays refused, %d malformed\n",
		st.Requests, st.Registered, st.Unregistered, held, aors, st.Challenges, st.AuthFailures, st.Replays, st.Malformed)
}

// passwordLookup builds the registrar's password function from --users or
// the --password pattern (%d is the number found in the user name).
func passwordLookup(c *cli.Context) (func(user []byte) ([]byte, bool), error) {
	if f := c.String("users"); f != "" {
		users, err := engine.LoadUsers(f)
		if err != nil {
			return nil, usagef("--users: %v", err)
		}
		m := make(map[string][]byte, len(users))
		for _, u := range users {
			m[u.Name] = []byte(u.Password)
		}
		return func(user []byte) ([]byte, bool) { p, ok := m[string(user)]; return p, ok }, nil
	}
	pat, err := engine.ParsePattern(c.String("password"))
	if err != nil {
		return nil, usagef("--password: the pattern is invalid (only %%d or %%0Nd is supported)")
	}
	return func(user []byte) ([]byte, bool) {
		// The number in the user name ("nap000042" → 42) fills the pattern.
		var n uint64
		seen := false
		for _, ch := range user {
			if ch >= '0' && ch <= '9' {
				n = n*10 + uint64(ch-'0')
				seen = true
			}
		}
		if !seen {
			n = 0
		}
		return pat.Append(nil, n), true
	}, nil
}

// runReport renders summary.json (from --summary or merge) as HTML.
func runReport(c *cli.Context, stderr io.Writer) error {
	if c.Args().Len() != 1 {
		return usagef("report: give one summary JSON file")
	}
	f := c.Args().First()
	data, err := os.ReadFile(f)
	if err != nil {
		return usagef("report: %v", err)
	}
	var s metrics.Summary
	if err := json.Unmarshal(data, &s); err != nil {
		return usagef("report: %s: not a regstorm summary: %v", f, err)
	}
	title := c.String("title")
	if title == "" {
		title = "regstorm: " + filepath.Base(f)
	}
	out, err := os.Create(c.String("html"))
	if err != nil {
		return usagef("--html: %v", err)
	}
	defer out.Close()
	if err := report.WriteHTML(out, &s, title); err != nil {
		return cli.Exit(err.Error(), 1)
	}
	fmt.Fprintf(stderr, "regstorm: report written to %s\n", c.String("html"))
	return nil
}
