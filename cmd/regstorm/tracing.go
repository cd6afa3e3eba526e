package main

import (
	"errors"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/regstorm/regstorm/runspec"
	"github.com/regstorm/regstorm/trace"
)

// traceFlags are --trace and its selectors (SIPp's -trace_msg habits).
func traceFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "trace", Usage: "write every SIP message sent and received to `FILE`, in SIPp's -trace_msg layout (addresses and NAP after the time on each separator line)", EnvVars: env("trace")},
		&cli.StringFlag{Name: "trace-naps", Usage: "with --trace: only these NAPs, e.g. 0-9,42 (every group) or edge:0-9 (one group)", EnvVars: env("trace-naps")},
		&cli.BoolFlag{Name: "trace-errors", Usage: "with --trace: only the transactions that ended badly (timeout, refusal, malformed, stale …), each with all its messages", EnvVars: env("trace-errors")},
		&cli.StringFlag{Name: "trace-max", Value: "1GiB", Usage: "with --trace: the file's size bound (B, KiB, MiB, GiB, TiB); past it a final note, and nothing more", EnvVars: env("trace-max")},
	}
}

// openTrace checks the trace flags and returns the --trace sink (nil
// when not asked) and its file. Nothing is created before the run starts:
// the file appears with the first message.
func openTrace(c runspec.Values) (trace.Sink, *outFile, error) {
	path := c.String("trace")
	max, err := parseSize(c.String("trace-max"))
	if err != nil {
		return nil, nil, usagef("--trace-max %q: %v", c.String("trace-max"), err)
	}
	var sel *trace.Selection
	if s := c.String("trace-naps"); c.IsSet("trace-naps") {
		if sel, err = trace.ParseSelection(s); err != nil {
			return nil, nil, usagef("--trace-naps: %v", err)
		}
	}
	if path == "" {
		for _, f := range []string{"trace-naps", "trace-errors", "trace-max"} {
			if c.IsSet(f) {
				return nil, nil, usagef("--%s: only with --trace FILE", f)
			}
		}
		return nil, nil, nil
	}
	if path == "-" {
		return nil, nil, usagef("--trace -: give a file (the trace would mix with the summary and progress)")
	}
	if err := checkOutput("--trace", path); err != nil {
		return nil, nil, err
	}
	// The trace says a failure itself, when it happens (SetStderr).
	f := newOutFile("--trace", path, nil)
	f.begin()
	open := func() (io.WriteCloser, error) { return f, nil }
	return trace.NewTextTo(path, open, trace.TextOptions{Max: max, NAPs: sel, ErrorsOnly: c.Bool("trace-errors")}), f, nil
}

// traceStderr points the --trace sink's one-line notices at stderr.
func traceStderr(s trace.Sink, stderr io.Writer) {
	for _, x := range trace.Sinks(s) {
		if t, ok := x.(*trace.Text); ok {
			t.SetStderr(stderr)
		}
	}
}

// parseSize reads a byte count: a number with an optional unit B, KiB,
// MiB, GiB or TiB (K, M, G, T alike: powers of 1024).
func parseSize(s string) (int64, error) {
	num := strings.TrimRight(strings.TrimSpace(s), "BbiI")
	unit := int64(1)
	if n := len(num); n > 0 {
		switch num[n-1] {
		case 'k', 'K':
			unit = 1 << 10
		case 'm', 'M':
			unit = 1 << 20
		case 'g', 'G':
			unit = 1 << 30
		case 't', 'T':
			unit = 1 << 40
		}
		if unit > 1 {
			num = num[:n-1]
		}
	}
	v, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || v <= 0 || v > math.MaxInt64/unit {
		return 0, errSize
	}
	return v * unit, nil
}

var errSize = errors.New("want a size above 0 such as 500MiB, 2GiB or 100000 (bytes)")
