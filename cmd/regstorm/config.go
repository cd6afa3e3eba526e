package main

import (
	"flag"
	"io"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/profiles"
	"github.com/regstorm/regstorm/runspec"
	"github.com/regstorm/regstorm/trace"
)

// A run's configuration comes from three places, in this order of
// precedence: what the user typed (flags, REGSTORM_* env vars), a group's
// own keys in the profile, the profile's top-level keys; then the flags'
// defaults. The same precedence holds when SIGHUP makes the run read its
// profile again.

// runConfig is a run's configuration: the engine's options (with its
// groups) and where the profile came from.
type runConfig struct {
	opts    engine.Options
	profile *profiles.Profile // nil: no --profile
	typed   runspec.Values    // what the user typed: a reload builds on it again
	// The run's own settings, flags or profile: outputs and gates.
	quiet                                          bool
	summary, hlog, metricsAddr, failOn, cpuprofile string
	trace, pcap                                    string
	traceFile                                      *outFile // --trace's file, created at its first message
	reboot                                         rebootPlan
	stages                                         []stage
}

// knownKeys are the run flags a profile may set.
func knownKeys() []string {
	var known []string
	for _, f := range runFlags() {
		if n := f.Names()[0]; n != "profile" {
			known = append(known, n)
		}
	}
	return known
}

// loadConfig parses the run flags of args (the command line as given)
// once and builds the run configuration from them (buildConfig).
func loadConfig(args []string) (*runConfig, error) {
	c, err := parseRun(args)
	if err != nil {
		return &runConfig{}, err
	}
	return buildConfig(c)
}

// buildConfig reads the profile (if any) and makes the run configuration
// from what the user typed and the profile's layers (runspec.Merge).
// Nothing is started; errors are usage errors naming the flag, or the
// profile's file and line. A reload calls it again with the same typed
// values: the profile is read anew, the command line is not.
func buildConfig(typed runspec.Values) (*runConfig, error) {
	rc := &runConfig{typed: typed}
	if name := typed.String("profile"); name != "" {
		p, err := profiles.Load(name, knownKeys())
		if err != nil {
			return rc, usagef("--profile: %v", err)
		}
		rc.profile = p
	}
	var top runspec.Values
	if rc.profile != nil {
		l, err := profileLayer(typed, rc.profile, rc.profile.Settings)
		if err != nil {
			return rc, err
		}
		top = l
	}
	c := merged(typed, top)
	typedK := typedKeys(typed, "reboot-at", "reboot-fraction", "reboot-group", "stages")
	o, err := loadOptions(c)
	if err != nil {
		return rc, err
	}
	register, err := registerOf(rc.profile, nil)
	if err != nil {
		return rc, err
	}
	o.Groups = []engine.Group{groupOf("default", o, register)}
	rc.opts = o
	if err := rc.runSettings(c, typedK); err != nil {
		return rc, err
	}
	if rc.profile != nil && len(rc.profile.Groups) > 0 {
		// Each group: its own keys over the top-level ones.
		rc.opts.Groups = nil
		for k := range rc.profile.Groups {
			g, err := loadGroup(typed, top, rc.profile, &rc.profile.Groups[k])
			if err != nil {
				return nil, err
			}
			rc.opts.Groups = append(rc.opts.Groups, g)
		}
	}
	if err := rc.checkReboots(origin(rc.profile, "reboot-group", typedK)); err != nil {
		return nil, err
	}
	return rc, nil
}

// runSettings reads the run's own settings, not a group's: outputs,
// gates, reboots, stages, traces.
func (rc *runConfig) runSettings(c runspec.Values, typed map[string]bool) error {
	var err error
	rc.quiet, rc.summary, rc.hlog = c.Bool("quiet"), c.String("summary"), c.String("hlog")
	rc.metricsAddr, rc.failOn, rc.cpuprofile = c.String("metrics-addr"), c.String("fail-on"), c.String("cpuprofile")
	if rc.reboot, err = loadReboot(c, rc.profile, typed); err != nil {
		return err
	}
	if rc.stages, err = stagesOf(c.String("stages"), rc.profile, typed); err != nil {
		return err
	}
	tr, tf, err := openTrace(c)
	if err != nil {
		return err
	}
	capt, err := openCapture(c)
	if err != nil {
		return err
	}
	rc.opts.Trace = trace.Tee(tr, capt)
	rc.trace, rc.pcap, rc.traceFile = c.String("trace"), c.String("pcap"), tf
	return checkOutputsApart("--summary", rc.summary, "--hlog", rc.hlog, "--cpuprofile", rc.cpuprofile,
		"--trace", rc.trace, "--pcap", rc.pcap)
}

