package main

import (
	"github.com/urfave/cli/v2"

	"github.com/regstorm/regstorm/trace"
)

// traceFlags are --trace and its selectors (SIPp's -trace_msg habits).
func traceFlags() []cli.Flag { return nil }

// openTrace checks the trace flags and returns the --trace sink (nil
// when not asked). Nothing is created before the run starts: the file
// appears with the first message.
func openTrace(c *cli.Context) (trace.Sink, error) { return nil, nil }
