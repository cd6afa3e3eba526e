package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/regstorm/regstorm/capacity"
	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/metrics"
)

// capacityFlags are the search's own; every run flag that makes sense for
// a trial (target, transport, credentials, users, local addresses, TLS,
// DNS, --proxy, timers) works as in a run.
func capacityFlags() []cli.Flag {
	d := capacity.DefaultParams()
	return []cli.Flag{
		&cli.StringFlag{Name: "mode", Value: "register", Usage: "register: new AoRs at each trial's rate (RFC 7502 Registration Rate); refresh: --naps bindings (100 000 unless --naps is given) registered first, then refreshed at each trial's rate (Re-Registration Rate)", EnvVars: env("mode")},
		&cli.Float64Flag{Name: "fill-rate", Value: defaultFillRate, Usage: "refresh mode: the population's registrations per second before the first trial (set a rate the registrar takes)", EnvVars: env("fill-rate")},
		&cli.BoolFlag{Name: "unregister", Usage: "refresh mode: un-REGISTER the population at the end, at --fill-rate (default: its bindings are left to expire)", EnvVars: env("unregister")},
		&cli.DurationFlag{Name: "max-time", Value: d.MaxTime, Usage: "bound on the whole search", EnvVars: env("max-time")},
		&cli.Float64Flag{Name: "start-rate", Value: d.StartRate, Usage: "the first trial's rate, per second", EnvVars: env("start-rate")},
		&cli.Float64Flag{Name: "max-rate", Value: d.MaxRate, Usage: "the highest rate tried, per second", EnvVars: env("max-rate")},
		&cli.DurationFlag{Name: "trial-duration", Value: d.TrialDuration, Usage: "how long a search trial offers its rate", EnvVars: env("trial-duration")},
		&cli.Int64Flag{Name: "trial-size", Usage: "a search trial is this many registrations instead (RFC 7502's way)", EnvVars: env("trial-size")},
		&cli.Int64Flag{Name: "confirm-size", Value: d.ConfirmSize, Usage: "registrations of the confirmation", EnvVars: env("confirm-size")},
		&cli.DurationFlag{Name: "confirm-duration", Value: d.ConfirmDuration, Usage: "the confirmation lasts at least this", EnvVars: env("confirm-duration")},
		&cli.Float64Flag{Name: "granularity", Usage: "stop narrowing at this many registrations/s (default: 1 % of the rate)", EnvVars: env("granularity")},
		&cli.DurationFlag{Name: "settle", Value: d.Settle, Usage: "pause before each trial", EnvVars: env("settle")},
		&cli.BoolFlag{Name: "run-failing-trials", Usage: "run a trial to its end after its first failure", EnvVars: env("run-failing-trials")},
		&cli.StringFlag{Name: "rates", Usage: "run these rates per second, `R1,R2,…` rising, one step each as long as a confirmation, instead of the search: the way across shards (--shard k/N --start-at T, then regstorm merge)", EnvVars: env("rates")},
	}
}

// capacityExpires is what the trials' NAPs ask for, unless --expires says:
// their bindings are left to expire, after the trial and its answers.
const capacityExpires = 120

// capacityDefaults are the search's settings before the flags: the
// package's (a test that shares its host leaves out the generator checks
// that the host's other loads trip).
var capacityDefaults = capacity.DefaultParams

// Refresh mode: the population's size unless --naps says (twice the
// default confirmation), and its default fill rate (a rate most
// registrars take; the user sets one the registrar is known to take).
const (
	defaultPopulation = 100000
	defaultFillRate   = 500
)

