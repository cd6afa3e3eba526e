package main

import (
	"github.com/urfave/cli/v2"

	"github.com/regstorm/regstorm/trace"
)

// captureFlags are --pcap's.
func captureFlags() []cli.Flag { return nil }

// openCapture checks --pcap and returns its sink (nil when not asked).
// Nothing is created before the run starts.
func openCapture(c *cli.Context) (trace.Sink, error) { return nil, nil }
