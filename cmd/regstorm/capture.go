package main

import (
	"github.com/urfave/cli/v2"

	"github.com/regstorm/regstorm/runspec"
	"github.com/regstorm/regstorm/trace"
)

// captureFlags are --pcap's.
func captureFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "pcap", Usage: "write every SIP message to a pcap `FILE` (tshark, Wireshark, sngrep) with the real addresses and ports in synthesised Ethernet/IP/UDP/TCP headers", EnvVars: env("pcap")},
	}
}

// openCapture checks --pcap and returns its sink (nil when not asked).
// Nothing is created before the run starts.
func openCapture(c runspec.Values) (trace.Sink, error) {
	p := c.String("pcap")
	if p == "" {
		return nil, nil
	}
	if err := checkOutput("--pcap", p); err != nil {
		return nil, err
	}
	return trace.NewPcap(p), nil
}