// runCapacity searches for the registrar's registration rate.
func runCapacity(c *cli.Context, stdout, stderr io.Writer) error {
	if c.Args().Len() > 0 {
		return usagef("unexpected argument %q (see regstorm capacity --help)", c.Args().First())
	}
	if c.String("target") == "" {
		return usagef("capacity: give the registrar to measure with --target (a search against the embedded registrar measures regstorm)")
	}
	mode := capacity.Mode(c.String("mode"))
	if mode != capacity.ModeRegister && mode != capacity.ModeRefresh {
		return usagef("--mode %s: want register or refresh", mode)
	}
	p := capacityDefaults()
	p.MaxTime, p.StartRate, p.MaxRate = c.Duration("max-time"), c.Float64("start-rate"), c.Float64("max-rate")
	p.TrialDuration, p.TrialSize = c.Duration("trial-duration"), c.Int64("trial-size")
	p.ConfirmSize, p.ConfirmDuration = c.Int64("confirm-size"), c.Duration("confirm-duration")
	p.Settle, p.RunFailingTrials = c.Duration("settle"), c.Bool("run-failing-trials")
	if g := c.Float64("granularity"); g > 0 {
		p.Granularity = g
	}
	p.MinRate = min(p.MinRate, p.StartRate)
	if err := p.Validate(); err != nil {
		return usagef("capacity: %v", err)
	}
	rc, err := loadConfig(runArgsOf(argsOf(c)))
	if err != nil {
		return err
	}
	o := rc.opts
	if len(o.Groups) != 1 {
		return usagef("capacity: one group of NAPs (a profile's groups are for runs)")
	}
	expires := uint32(capacityExpires)
	if c.IsSet("expires") {
		expires = o.Groups[0].NAP.Expires
	}
	var refresh *capacity.Refresh
	if mode == capacity.ModeRefresh {
		if refresh, expires, err = refreshSetup(c, &o, p, expires); err != nil {
			return err
		}
	}
	// Auth: whether the registrar challenged, as the trials see it.
	target := capacity.Target{Mode: mode, Transport: o.Groups[0].NAP.Transport.String()}
	s, err := capacity.New(target, p)
	if err != nil {
		return usagef("capacity: %v", err)
	}
	sched, err := scheduleOf(c, rc, p, stderr)
	if err != nil {
		return err
	}
	if sched != nil && refresh != nil {
		// a schedule's steps are fresh registrations, each its own run; a
		// held population's refreshes across shards are not built
		return usagef("--rates: a fixed schedule is register mode's; --mode refresh searches on one box")
	}
	ctx, stop := signalContext(stderr, nil, nil, nil)
	defer stop()
	o.Logf = logTo(stderr, "regstorm: ")
	r := &capacity.Runner{Base: o, Expires: expires, Refresh: refresh}
	if a := rc.metricsAddr; a != "" { // the trials' figures, and the current trial's rate
		po := &promObserver{}
		stopProm, addr, err := metrics.ServeMetrics(a, po.view, nil)
		if err != nil {
			return cli.Exit(fmt.Sprintf("--metrics-addr %s: %v", a, err), 1)
		}
		defer stopProm()
		r.Base.Observers = append(r.Base.Observers, po)
		r.OnTrial = func(p capacity.Plan) { po.trialRate.Store(math.Float64bits(p.Rate)) }
		if !rc.quiet {
			fmt.Fprintf(stderr, "regstorm capacity: Prometheus metrics on http://%s/metrics\n", addr)
		}
	}
	if !rc.quiet {
		r.Trials = stderr
		fmt.Fprintf(stderr, "regstorm capacity: %s over %s, %s\n", mode, o.Groups[0].NAP.Transport, sched.heading(p.MaxTime))
		if refresh != nil {
			fmt.Fprintf(stderr, "regstorm capacity: registering %d bindings at %s/s first (--fill-rate), expires %d s\n",
				o.Groups[0].NAPs, strconv.FormatFloat(refresh.FillRate, 'f', -1, 64), expires)
		}
	}
	var res capacity.Result
	if sched != nil {
		res = r.Schedule(ctx, target, p, sched.sc, sched.plans)
	} else {
		res = r.Search(ctx, s)
	}
	raw, err := json.Marshal(res)
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	sum := &metrics.Summary{Capacity: raw, Transport: res.Transport, ThresholdsFailed: []string{}}
	var crossed []string
	if f := rc.failOn; f != "" {
		th, _ := metrics.ParseThresholds(f) // checked in checkGates
		crossed = metrics.Check(th, sum)
	}
	if err := writeCapacity(c.String("summary"), stdout, raw, sum.ThresholdsFailed); err != nil {
		return cli.Exit(fmt.Sprintf("--summary: %v", err), 1)
	}
	if sh := res.Schedule; sh != nil && sh.Shard != nil {
		return sayCapacity(stderr, shardNote(sh.Shard, rc.summary), crossed)
	}
	return sayCapacity(stderr, res.Summary(), crossed)
}

