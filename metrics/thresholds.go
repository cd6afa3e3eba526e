package metrics

import (
	"fmt"
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
//	          | rate                                   REGISTER/s
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

var latencyMetrics = map[string]bool{
	"p50": true, "p90": true, "p99": true, "p999": true, "max": true,
	"reg_p50": true, "reg_p99": true, "reg_max": true, "corrected_p99": true, "refresh_error_p99": true,
}

var countMetrics = map[string]bool{
	"registered": true, "unregistered": true, "requests": true, "retransmissions": true, "timeouts": true,
	"auth_challenges": true, "malformed": true, "connect_failures": true, "connections_lost": true,
	"rate": true, "4xx": true, "5xx": true, "6xx": true,
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
		_, isCode := strconv.Atoi(t.metric)
		switch {
		case latencyMetrics[t.metric]:
			switch unit {
			case "", "ms":
			case "us":
				v /= 1000
			case "s":
				v *= 1000
			default:
				return nil, fmt.Errorf("%q: latency unit must be us, ms or s", raw)
			}
		case countMetrics[t.metric] || isCode == nil:
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
	case "p50":
		return s.LatencyMS.P50
	case "p90":
		return s.LatencyMS.P90
	case "p99":
		return s.LatencyMS.P99
	case "p999":
		return s.LatencyMS.P999
	case "max":
		return s.LatencyMS.Max
	case "reg_p50":
		return s.RegistrationMS.P50
	case "reg_p99":
		return s.RegistrationMS.P99
	case "reg_max":
		return s.RegistrationMS.Max
	case "corrected_p99":
		return s.CorrectedMS.P99
	case "refresh_error_p99":
		return s.RefreshErrorMS.P99
	case "registered", "unregistered":
		n := float64(s.Registered)
		if t.metric == "unregistered" {
			n = float64(s.Unregistered)
		}
		if t.pct {
			if s.NAPs == 0 {
				return 0
			}
			return 100 * n / float64(s.NAPs)
		}
		return n
	case "requests":
		return float64(s.Requests)
	case "retransmissions":
		return float64(s.Retransmissions)
	case "timeouts":
		return float64(s.Timeouts)
	case "auth_challenges":
		return float64(s.AuthChallenges)
	case "malformed":
		return float64(s.Malformed)
	case "connect_failures":
		return float64(s.ConnectFailures)
	case "connections_lost":
		return float64(s.ConnectionsLost)
	case "rate":
		return s.RegisterRatePerS
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
	return float64(s.Responses[t.metric])
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
			lines = append(lines, fmt.Sprintf("%s (measured %s)", t.Text, strconv.FormatFloat(t.Value(s), 'f', -1, 64)))
		}
	}
	return lines
}
