package runspec

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/regstorm/regstorm/locate"
)

// ParseStartAt reads --start-at: an RFC 3339 time with its zone
// (2026-11-30T12:00:00Z, 2026-11-30T13:00:00.5+01:00) or Unix seconds
// (1764504000, 1764504000.25).
func ParseStartAt(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	whole, frac, dot := strings.Cut(s, ".")
	if !locate.AllDigits(whole) || (dot && !locate.AllDigits(frac)) {
		return time.Time{}, errors.New("want an RFC 3339 time with its zone (2026-11-30T12:00:00Z) or Unix seconds (1764504000)")
	}
	if len(whole) > 11 { // year 5138 and on: milliseconds, or a typo
		return time.Time{}, errors.New("too large for Unix seconds (milliseconds?)")
	}
	sec, _ := strconv.ParseInt(whole, 10, 64)
	var ns int64
	if dot {
		f, _ := strconv.ParseFloat("0."+frac, 64)
		ns = int64(math.Round(f * 1e9))
	}
	return time.Unix(sec, ns), nil
}