// sayCapacity ends a search, a schedule or their merge: its sentence,
// then each --fail-on threshold crossed (exit 1).
func sayCapacity(stderr io.Writer, sentence string, crossed []string) error {
	fmt.Fprintln(stderr, sentence)
	for _, line := range crossed {
		fmt.Fprintf(stderr, "regstorm: --fail-on crossed: %s\n", line)
	}
	if len(crossed) > 0 {
		return cli.Exit("", 1)
	}
	return nil
}

// refreshSetup checks refresh mode's flags and sizes its population: --naps
// bindings (defaultPopulation unless given), at least the confirmation's
// refreshes, asking for an expires that outlasts the search (none
// refreshes on its own meanwhile).
func refreshSetup(c *cli.Context, o *engine.Options, p capacity.Params, expires uint32) (*capacity.Refresh, uint32, error) {
	g := &o.Groups[0]
	if !c.IsSet("naps") {
		g.NAPs = defaultPopulation
	}
	if int64(g.NAPs) < p.ConfirmSize {
		return nil, 0, usagef("capacity --mode refresh: --naps %d is fewer bindings than a confirmation's %d refreshes (--confirm-size): no binding is refreshed twice in a trial", g.NAPs, p.ConfirmSize)
	}
	fill := c.Float64("fill-rate")
	if fill <= 0 || math.IsInf(fill, 0) || math.IsNaN(fill) {
		return nil, 0, usagef("--fill-rate %v: want a rate > 0", fill)
	}
	need := uint32(86400) // a search without a time bound: a day
	if p.MaxTime > 0 {
		need = uint32(2*p.MaxTime.Seconds()) + 120
	}
	switch {
	case !c.IsSet("expires"):
		expires = need
	case expires < need:
		return nil, 0, usagef("capacity --mode refresh: --expires %d would make the bindings refresh on their own within the search (--max-time %v): want at least %d", expires, p.MaxTime, need)
	}
	return &capacity.Refresh{FillRate: fill, Unregister: c.Bool("unregister")}, expires, nil
}

// writeCapacity writes the search's summary: {"capacity": …} and the
// --fail-on conditions it crossed.
func writeCapacity(path string, stdout io.Writer, raw json.RawMessage, failed []string) error {
	if path == "" {
		return nil
	}
	w := stdout
	if path != "-" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(struct {
		Capacity         json.RawMessage `json:"capacity"`
		ThresholdsFailed []string        `json:"thresholds_failed"`
	}{raw, failed})
}

// runArgsOf is the command line of a capacity search as the run's flags
// read it: without the subcommand and the search's own flags.
func runArgsOf(args []string) []string {
	own := map[string]bool{}
	for _, f := range capacityFlags() {
		for _, n := range f.Names() {
			own[n] = true
		}
	}
	out := []string{args[0]}
	rest := args[1:]
	if i := slices.Index(rest, "capacity"); i >= 0 {
		rest = append(append([]string{}, rest[:i]...), rest[i+1:]...)
	}
	for i := 0; i < len(rest); i++ {
		name, _, hasValue := strings.Cut(strings.TrimLeft(rest[i], "-"), "=")
		if !strings.HasPrefix(rest[i], "-") || !own[name] {
			out = append(out, rest[i])
			continue
		}
		if !hasValue && name != "run-failing-trials" && name != "unregister" && i+1 < len(rest) {
			i++ // its value
		}
	}
	return out
}
