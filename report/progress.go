package report

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/regstorm/regstorm/metrics"
)

// ProgressLine is one line of live progress. Latencies with no sample
// yet read "-", not 0; failures are refusals by code and timeouts (a 401
// answered with credentials is part of a registration, not a failure).
func ProgressLine(elapsed time.Duration, t *metrics.Totals, naps int, rate float64) string {
	lat := "p50 - p99 -"
	if t.Transaction.TotalCount() > 0 {
		p := metrics.PercentilesOf(t.Transaction)
		lat = fmt.Sprintf("p50 %.2fms p99 %.2fms", p.P50, p.P99)
	}
	codes := make([]int, 0, len(t.Refusals))
	for code := range t.Refusals {
		codes = append(codes, code)
	}
	sort.Ints(codes)
	var fails []string
	for _, code := range codes {
		fails = append(fails, fmt.Sprintf("%d:%d", code, t.Refusals[code]))
	}
	line := fmt.Sprintf("%6.1fs registered %d/%d  REGISTER/s %.0f  %s  retrans %d timeouts %d",
		elapsed.Seconds(), t.Registered, naps, rate, lat, t.Retransmissions, t.Timeouts)
	if len(fails) > 0 {
		line += "  refused " + strings.Join(fails, " ")
	}
	return line + handshakes(t) + targets(t) + keepalives(t)
}

// keepalives is the progress line's part on keep-alive pings.
func keepalives(t *metrics.Totals) string {
	if t.KeepalivesSent == 0 {
		return ""
	}
	s := fmt.Sprintf("  pings %d answered %d failed %d", t.KeepalivesSent, t.KeepalivesAnswered, t.KeepaliveFailures)
	if t.Keepalive != nil && t.Keepalive.TotalCount() > 0 {
		p := metrics.PercentilesOf(t.Keepalive)
		s += fmt.Sprintf(" p50 %.2fms p99 %.2fms", p.P50, p.P99)
	}
	return s
}

// targets is the progress line's part on a group with several targets:
// NAPs registered at each, and failovers away from it.
func targets(t *metrics.Totals) string {
	if len(t.Targets) == 0 {
		return ""
	}
	names := make([]string, 0, len(t.Targets))
	for n := range t.Targets {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		c := t.Targets[n]
		p := fmt.Sprintf("%s:%d", n, c.Registered)
		if c.Failovers > 0 {
			p += fmt.Sprintf(" (failovers %d)", c.Failovers)
		}
		parts = append(parts, p)
	}
	return "  at " + strings.Join(parts, ", ")
}

// handshakes is the progress line's part on tls/ws/wss connections: TLS
// handshakes full and resumed, their latency, and failed dials by reason;
// nothing on a run without any.
func handshakes(t *metrics.Totals) string {
	var s string
	if t.Full+t.Resumed > 0 {
		s = fmt.Sprintf("  tls %d full %d resumed", t.Full, t.Resumed)
	}
	if t.Handshake != nil && t.Handshake.TotalCount() > 0 {
		p := metrics.PercentilesOf(t.Handshake)
		s += fmt.Sprintf("  handshake p50 %.2fms p99 %.2fms", p.P50, p.P99)
	}
	var fails []string
	for r, n := range t.Failed {
		if n > 0 {
			fails = append(fails, fmt.Sprintf("%s:%d", metrics.ConnectReason(r), n))
		}
	}
	if len(fails) > 0 {
		s += "  dial failed " + strings.Join(fails, " ")
	}
	return s
}
