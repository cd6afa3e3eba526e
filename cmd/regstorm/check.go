package main

// Checks of the run's own input that need more than a flag's type (output
// paths: outputs.go). A group's settings are read and checked by runspec.
// They all run before anything starts (docs/cli.md: exit 2, nothing
// started).

import (
	"net"
	"net/netip"
	"strconv"

	"github.com/regstorm/regstorm/locate"
)

// checkListenAddr checks the syntax of a host:port to listen on.
func checkListenAddr(flag, s string) error {
	host, port, err := net.SplitHostPort(s)
	p, perr := strconv.Atoi(port)
	if err != nil || !locate.AllDigits(port) || perr != nil || p > 65535 {
		return usagef("%s %q: want host:port, e.g. 127.0.0.1:9090", flag, s)
	}
	if _, err := netip.ParseAddr(host); err != nil && host != "" && !locate.IsHostName(host) {
		return usagef("%s %q: %q is not an address or a host name", flag, s, host)
	}
	return nil
}
