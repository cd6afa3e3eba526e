package main

import (
	"flag"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/metrics"
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
	spec    *runspec.Spec     // what opts came from; plan resolves its groups
	profile *profiles.Profile // nil: no --profile
	typed   runspec.Values    // what the user typed: a reload builds on it again
	// The run's own settings, flags or profile: outputs and gates.
	quiet                                          bool
	summary, hlog, metricsAddr, failOn, cpuprofile string
	trace, pcap                                    string
	traceFile                                      *outFile // --trace's file, created at its first message
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
// once, builds the run configuration from them and plans it (a capacity
// search's, and tests').
func loadConfig(args []string) (*runConfig, error) {
	c, err := parseRun(args)
	if err != nil {
		return &runConfig{}, err
	}
	rc, err := buildConfig(c)
	if err != nil {
		return rc, err
	}
	return rc, rc.plan()
}

// buildConfig reads the profile (if any) and builds the run's spec from
// what the user typed and the profile (runspec.Build), then the run's own
// settings. Nothing is resolved or started (plan); errors are usage
// errors naming the flag, or the profile's file and line. A reload calls
// it again with the same typed values: the profile is read anew, the
// command line is not.
func buildConfig(typed runspec.Values) (*runConfig, error) {
	rc := &runConfig{typed: typed}
	if name := typed.String("profile"); name != "" {
		p, err := profiles.Load(name, knownKeys())
		if err != nil {
			return rc, usagef("--profile: %v", err)
		}
		rc.profile = p
	}
	spec, err := runspec.Build(runspec.Source{Typed: typed, Profile: rc.profile, Define: defineRunFlags,
		Explain: func(key, value string, err error) string {
			return wants(flagNamed(runFlags(), key), value, err.Error())
		}})
	if err != nil {
		return rc, err
	}
	rc.spec, rc.opts = spec, spec.Options()
	if err := rc.runSettings(spec.Top); err != nil {
		return rc, err
	}
	return rc, nil
}

// plan does the spec's I/O (runspec.Spec.Plan: DNS, the file limit,
// memory) and takes its groups, now resolved.
func (rc *runConfig) plan() error {
	if err := rc.spec.Plan(); err != nil {
		return err
	}
	rc.opts.Groups = rc.spec.Groups()
	return nil
}

// runSettings reads the run's own settings that are the command's
// outputs: files, gates, traces.
func (rc *runConfig) runSettings(c runspec.Values) error {
	rc.quiet, rc.summary, rc.hlog = c.Bool("quiet"), c.String("summary"), c.String("hlog")
	rc.metricsAddr, rc.failOn, rc.cpuprofile = c.String("metrics-addr"), c.String("fail-on"), c.String("cpuprofile")
	if err := rc.checkGates(); err != nil {
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

// checkGates checks --metrics-addr, --fail-on and the output files.
func (rc *runConfig) checkGates() error {
	if a := rc.metricsAddr; a != "" {
		if err := checkListenAddr("--metrics-addr", a); err != nil {
			return err
		}
	}
	if e := rc.failOn; e != "" {
		if _, err := metrics.ParseThresholds(e); err != nil {
			return usagef("--fail-on: %v", err)
		}
	}
	for _, o := range []struct{ flag, path string }{{"--hlog", rc.hlog}, {"--cpuprofile", rc.cpuprofile}, {"--summary", rc.summary}} {
		if o.path != "-" || o.flag != "--summary" {
			if err := checkOutput(o.flag, o.path); err != nil {
				return err
			}
		}
	}
	return nil
}

// defineRunFlags adds the run's flags to fs: a profile's values are
// parsed by them.
func defineRunFlags(fs *flag.FlagSet) error {
	for _, f := range runFlags() {
		if err := f.Apply(fs); err != nil {
			return usagef("%v", err)
		}
	}
	return nil
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
		return nil, usageError{Msg: msg}
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
