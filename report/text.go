package report

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/regstorm/regstorm/metrics"
)

// WriteText writes the short human summary a run ends with on stderr
// (docs/summary.md): registered, rate, latencies, timeouts, failures by code with
// an example NAP.
func WriteText(w io.Writer, s *metrics.Summary) error {
	var b strings.Builder
	fmt.Fprintf(&b, "regstorm: %d/%d NAPs registered, %d un-registered at the stop\n", s.Registered, s.NAPs, s.Unregistered)
	fmt.Fprintf(&b, "  %.0f REGISTER/s over the %.1f s of the load: %d requests in the whole run, %d retransmissions\n", s.RegisterRatePerS, s.DurationS, s.Requests, s.Retransmissions)
	fmt.Fprintf(&b, "  latency %s", LatencyText(s.LatencyMS))
	if s.Drain == nil && s.DrainLatencyMS.Count > 0 { // a summary older than the drain section
		fmt.Fprintf(&b, "; un-REGISTER p99 %.2f ms", s.DrainLatencyMS.P99)
	}
	fmt.Fprintf(&b, "\n  timeouts %d%s", s.Timeouts, example(s, "timeout"))
	if s.Abandoned > 0 {
		fmt.Fprintf(&b, ", abandoned %d", s.Abandoned)
	}
	if s.InFlight != nil && *s.InFlight > 0 {
		fmt.Fprintf(&b, ", in flight at the end %d", *s.InFlight)
	}
	fmt.Fprintf(&b, "\n  %s\n", Failures(s))
	if d := s.Drain; d != nil {
		fmt.Fprintf(&b, "  %s\n", drainLine(d))
	}
	if w := GeneratorWarning(s); w != "" {
		fmt.Fprintf(&b, "  WARNING: %s\n", w)
	}
	if h := s.Handshakes; h != nil {
		fmt.Fprintf(&b, "  handshakes: %d full, %d resumed TLS; p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
			h.Full, h.Resumed, h.LatencyMS.P50, h.LatencyMS.P99, h.LatencyMS.Max)
	}
	for _, ev := range s.Events {
		fmt.Fprintf(&b, "  %s at %.1f s: %d NAPs, %d registered again", ev.Kind, ev.AtS, ev.NAPs, ev.Back)
		if ev.To99S != nil {
			fmt.Fprintf(&b, ", 99 %% in %.2f s", *ev.To99S)
		}
		if ev.To100S != nil {
			fmt.Fprintf(&b, ", 100 %% in %.2f s", *ev.To100S)
		}
		fmt.Fprintf(&b, "; peak %.0f REGISTER/s, %d retransmissions, %d timeouts, %d 503s", ev.PeakRatePerS, ev.Retransmissions, ev.Timeouts, ev.Refused503)
		if l := ev.LatencyMS; l.Count > 0 {
			fmt.Fprintf(&b, "; latency p50 %.2f ms, p99 %.2f ms, max %.2f ms", l.P50, l.P99, l.Max)
		}
		b.WriteString("\n")
	}
	for _, st := range s.Stages {
		fmt.Fprintf(&b, "  %s\n", stageLine(st))
	}
	if len(s.ConnectFailureReasons) > 0 {
		reasons := make([]string, 0, len(s.ConnectFailureReasons))
		for r, n := range s.ConnectFailureReasons {
			reasons = append(reasons, fmt.Sprintf("%s ×%d", r, n))
		}
		sort.Strings(reasons)
		fmt.Fprintf(&b, "  dials failed: %s\n", strings.Join(reasons, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// NoneRegistered says why no NAP registered: with no answer at all from
// the target, that (and why no timeout is counted yet: Timer F had not
// run out for any REGISTER), else the timeouts and failures.
func NoneRegistered(s *metrics.Summary) string {
	var answers int64
	for _, n := range s.Responses {
		answers += n
	}
	if answers == 0 && s.Timeouts == 0 && s.ConnectFailures == 0 {
		return fmt.Sprintf("no NAP registered when the load ended: no answer from the target to any of %d requests; "+
			"Timer F (the transaction timeout, 32 s unless --timer-f says otherwise) had not yet run out for any REGISTER, so no timeout was counted", s.Requests)
	}
	return fmt.Sprintf("no NAP registered when the load ended (timeouts %d, %s)", s.Timeouts, Failures(s))
}

// GeneratorWarning says, when regstorm itself did not keep up, why, and
// what that means for the figures; "" when it kept up.
func GeneratorWarning(s *metrics.Summary) string {
	g := s.Generator
	if g == nil || !g.Limited {
		return ""
	}
	return "the generator did not keep up: " + strings.Join(g.Reasons, "; ") +
		". These figures may be regstorm's limit, not the registrar's: give it more cores, or shards (--shard)"
}

// LatencyText is "p50 X ms, p99 Y ms, max Z ms", or "no data" for a
// histogram with no value: never a measured-looking 0.
func LatencyText(p metrics.Percentiles) string {
	if p.Count == 0 {
		return "no data"
	}
	return fmt.Sprintf("p50 %.2f ms, p99 %.2f ms, max %.2f ms", p.P50, p.P99, p.Max)
}

// drainLine is the stop's line: its un-REGISTERs, their rate and
// latency, and the bindings it left at the registrar, by why.
func drainLine(d *metrics.DrainSummary) string {
	line := fmt.Sprintf("stop: %d un-REGISTER transactions at %.0f/s over %.1f s, %d un-registered, latency %s",
		d.Requests, d.RatePerS, d.DurationS, d.Unregistered, LatencyText(d.LatencyMS))
	left := d.Left()
	if left == 0 {
		return line + "; no binding left"
	}
	whys := make([]string, 0, len(d.UnregisterFailed))
	for why, n := range d.UnregisterFailed {
		whys = append(whys, fmt.Sprintf("%s ×%d", why, n))
	}
	sort.Strings(whys)
	line += fmt.Sprintf("\n  %d bindings left at the registrar (un-REGISTER %s)", left, strings.Join(whys, ", "))
	if u := d.BindingsLeftUntil; u != nil {
		line += " until " + u.Format("2006-01-02 15:04:05 UTC") + " at the latest"
	}
	return line
}

// Failures lists why registrations failed, most frequent first, each
// with example NAPs: "failures 503 ×8 (e.g. nap000042 (default #41)),
// connect-failed ×2". They are the summary's failures (timeouts have
// their own line); an older summary has its refusals, or its responses
// from 300 up, less 401, 407 and 423, which are steps of a registration.
func Failures(s *metrics.Summary) string {
	type fail struct {
		code string
		n    int64
		eg   string
	}
	var fs []fail
	switch {
	case s.Failures != nil: // every reason, with a few NAPs each
		for why, f := range s.Failures {
			if why == "timeout" || f.Count == 0 {
				continue // on its own line
			}
			var eg []string
			for _, x := range f.Examples {
				eg = append(eg, fmt.Sprintf("%s (%s #%d)", x.User, x.Group, x.Index))
			}
			e := ""
			if len(eg) > 0 {
				e = " (e.g. " + strings.Join(eg, ", ") + ")"
			}
			fs = append(fs, fail{why, f.Count, e})
		}
	case s.Refusals != nil:
		for code, n := range s.Refusals {
			if n > 0 {
				fs = append(fs, fail{code, n, example(s, code)})
			}
		}
	default:
		for code, n := range s.Responses {
			c, err := strconv.Atoi(code)
			if err == nil && c >= 300 && c != 401 && c != 407 && c != 423 && n > 0 {
				fs = append(fs, fail{code, n, example(s, code)})
			}
		}
	}
	if len(fs) == 0 {
		return "no failures"
	}
	sort.Slice(fs, func(i, j int) bool {
		if fs[i].n != fs[j].n {
			return fs[i].n > fs[j].n
		}
		return fs[i].code < fs[j].code
	})
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = fmt.Sprintf("%s ×%d%s", f.code, f.n, f.eg)
	}
	return "failures " + strings.Join(parts, ", ")
}

func example(s *metrics.Summary, failure string) string {
	if u := s.FailureExamples[failure]; u != "" {
		return " (e.g. " + u + ")"
	}
	return ""
}

// stageLine is a stage's line of the human summary: its step, what the
// registrar did meanwhile and the latency of its own transactions.
func stageLine(st *metrics.Stage) string {
	line := fmt.Sprintf("stage %d at %.1f s: %d NAPs for %.1f s; %d requests, %d retransmissions, %d timeouts",
		st.Stage, st.AtS, st.NAPs, st.DurationS, st.Requests, st.Retransmissions, st.Timeouts)
	if l := st.LatencyMS; l.Count > 0 {
		line += fmt.Sprintf("; latency p50 %.2f ms, p99 %.2f ms, max %.2f ms", l.P50, l.P99, l.Max)
	}
	return line
}
