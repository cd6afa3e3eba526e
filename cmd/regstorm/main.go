// Command regstorm simulates many SIP gateways keeping their registrations
// alive at a registrar, and measures how it copes. This package turns flags
// into engine and registrar options; the work happens there.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/regstorm/regstorm/runspec"
)

// usageError is a bad flag, file or value: exit 2, nothing started.
type usageError = runspec.UsageError

var usagef = runspec.Usagef

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run is main without os.Exit, for tests: it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	return runIn(realWorld(), args, stdout, stderr)
}

// runIn is run in world w: the real one, or a simulated one for a test
// of the whole command in simulated time.
func runIn(w world, args []string, stdout, stderr io.Writer) int {
	app := newApp(w, stdout, stderr)
	app.Metadata = map[string]any{"args": args} // a capacity search reads its run flags from it
	err := app.Run(flagsFirst(args))
	var ue usageError
	var ec cli.ExitCoder
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "regstorm: %s\n", ue.Msg)
		return 2
	case errors.As(err, &ec):
		if msg := ec.Error(); msg != "" {
			fmt.Fprintf(stderr, "regstorm: %s\n", msg)
		}
		return ec.ExitCode()
	default:
		// Flag parsing errors from urfave/cli ("flag provided but not
		// defined", a bad number): usage errors too.
		fmt.Fprintf(stderr, "regstorm: %v\n", err)
		return 2
	}
}

func newApp(w world, stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:      "regstorm",
		Usage:     "simulate many SIP gateways keeping their registrations alive, and measure the registrar",
		UsageText: "regstorm [run] [flags]   |   regstorm registrar [flags]",
		Writer:    stdout, ErrWriter: stderr,
		Version:        version(),
		Flags:          runFlags(),
		Action:         func(c *cli.Context) error { return runLoad(w, c, stdout, stderr) },
		OnUsageError:   onUsageError(runFlags, true),
		ExitErrHandler: func(*cli.Context, error) {}, // run() decides exit codes
		Commands: []*cli.Command{
			{
				Name: "run", Usage: "run the load (the default command)", Flags: runFlags(),
				Action:       func(c *cli.Context) error { return runLoad(w, c, stdout, stderr) },
				OnUsageError: onUsageError(runFlags, false),
			},
			{
				Name: "merge", Usage: "merge the .hlog files of shards into one summary (or a capacity schedule's shards' --summary files into its result)", ArgsUsage: "a.hlog b.hlog ...",
				Flags:        mergeFlags(),
				Action:       func(c *cli.Context) error { return runMerge(c, stdout, stderr) },
				OnUsageError: onUsageError(mergeFlags, false),
			},
			{
				Name: "report", Usage: "render a summary JSON as one self-contained HTML page", ArgsUsage: "summary.json",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "html", Value: "report.html", Usage: "write the page to `FILE`"},
					&cli.StringFlag{Name: "title", Usage: "page title (default: the summary file's name)"},
				},
				Action:       func(c *cli.Context) error { return runReport(c, stderr) },
				OnUsageError: func(c *cli.Context, err error, _ bool) error { return usagef("%v", err) },
			},
			{
				Name: "registrar", Usage: "run the embedded registrar alone", Flags: registrarFlags(),
				Action:       func(c *cli.Context) error { return runRegistrar(c, stderr) },
				OnUsageError: onUsageError(registrarFlags, false),
			},
			{
				Name: "capacity", Usage: "find the registrar's registration rate with no failure (RFC 7502)", Flags: append(runFlags(), capacityFlags()...),
				Action:       func(c *cli.Context) error { return runCapacity(c, stdout, stderr) },
				OnUsageError: func(c *cli.Context, err error, _ bool) error { return usagef("%v", err) },
			},
		},
	}
}

func mergeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "summary", Value: "-", Usage: "write the merged JSON summary to `FILE`, or - for stdout"},
		&cli.StringFlag{Name: "fail-on", Usage: "exit 1 when a condition holds for the merged summary"},
		&cli.IntFlag{Name: "shards", Usage: "the files must be shards 0 .. `N`-1 of one run, each once", DefaultText: "N as the files say", EnvVars: env("shards")},
		&cli.StringFlag{Name: "warnings", Usage: "write the merge's warnings (shards that began apart) to `FILE` instead of stderr, e.g. a pod's /dev/termination-log, so that its log is the summary alone"},
	}
}

