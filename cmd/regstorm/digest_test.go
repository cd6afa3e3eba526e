package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/regstorm/regstorm/digestfast"
	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/runspec"
)

// --digest-choice (and REGSTORM_DIGEST_CHOICE) reaches the NAPs' config;
// the default is the topmost challenge (RFC 8760 §2.4).
func TestDigestChoiceFlag(t *testing.T) {
	parse := func(args ...string) (digestfast.Choice, error) {
		var g engine.Group
		var err error
		app := &cli.App{Flags: runFlags(), Writer: io.Discard, ErrWriter: io.Discard,
			Action: func(c *cli.Context) error {
				var l *runspec.Level
				if l, err = runspec.ReadLevel(c); l != nil {
					g = l.Group
				}
				return nil
			}}
		if rerr := app.Run(append([]string{"regstorm"}, args...)); rerr != nil {
			return 0, rerr
		}
		return g.NAP.DigestChoice, err
	}
	for _, tc := range []struct {
		args []string
		want digestfast.Choice
	}{
		{nil, digestfast.First},
		{[]string{"--digest-choice", "first"}, digestfast.First},
		{[]string{"--digest-choice", "strongest"}, digestfast.Strongest},
	} {
		if got, err := parse(tc.args...); err != nil || got != tc.want {
			t.Errorf("%v: %v (%v), want %v", tc.args, got, err, tc.want)
		}
	}
	t.Setenv("REGSTORM_DIGEST_CHOICE", "strongest")
	if got, err := parse(); err != nil || got != digestfast.Strongest {
		t.Errorf("REGSTORM_DIGEST_CHOICE=strongest: %v (%v)", got, err)
	}

	var out, errb bytes.Buffer
	if code := run([]string{"regstorm", "--digest-choice", "best"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--digest-choice") {
		t.Errorf("--digest-choice best: exit %d, stderr %q (want 2 naming the flag)", code, errb.String())
	}
}
