package runspec

import (
	"fmt"
	"strconv"
	"strings"
)

// UsageError is a bad flag, file or value: the command exits 2, nothing
// started. Msg names the flag (or the profile's file and line).
type UsageError struct{ Msg string }

func (e UsageError) Error() string { return e.Msg }

// Usagef makes a UsageError.
func Usagef(format string, a ...any) error { return UsageError{fmt.Sprintf(format, a...)} }

var usagef = Usagef

// DurationWant is what a time flag wants, for v that is not a duration.
func DurationWant(v string) string {
	if _, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
		return "a duration needs a unit, e.g. " + strings.TrimSpace(v) + "s or 5m"
	}
	return "not a duration: want a number and a unit, e.g. 90s, 5m or 1h30m"
}
