package main

import (
	"io"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/profiles"
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

// loadConfig reads the profile (if any) and the flags of args into a run
// configuration. Nothing is started; errors are usage errors naming the
// flag, or the profile's file and line.
func loadConfig(args []string) (*runConfig, error) {
	rc := &runConfig{}
	var groupOrigin string // where --reboot-group came from
	err := withFlags(args, func(c *cli.Context) error {
		if name := c.String("profile"); name != "" {
			p, err := profiles.Load(name, knownKeys())
			if err != nil {
				return usagef("--profile: %v", err)
			}
			rc.profile = p
		}
		typed := typedKeys(c, "reboot-at", "reboot-fraction", "reboot-group", "stages")
		if err := setFrom(c, rc.profile, nil); err != nil {
			return err
		}
		o, err := loadOptions(c)
		if err != nil {
			return err
		}
		register, err := registerOf(rc.profile, nil)
		if err != nil {
			return err
		}
		o.Groups = []engine.Group{{Name: "default", NAPs: o.NAPs, Register: register, Target: o.Target, Targets: o.Targets, Order: o.Order,
			Resolve: o.Resolve, TTL: o.TTL,
			NAP: o.NAP, Identity: o.Identity, LocalIPs: o.LocalIPs}}
		rc.opts = o
		rc.quiet, rc.summary, rc.hlog = c.Bool("quiet"), c.String("summary"), c.String("hlog")
		rc.metricsAddr, rc.failOn, rc.cpuprofile = c.String("metrics-addr"), c.String("fail-on"), c.String("cpuprofile")
		if rc.reboot, err = loadReboot(c, rc.profile, typed); err != nil {
			return err
		}
		groupOrigin = origin(rc.profile, "reboot-group", typed)
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
	})
	if err != nil {
		return rc, err
	}
	if rc.profile != nil && len(rc.profile.Groups) > 0 {
		// Each group: the flags again, with its own keys first.
		rc.opts.Groups = nil
		for k := range rc.profile.Groups {
			pg := &rc.profile.Groups[k]
			g, err := loadGroup(args, rc.profile, pg)
			if err != nil {
				return nil, err
			}
			rc.opts.Groups = append(rc.opts.Groups, g)
		}
	}
	if err := rc.checkReboots(groupOrigin); err != nil {
		return nil, err
	}
	return rc, nil
}

// loadGroup is one profile group's view of the flags.
func loadGroup(args []string, p *profiles.Profile, pg *profiles.Group) (engine.Group, error) {
	var g engine.Group
	where := func(err error) error {
		msg := err.Error()
		var ue usageError
		if u, ok := err.(usageError); ok {
			ue = u
			msg = ue.msg
		}
		return usagef("--profile %s:%d: group %q: %s", p.Source, pg.Line, pg.Name, msg)
	}
	err := withFlags(args, func(c *cli.Context) error {
		if err := setFrom(c, p, pg); err != nil {
			return err
		}
		o, err := loadOptions(c)
		if err != nil {
			return where(err)
		}
		register, err := registerOf(p, pg)
		if err != nil {
			return err
		}
		g = engine.Group{Name: pg.Name, NAPs: o.NAPs, Register: register, Target: o.Target, Targets: o.Targets, Order: o.Order,
			Resolve: o.Resolve, TTL: o.TTL,
			NAP: o.NAP, Identity: o.Identity, LocalIPs: o.LocalIPs}
		for _, s := range pg.Settings {
			if s.Key == "rate" && !c.IsSet("rate") { // a group's own rate; without one it shares the run's
				g.Rate = o.Rate
			}
		}
		return nil
	})
	return g, err
}

// setFrom sets every flag the user left unset from the group's keys, then
// from the profile's top-level keys. "register" is not a flag.
func setFrom(c *cli.Context, p *profiles.Profile, g *profiles.Group) error {
	for _, layer := range layers(p, g) {
		for _, st := range layer {
			if st.Key == "register" || c.IsSet(st.Key) {
				continue
			}
			if err := c.Set(st.Key, st.Value); err != nil {
				return usagef("--profile %s:%d: %s: %q is not a valid value: %s", p.Source, st.Line, st.Key, st.Value,
					wants(flagNamed(runFlags(), st.Key), st.Value, err.Error()))
			}
		}
	}
	return nil
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

// withFlags parses the run command's flags of args (the command line as
// given) into a fresh context and calls f with it: the profile's values
// then fill what the user left unset, as often as there are groups and
// reloads, without touching the run's own context.
func withFlags(args []string, f func(c *cli.Context) error) error {
	rest := args[1:]
	if len(rest) > 0 && rest[0] == "run" {
		rest = rest[1:]
	}
	var ferr error
	app := &cli.App{
		Name: "regstorm", Flags: runFlags(), Writer: io.Discard, ErrWriter: io.Discard, HideHelp: true,
		Action:         func(c *cli.Context) error { ferr = f(c); return nil },
		ExitErrHandler: func(*cli.Context, error) {},
	}
	if err := app.Run(append([]string{"regstorm"}, rest...)); err != nil {
		msg, _ := explainFlagError(err, runFlags())
		return usageError{msg}
	}
	return ferr
}

// argsOf is the command line the app was run with.
func argsOf(c *cli.Context) []string {
	if a, ok := c.App.Metadata["args"].([]string); ok {
		return a
	}
	return []string{"regstorm"}
}
