package main

import (
	"bytes"
	"strings"
	"testing"
)

// A search without a target, or in a mode not built, or with search
// settings that do not hold, is refused before anything starts.
func TestCapacityBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"regstorm", "capacity"}, "--target"},
		{[]string{"regstorm", "capacity", "--target", "sip:127.0.0.1:9", "--mode", "refresh"}, "--mode refresh"},
		{[]string{"regstorm", "capacity", "--target", "sip:127.0.0.1:9", "--start-rate", "0"}, "start rate"},
		{[]string{"regstorm", "capacity", "--target", "sip:127.0.0.1:9", "--transport", "carrier-pigeon"}, "--transport"},
	} {
		var out, errb bytes.Buffer
		if code := run(c.args, &out, &errb); code != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, %q (want 2 naming %s)", c.args, code, errb.String(), c.want)
		}
	}
}

// The run's flags read a search's command line without the subcommand
// and the search's own flags, values included.
func TestRunArgsOfACapacitySearch(t *testing.T) {
	got := strings.Join(runArgsOf([]string{"regstorm", "capacity", "--target", "sip:h", "--mode", "register", "--max-time=5m",
		"--run-failing-trials", "--transport", "tcp", "--trial-duration", "5s"}), " ")
	if got != "regstorm --target sip:h --transport tcp" {
		t.Errorf("%s", got)
	}
}
