package runspec

import "fmt"

// UsageError is a bad flag, file or value: the command exits 2, nothing
// started. Msg names the flag (or the profile's file and line).
type UsageError struct{ Msg string }

func (e UsageError) Error() string { return e.Msg }

// Usagef makes a UsageError.
func Usagef(format string, a ...any) error { return UsageError{fmt.Sprintf(format, a...)} }

var usagef = Usagef
