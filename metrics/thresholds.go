package metrics

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Threshold is one --fail-on condition: the run fails when
// "<metric> <op> <value>" holds for its summary.
//
// Grammar (comma-separated conditions, white space ignored):
//
//	condition = metric op number [unit]
//	op        = ">" | ">=" | "<" | "<=" | "==" | "!="
//	metric    = p50 | p90 | p99 | p999 | max          transaction latency (ms)
//	          | reg_p50 | reg_p99 | reg_max            registration latency (ms)
//	          | corrected_p99 | refresh_error_p99      coordinated-omission view (ms)
//	          | registered | unregistered              NAPs (count, or % of NAPs)
//	          | requests | retransmissions | timeouts | auth_challenges
//	          | malformed | connect_failures | connections_lost
//	          | rate                                   REGISTER/s of the load phase
//	          | unregister_failed                      bindings the drain did not remove
//	          | capacity                               a capacity search's rate (per second)
//	          | 4xx | 5xx | 6xx | <code>               responses (401, 407, 423 excluded from 4xx)
//	unit      = us | ms | s  (latency; default ms)  |  %  (registered, unregistered)
//
// Example: "p99>50ms,timeouts>0,registered<100%,rate<5000".
type Threshold struct {
	Text   string
	metric string
	op     string
	value  float64
	pct    bool
}

// metric is one name the grammar knows: how to read it from a summary,
// and whether it is a latency (units us/ms/s) or a count.
type metric struct {
	latency bool
	value   func(s *Summary) float64
}

func countMetric(n func(s *Summary) int64) metric {
	return metric{value: func(s *Summary) float64 { return float64(n(s)) }}
}

func latencyMetric(ms func(s *Summary) float64) metric { return metric{latency: true, value: ms} }

// metricTable is the one table behind both parsing and evaluation. The
// percent form of registered/unregistered, response classes and single
// codes are handled in Value.
var metricTable = map[string]metric{
	"p50":               latencyMetric(func(s *Summary) float64 { return s.LatencyMS.P50 }),
	"p90":               latencyMetric(func(s *Summary) float64 { return s.LatencyMS.P90 }),
	"p99":               latencyMetric(func(s *Summary) float64 { return s.LatencyMS.P99 }),
	"p999":              latencyMetric(func(s *Summary) float64 { return s.LatencyMS.P999 }),
	"max":               latencyMetric(func(s *Summary) float64 { return s.LatencyMS.Max }),
	"reg_p50":           latencyMetric(func(s *Summary) float64 { return s.RegistrationMS.P50 }),
	"reg_p99":           latencyMetric(func(s *Summary) float64 { return s.RegistrationMS.P99 }),
	"reg_max":           latencyMetric(func(s *Summary) float64 { return s.RegistrationMS.Max }),
	"corrected_p99":     latencyMetric(func(s *Summary) float64 { return s.CorrectedMS.P99 }),
	"refresh_error_p99": latencyMetric(func(s *Summary) float64 { return s.RefreshErrorMS.P99 }),
	"registered":        countMetric(func(s *Summary) int64 { return s.Registered }),
	"unregistered":      countMetric(func(s *Summary) int64 { return s.Unregistered }),
	"requests":          countMetric(func(s *Summary) int64 { return s.Requests }),
	"retransmissions":   countMetric(func(s *Summary) int64 { return s.Retransmissions }),
	"timeouts":          countMetric(func(s *Summary) int64 { return s.Timeouts }),
	"auth_challenges":   countMetric(func(s *Summary) int64 { return s.AuthChallenges }),
	"malformed":         countMetric(func(s *Summary) int64 { return s.Malformed }),
	"connect_failures":  countMetric(func(s *Summary) int64 { return s.ConnectFailures }),
	"connections_lost":  countMetric(func(s *Summary) int64 { return s.ConnectionsLost }),
	"rate":              {value: func(s *Summary) float64 { return s.RegisterRatePerS }},
	"unregister_failed": countMetric(func(s *Summary) int64 { return s.Drain.Left() }),
	"capacity":          {value: capacityRate},
	"4xx":               {}, "5xx": {}, "6xx": {}, // response classes: Value counts them
}

