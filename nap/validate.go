package nap

import (
	"fmt"
	"time"

	"github.com/regstorm/regstorm/sipwire"
)

// FieldError is a Config value the machine cannot run with. Field is the
// setting as the command line and profiles spell it (expires, t2, …), so
// that the caller names the flag or key; Msg starts with the value.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + " " + e.Msg }

// Validate checks c: these rules are the machine's, and every caller
// (the command line, a profile's group, a reload, the engine) applies
// them through here, once.
func (c Config) Validate() error {
	bad := func(field, format string, a ...any) error {
		return &FieldError{Field: field, Msg: fmt.Sprintf(format, a...)}
	}
	for _, t := range []struct {
		field string
		d     time.Duration
	}{{"t1", c.T1}, {"t2", c.T2}, {"timer-f", c.TimerF}, {"retry", c.Retry}} {
		if t.d <= 0 {
			return bad(t.field, "%v: must be positive", t.d)
		}
	}
	switch {
	case c.Transport > sipwire.WSS:
		return bad("transport", "%v: not supported", c.Transport)
	case c.Expires == 0: // a uint32 is within RFC 3261's delta-seconds
		return bad("expires", "%d: want 1..%d seconds", c.Expires, uint64(sipwire.MaxDelta))
	case c.ExpiresJitter >= c.Expires:
		return bad("expires-jitter", "%d: want 0 up to --expires %d less 1", c.ExpiresJitter, c.Expires)
	case c.T2 < c.T1:
		return bad("t2", "%v: must not be below --t1 %v", c.T2, c.T1)
	case c.TimerF < c.T1:
		return bad("timer-f", "%v: must not be below --t1 %v (RFC 3261: 64*T1)", c.TimerF, c.T1)
	}
	return nil
}
