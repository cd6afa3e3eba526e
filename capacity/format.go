package capacity

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/regstorm/regstorm/metrics"
)

// count writes n with its thousands apart, as regstorm's docs do: 50 000.
func count(n int64) string { return metrics.Thousands(float64(n)) }

// rate writes a rate per second, whole: 2 310.
func rate(r float64) string { return metrics.Thousands(r) }

// pct writes a percentage with one decimal, without a useless one: 92.5, 97.
func pct(p float64) string { return metrics.OneDecimal(p) }

// msText writes milliseconds to about three significant digits.
func msText(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return trim(strconv.FormatFloat(v, 'f', 1, 64))
	default:
		return trim(strconv.FormatFloat(v, 'f', 2, 64))
	}
}

// secText writes a duration in seconds: 0.4 s, 12 s.
func secText(d time.Duration) string {
	s := d.Seconds()
	if s < 10 {
		return trim(strconv.FormatFloat(s, 'f', 1, 64)) + " s"
	}
	return strconv.FormatFloat(math.Round(s), 'f', 0, 64) + " s"
}

func trim(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