// ParseThresholds parses a --fail-on expression; the error names the
// condition that is wrong.
func ParseThresholds(expr string) ([]Threshold, error) {
	var out []Threshold
	for _, raw := range strings.Split(expr, ",") {
		c := strings.Join(strings.Fields(raw), "")
		if c == "" {
			continue
		}
		i := strings.IndexAny(c, "<>=!")
		if i <= 0 {
			return nil, fmt.Errorf("%q: want metric, operator, value (e.g. p99>50ms)", raw)
		}
		t := Threshold{Text: c, metric: strings.ToLower(c[:i])}
		rest := c[i:]
		for _, op := range []string{">=", "<=", "==", "!=", ">", "<"} {
			if strings.HasPrefix(rest, op) {
				t.op, rest = op, rest[len(op):]
				break
			}
		}
		if t.op == "" {
			return nil, fmt.Errorf("%q: unknown operator", raw)
		}
		num, unit := splitUnit(rest)
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || num == "" {
			return nil, fmt.Errorf("%q: %q is not a number", raw, num)
		}
		m, known := metricTable[t.metric]
		_, isCode := strconv.Atoi(t.metric)
		switch {
		case known && m.latency:
			switch unit {
			case "", "ms":
			case "us":
				v /= 1000
			case "s":
				v *= 1000
			default:
				return nil, fmt.Errorf("%q: latency unit must be us, ms or s", raw)
			}
		case known || isCode == nil:
			switch {
			case unit == "":
			case unit == "%" && (t.metric == "registered" || t.metric == "unregistered"):
				t.pct = true
			default:
				return nil, fmt.Errorf("%q: unit %q does not apply to %s", raw, unit, t.metric)
			}
		default:
			return nil, fmt.Errorf("%q: unknown metric %q", raw, t.metric)
		}
		t.value = v
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no condition in %q", expr)
	}
	return out, nil
}

func splitUnit(s string) (num, unit string) {
	i := len(s)
	for i > 0 && (s[i-1] < '0' || s[i-1] > '9') && s[i-1] != '.' {
		i--
	}
	return s[:i], strings.ToLower(s[i:])
}

// Value is the metric's value in s (ms for latencies, % when asked).
func (t Threshold) Value(s *Summary) float64 {
	switch t.metric {
	case "4xx", "5xx", "6xx":
		var n int64
		for code, v := range s.Responses {
			c, _ := strconv.Atoi(code)
			if c/100 == int(t.metric[0]-'0') && c != 401 && c != 407 && c != 423 {
				n += v
			}
		}
		return float64(n)
	}
	m, ok := metricTable[t.metric]
	if !ok {
		return float64(s.Responses[t.metric]) // a single status code
	}
	v := m.value(s)
	if t.pct {
		if s.NAPs == 0 {
			return 0
		}
		return 100 * v / float64(s.NAPs)
	}
	return v
}

// Crossed reports whether the failure condition holds.
func (t Threshold) Crossed(s *Summary) bool {
	v := t.Value(s)
	switch t.op {
	case ">":
		return v > t.value
	case ">=":
		return v >= t.value
	case "<":
		return v < t.value
	case "<=":
		return v <= t.value
	case "==":
		return v == t.value
	}
	return v != t.value
}

// Check records every crossed condition in s.ThresholdsFailed and returns
// one line per crossing, with the measured value.
func Check(ts []Threshold, s *Summary) []string {
	var lines []string
	for _, t := range ts {
		if t.Crossed(s) {
			s.ThresholdsFailed = append(s.ThresholdsFailed, t.Text)
			lines = append(lines, fmt.Sprintf("%s (measured %s)", t.Text, t.measured(s)))
		}
	}
	return lines
}

// measured is the value, rounded, with the condition's unit: ms for
// latencies, % or /s where they apply, none for a count.
func (t Threshold) measured(s *Summary) string {
	v := t.Value(s)
	round := func(digits int) string {
		p := math.Pow(10, float64(digits))
		return strconv.FormatFloat(math.Round(v*p)/p, 'f', -1, 64)
	}
	switch {
	case metricTable[t.metric].latency:
		return round(2) + "ms"
	case t.pct:
		return round(2) + "%"
	case t.metric == "rate" || t.metric == "capacity":
		return round(1) + "/s"
	}
	return round(0)
}

// capacityRate is a capacity search's rate_per_s (0 without one).
func capacityRate(s *Summary) float64 {
	var c struct {
		RatePerS float64 `json:"rate_per_s"`
	}
	if len(s.Capacity) == 0 || json.Unmarshal(s.Capacity, &c) != nil {
		return 0
	}
	return c.RatePerS
}
