package main

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/regstorm/regstorm/runspec"
	"github.com/urfave/cli/v2"
)

// A value that does not parse is said as the user wrote it, --flag VALUE,
// with what the flag wants, e.g. "--duration 10: a duration needs a unit,
// e.g. 10s or 5m", not Go's flag package's "invalid value "10" for flag
// -duration: parse error".

var (
	// Go's flag package, on the command line.
	badValueRE = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for (?:flag )?-([A-Za-z0-9-]+): (.*)$`)
	// urfave/cli, from an environment variable ("as value" for a generic
	// flag's).
	badEnvRE = regexp.MustCompile(`^could not parse "(.*)" (?:as [a-z0-9 ]+ value )?from environment variable "([A-Z0-9_]+)" (?:as value )?for flag ([A-Za-z0-9-]+): (.*)$`)
)

// explainFlagError rewrites a flag parsing error of urfave/cli or Go's
// flag package as "--flag VALUE: what it wants"; ok is false for other
// errors (an unknown flag, a missing value), left as they are.
func explainFlagError(err error, flags []cli.Flag) (string, bool) {
	msg := err.Error()
	if m := badValueRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("--%s %s: %s", m[2], m[1], wants(flagNamed(flags, m[2]), m[1], m[3])), true
	}
	if m := badEnvRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s=%s (--%s): %s", m[2], m[1], m[3], wants(flagNamed(flags, m[3]), m[1], m[4])), true
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return fmt.Sprintf("--%s needs a value", strings.TrimPrefix(name, "-")), true
	}
	return msg, false
}

// wants says what flag f takes, for the value v that did not parse with
// reason.
func wants(f cli.Flag, v, reason string) string {
	switch f := f.(type) {
	case *cli.DurationFlag:
		return runspec.DurationWant(v)
	case *cli.IntFlag, *cli.Int64Flag, *cli.UintFlag, *cli.Uint64Flag:
		return "want a whole number"
	case *cli.Float64Flag:
		return "want a number"
	case *cli.BoolFlag:
		return "want true or false"
	case *cli.GenericFlag:
		if _, ok := f.Value.(*secondsValue); ok {
			_, err := parseSeconds(v)
			if err != nil {
				return err.Error()
			}
		}
	}
	return reason
}

func flagNamed(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

// onUsageError is a command's OnUsageError: a usage error (exit 2), a
// value that did not parse said as explainFlagError says it; others with
// help's name when see is set.
func onUsageError(flags func() []cli.Flag, see bool) cli.OnUsageErrorFunc {
	return func(_ *cli.Context, err error, _ bool) error {
		if msg, ok := explainFlagError(err, flags()); ok {
			return usageError{Msg: msg}
		}
		if see {
			return usagef("%v (see regstorm --help)", err)
		}
		return usagef("%v", err)
	}
}

// secondsValue is a flag in whole seconds (a SIP interval: --expires,
// --expires-jitter, the registrar's --min-expires, --max-expires and
// --retry-after), given as integer seconds (3600) or a Go duration (1h).
type secondsValue struct{ n int64 }

func seconds(n int64) *secondsValue { return &secondsValue{n} }

func (v *secondsValue) Set(s string) error {
	n, err := parseSeconds(s)
	if err != nil {
		return err
	}
	v.n = n
	return nil
}

func (v *secondsValue) String() string {
	if v == nil {
		return "0"
	}
	return strconv.FormatInt(v.n, 10)
}

func (v *secondsValue) Get() any { return v.n }

var errSeconds = errors.New("want seconds, e.g. 3600, or a duration, e.g. 1h or 90m")

// parseSeconds reads integer seconds (3600, -1) or a Go duration in whole
// seconds (1h, 90m, 1h30m); ranges are the flag's to check.
func parseSeconds(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errSeconds
	}
	if d%time.Second != 0 {
		return 0, fmt.Errorf("%v is not whole seconds (%s)", d, errSeconds)
	}
	return int64(d / time.Second), nil
}

// secondsOf is the value of a secondsValue flag.
func secondsOf(c runspec.Values, name string) int64 {
	n, _ := c.Value(name).(int64)
	return n
}
