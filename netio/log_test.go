package netio

import (
	"fmt"
	"testing"
)

// gnet's errors go to the Logf given, Fatalf included: netio ends no
// program and writes to no stream of its own.
func TestQuietLoggerPassesErrorsOn(t *testing.T) {
	var got []string
	q := quiet{logf: func(f string, a ...any) { got = append(got, fmt.Sprintf(f, a...)) }}
	q.Debugf("d")
	q.Infof("i")
	q.Warnf("w")
	q.Errorf("e %d", 1)
	q.Fatalf("f %d", 2)
	if len(got) != 2 || got[0] != "gnet: e 1" || got[1] != "gnet: f 2" {
		t.Errorf("logged %q, want the error and the fatal one, as gnet: ...", got)
	}
	quiet{}.Errorf("dropped") // nil Logf: nothing, and no panic
}