// groupOf is the engine's group made of a run's options.
func groupOf(name string, o engine.Options, register bool) engine.Group {
	return engine.Group{Name: name, NAPs: o.NAPs, Register: register, Target: o.Target, Targets: o.Targets, Order: o.Order,
		Resolve: o.Resolve, TTL: o.TTL,
		NAP: o.NAP, Identity: o.Identity, LocalIPs: o.LocalIPs}
}

// loadGroup is one profile group's view of the settings: what the user
// typed, the group's keys, then the profile's top-level ones (top).
func loadGroup(typed, top runspec.Values, p *profiles.Profile, pg *profiles.Group) (engine.Group, error) {
	var g engine.Group
	own, err := profileLayer(typed, p, pg.Settings)
	if err != nil {
		return g, err
	}
	c := merged(typed, own, top)
	o, err := loadOptions(c)
	if err != nil {
		msg := err.Error()
		if ue, ok := err.(usageError); ok {
			msg = ue.msg
		}
		return g, usagef("--profile %s:%d: group %q: %s", p.Source, pg.Line, pg.Name, msg)
	}
	register, err := registerOf(p, pg)
	if err != nil {
		return g, err
	}
	g = groupOf(pg.Name, o, register)
	for _, s := range pg.Settings {
		if s.Key == "rate" && !c.IsSet("rate") { // a group's own rate; without one it shares the run's
			g.Rate = o.Rate
		}
	}
	return g, nil
}

// merged is typed over the layers that are there (nil: none).
func merged(typed runspec.Values, layers ...runspec.Values) runspec.Layered {
	var ls []runspec.Values
	for _, l := range layers {
		if l != nil {
			ls = append(ls, l)
		}
	}
	return runspec.Merge(typed, ls...)
}

// profileLayer parses a level of the profile (its top-level keys, or a
// group's) with the run's flags, but for the keys the user typed and
// "register", which is not a flag.
func profileLayer(typed runspec.Values, p *profiles.Profile, settings []profiles.Setting) (runspec.Values, error) {
	define := func(fs *flag.FlagSet) error {
		for _, f := range runFlags() {
			if err := f.Apply(fs); err != nil {
				return usagef("%v", err)
			}
		}
		return nil
	}
	skip := func(key string) bool { return key == "register" || typed.IsSet(key) }
	bad := func(st profiles.Setting, err error) error {
		return usagef("--profile %s:%d: %s: %q is not a valid value: %s", p.Source, st.Line, st.Key, st.Value,
			wants(flagNamed(runFlags(), st.Key), st.Value, err.Error()))
	}
	return runspec.NewLayer(define, settings, skip, bad)
}

// layers are the profile's settings for group g (nil: the run), the most
// specific first: the group's own keys, then the top-level ones.
func layers(p *profiles.Profile, g *profiles.Group) [][]profiles.Setting {
	if p == nil {
		return nil
	}
	if g == nil {
		return [][]profiles.Setting{p.Settings}
	}
	return [][]profiles.Setting{g.Settings, p.Settings}
}

// registerOf is a group's "register" key, else the profile's, else true.
func registerOf(p *profiles.Profile, g *profiles.Group) (bool, error) {
	for _, layer := range layers(p, g) {
		for _, st := range layer {
			if st.Key == "register" {
				v, err := strconv.ParseBool(st.Value)
				if err != nil {
					return false, usagef("--profile %s:%d: register: %q: want true or false", p.Source, st.Line, st.Value)
				}
				return v, nil
			}
		}
	}
	return true, nil
}

// parseRun parses the run command's flags of args (the command line as
// given), once: a capacity search's as a run's, and tests'.
func parseRun(args []string) (*cli.Context, error) {
	rest := args[1:]
	if len(rest) > 0 && rest[0] == "run" {
		rest = rest[1:]
	}
	var parsed *cli.Context
	app := &cli.App{
		Name: "regstorm", Flags: runFlags(), Writer: io.Discard, ErrWriter: io.Discard, HideHelp: true,
		Action:         func(c *cli.Context) error { parsed = c; return nil },
		ExitErrHandler: func(*cli.Context, error) {},
	}
	if err := app.Run(append([]string{"regstorm"}, rest...)); err != nil {
		msg, _ := explainFlagError(err, runFlags())
		return nil, usageError{msg}
	}
	return parsed, nil
}

// argsOf is the command line the app was run with.
func argsOf(c *cli.Context) []string {
	if a, ok := c.App.Metadata["args"].([]string); ok {
		return a
	}
	return []string{"regstorm"}
}
