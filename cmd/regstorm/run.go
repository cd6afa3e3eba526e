package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/regstorm/regstorm/digestfast"
	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/nap"
	"github.com/regstorm/regstorm/netio"
	"github.com/regstorm/regstorm/profiles"
	"github.com/regstorm/regstorm/registrar"
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
		&cli.StringFlag{Name: "digest-choice", Value: "first", Usage: "among several challenges in one 401/407: first (the topmost supported, RFC 8760) or strongest (SHA-256 over MD5)", EnvVars: env("digest-choice")},
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
	if ch, err := digestfast.ParseChoice(c.String("digest-choice")); err != nil {
		return o, usagef("--digest-choice %q: want first or strongest", c.String("digest-choice"))
	} else {
		o.NAP.DigestChoice = ch
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