// flagsFirst lets `regstorm report s.json --html out.html` and `regstorm
// merge a.hlog b.hlog --summary -` work as docs/cli.md writes them: urfave/cli
// stops reading flags at the first file name, so for these two commands
// (whose flags all take a value) the flags are moved before the files.
func flagsFirst(args []string) []string {
	if len(args) < 3 || (args[1] != "report" && args[1] != "merge") {
		return args
	}
	var flags, files []string
	rest := args[2:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			files = append(files, rest[i+1:]...)
			i = len(rest)
		case strings.HasPrefix(a, "-") && a != "-":
			flags = append(flags, a)
			if !strings.Contains(a, "=") && i+1 < len(rest) {
				i++
				flags = append(flags, rest[i])
			}
		default:
			files = append(files, a)
		}
	}
	out := append([]string{args[0], args[1]}, flags...)
	return append(out, files...)
}

// What a run does with each signal (README "Signals"): none ends it
// without its drain and summary. SIGKILL aside, only a second stop signal
// quits at once.
var (
	// Stop: un-REGISTER, drain, write the summary, exit. SIGQUIT (Ctrl-\\)
	// and SIGABRT would otherwise dump goroutines and exit; SIGXCPU comes
	// before the hard CPU limit's SIGKILL.
	stopSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGABRT, syscall.SIGXCPU}
	// Go on, with a line on stderr. SIGHUP (a closed terminal) would
	// otherwise kill the run; SIGPIPE would, on a closed stdout or stderr
	// (regstorm 2>&1 | head), and the writes now fail with EPIPE instead.
	ignoreSignals = []os.Signal{syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGPIPE}
)

// signalContext is the run's: cancelled by the first stop signal; a
// second one exits at once (128+signal). SIGHUP asks for the profile to
// be applied again, on hup.
func signalContext(stderr io.Writer, hup, usr1, usr2 chan<- struct{}) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, append(append([]os.Signal{}, stopSignals...), ignoreSignals...)...)
	done := make(chan struct{})
	go func() {
		stopping, piped := false, false
		for {
			var sig syscall.Signal
			select {
			case s := <-ch:
				sig = s.(syscall.Signal)
			case <-done:
				return
			}
			name := unix.SignalName(sig)
			switch sig {
			case syscall.SIGHUP:
				select {
				case hup <- struct{}{}:
				default: // one is pending: it reads the newest profile anyway
				}
			case syscall.SIGUSR1:
				select {
				case usr1 <- struct{}{}: // the run prints its census
				default:
				}
			case syscall.SIGUSR2:
				if usr2 == nil {
					fmt.Fprintf(stderr, "regstorm: %s ignored; the run goes on\n", name)
					break
				}
				select {
				case usr2 <- struct{}{}: // a reboot (--reboot-fraction)
				default:
				}
			case syscall.SIGPIPE:
				if !piped { // once: a closed progress pipe raises it every second
					piped = true
					// Not only stdout or stderr: with SIGPIPE notified, a write
					// to a TCP connection the peer has reset raises it too.
					fmt.Fprintln(stderr, "regstorm: SIGPIPE: a write met a closed pipe or connection (stdout or stderr closed, or a peer that reset its TCP connection); the run goes on")
				}
			default:
				if stopping {
					fmt.Fprintf(stderr, "regstorm: %s again: quit\n", name)
					os.Exit(128 + int(sig))
				}
				stopping = true
				fmt.Fprintf(stderr, "\nregstorm: %s: stopping: un-registering (a second Ctrl-C or signal quits at once)\n", name)
				cancel()
			}
		}
	}()
	return ctx, func() { signal.Stop(ch); close(done); cancel() }
}

// version is the module version (or "(devel)"), the VCS revision the
// binary was built from when known, and the Go version.
func version() string {
	v, rev, dirty := "(devel)", "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if rev != "" {
		v += ", revision " + rev[:min(12, len(rev))]
		if dirty {
			v += " with local changes"
		}
	}
	return v + ", " + runtime.Version()
}

// isTTY reports whether w is a terminal (live progress rewrites a line).
func isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func env(name string) []string {
	return []string{"REGSTORM_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))}
}

// logTo is a Logf writing each line to w after prefix: where the
// libraries' errors go (they write nowhere of their own accord).
func logTo(w io.Writer, prefix string) func(string, ...any) {
	return func(f string, a ...any) { fmt.Fprintf(w, prefix+f+"\n", a...) }
}
