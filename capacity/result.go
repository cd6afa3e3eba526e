package capacity

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/regstorm/regstorm/metrics"
)

// Result is the search's finding, the summary's "capacity" object.
type Result struct {
	Mode      Mode   `json:"mode"`
	Transport string `json:"transport"`
	Auth      bool   `json:"auth"`
	// RatePerS: the confirmed rate; when not confirmed (max-time,
	// interrupted) the highest rate that passed a search trial; 0 when no
	// rate passed.
	RatePerS  float64 `json:"rate_per_s"`
	Confirmed bool    `json:"confirmed"`
	// LimitedBy: registrar, generator, max-time or interrupted (empty while
	// the search runs). AtLeast: the registrar may take more than
	// RatePerS, Why says why we cannot tell.
	LimitedBy string `json:"limited_by"`
	AtLeast   bool   `json:"at_least"`
	Why       string `json:"why,omitempty"`
	// Failed: the lowest rate that failed, and how. GeneratorLimit: the
	// lowest rate regstorm could not offer cleanly, and why.
	Failed         *Failed         `json:"failed,omitempty"`
	GeneratorLimit *GeneratorLimit `json:"generator_limit,omitempty"`
	// Population: refresh mode's bindings, how they were filled.
	Population *PopulationInfo `json:"population,omitempty"`
	ElapsedS   float64         `json:"elapsed_s"`
	Params     Params          `json:"params"`
	Trials     []Trial         `json:"trials"`
	// Schedule: the fixed rates run instead of a search (schedule.go).
	Schedule *Schedule `json:"schedule,omitempty"`
}

// Failed is the lowest failed rate's trial, in short.
type Failed struct {
	RatePerS float64          `json:"rate_per_s"`
	Trial    int              `json:"trial"`
	First    *FirstFailure    `json:"first_failure,omitempty"`
	Failures map[string]int64 `json:"failures"`
}

// GeneratorLimit is the lowest generator-limited rate's trial, in short.
type GeneratorLimit struct {
	RatePerS float64  `json:"rate_per_s"`
	Trial    int      `json:"trial"`
	Reasons  []string `json:"reasons"`
}

// Trial is one trial as the result shows it.
type Trial struct {
	N     int     `json:"n"`
	Phase Phase   `json:"phase"`
	Retry int     `json:"retry,omitempty"`
	Rate  float64 `json:"rate_per_s"`
	// StartS: when it started, from the search's start; DurationS: how
	// long it was to last; RanS: how long it offered registrations.
	StartS          float64          `json:"start_s"`
	DurationS       float64          `json:"duration_s"`
	RanS            float64          `json:"ran_s"`
	Attempts        int64            `json:"attempts"`
	Successes       int64            `json:"successes"`
	Failures        map[string]int64 `json:"failures"`
	FirstFailure    *FirstFailure    `json:"first_failure,omitempty"`
	Retransmissions int64            `json:"retransmissions"`
	// LatencyMS is null when no registration ended.
	LatencyMS *Latency                 `json:"latency_ms"`
	Generator metrics.GeneratorSummary `json:"generator"`
	Outcome   Outcome                  `json:"outcome"`
	// A schedule's step (schedule.go) also has when it began offering,
	// and its latency histogram (µs, base64 as in an .hlog) for the merge.
	StartedAt        time.Time `json:"started_at,omitzero"`
	LatencyHistogram string    `json:"latency_histogram,omitempty"`
}

func newTrial(p Plan, r TrialResult, g metrics.GeneratorSummary, out Outcome, start time.Duration) Trial {
	t := Trial{N: p.N, Phase: p.Phase, Retry: p.Retry, Rate: p.Rate,
		StartS: start.Seconds(), DurationS: p.Duration.Seconds(), RanS: r.Ran.Seconds(),
		Attempts: r.Attempts, Successes: r.Successes, Failures: map[string]int64{},
		Retransmissions: r.Retransmissions, Generator: g, Outcome: out}
	maps.Copy(t.Failures, r.Failures)
	if r.FirstFailure != nil {
		f := *r.FirstFailure
		t.FirstFailure = &f
		if len(t.Failures) == 0 {
			t.Failures[f.Reason] = 1
		}
	}
	if r.Latency.Count > 0 {
		l := r.Latency
		t.LatencyMS = &l
	}
	return t
}

// MarshalJSON writes the time in seconds: {"reason":"503","at_s":12.1}.
func (f FirstFailure) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Reason string  `json:"reason"`
		AtS    float64 `json:"at_s"`
	}{f.Reason, f.At.Seconds()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (f *FirstFailure) UnmarshalJSON(b []byte) error {
	var j struct {
		Reason string  `json:"reason"`
		AtS    float64 `json:"at_s"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*f = FirstFailure{Reason: j.Reason, At: seconds(j.AtS)}
	return nil
}

// Result returns what the search found, or has found so far.
func (s *Search) Result() Result {
	res := Result{Mode: s.target.Mode, Transport: s.target.Transport, Auth: s.target.Auth,
		LimitedBy: s.limitedBy, ElapsedS: s.elapsed.Seconds(), Params: s.p,
		Trials: append([]Trial{}, s.trials...)}
	if s.confirmAt >= 0 {
		res.RatePerS, res.Confirmed = s.confirmedRate, true
	} else if s.limitedBy != LimitedByRegistrar && s.limitedBy != LimitedByGenerator {
		res.RatePerS = s.lo() // max-time, interrupted, or running
	}
	if s.hiAt >= 0 {
		t := s.trials[s.hiAt]
		res.Failed = &Failed{RatePerS: t.Rate, Trial: t.N, First: t.FirstFailure, Failures: t.Failures}
	}
	if s.genAt >= 0 {
		t := s.trials[s.genAt]
		res.GeneratorLimit = &GeneratorLimit{RatePerS: t.Rate, Trial: t.N, Reasons: t.Generator.Reasons}
	}
	res.AtLeast = s.done && !(res.LimitedBy == LimitedByRegistrar && res.Confirmed)
	if res.LimitedBy == LimitedByRegistrar && res.RatePerS == 0 {
		res.AtLeast = false // "below" the lowest failed rate
	}
	switch res.LimitedBy {
	case LimitedByGenerator:
		if res.GeneratorLimit != nil {
			res.Why = fmt.Sprintf("regstorm could not offer %s/s (%s)", rate(res.GeneratorLimit.RatePerS),
				strings.Join(res.GeneratorLimit.Reasons, ", "))
		} else {
			res.Why = fmt.Sprintf("the search's maximum rate, %s/s, passed", rate(s.p.MaxRate))
		}
	case LimitedByMaxTime:
		res.Why = fmt.Sprintf("the search's time limit (%s) stopped it", s.p.MaxTime)
	case LimitedByInterrupted:
		res.Why = "the search was interrupted"
	}
	return res
}

// Summary is the result in one sentence, e.g. "Registration Rate: 2 310/s
// over UDP with digest auth, zero failures in a confirmation of 50 000
// registrations; 2 540/s failed: 503 from 12 s".
func (r Result) Summary() string {
	name, things := "Registration Rate", "registrations"
	if r.Mode == ModeRefresh {
		name, things = "Re-Registration Rate", "re-registrations"
	}
	auth := "without auth"
	if r.Auth {
		auth = "with digest auth"
	}
	over := fmt.Sprintf("over %s %s", strings.ToUpper(r.Transport), auth)
	if p := r.Population; p != nil {
		over += fmt.Sprintf(", refreshing %s bindings", count(int64(p.Bindings)))
	}
	var b strings.Builder
	b.WriteString(name + ": ")
	switch {
	case r.RatePerS == 0 && r.LimitedBy == LimitedByRegistrar && r.Failed != nil:
		fmt.Fprintf(&b, "below %s/s %s", rate(r.Failed.RatePerS), over)
	case r.RatePerS == 0:
		fmt.Fprintf(&b, "not found %s", over)
	case r.AtLeast:
		fmt.Fprintf(&b, "at least %s/s %s", rate(r.RatePerS), over)
	default:
		fmt.Fprintf(&b, "%s/s %s", rate(r.RatePerS), over)
	}
	if r.Confirmed {
		if c := r.confirmation(); c != nil {
			fmt.Fprintf(&b, ", zero failures in a confirmation of %s %s", count(c.Attempts), things)
		}
	} else if r.RatePerS > 0 {
		b.WriteString(", not confirmed")
	}
	switch {
	case r.Why != "" && r.LimitedBy == LimitedByGenerator:
		b.WriteString("; not the registrar's limit: " + r.Why)
	case r.Why != "":
		b.WriteString(": " + r.Why)
	}
	if r.Failed != nil && (r.LimitedBy != LimitedByGenerator || r.GeneratorLimit == nil ||
		r.Failed.RatePerS < r.GeneratorLimit.RatePerS) {
		sep := "; "
		if r.RatePerS == 0 && r.LimitedBy == LimitedByRegistrar {
			sep = ": "
		}
		b.WriteString(sep + r.Failed.text())
	}
	return b.String()
}

// confirmation is the trial that confirmed the rate (a schedule's: the
// step at that rate).
func (r Result) confirmation() *Trial {
	for i := len(r.Trials) - 1; i >= 0; i-- {
		if t := &r.Trials[i]; (t.Phase == PhaseConfirm || t.Phase == PhaseStep && t.Rate == r.RatePerS) && t.Outcome == OutcomePass {
			return t
		}
	}
	return nil
}

// text: "2 540/s failed: 503 from 12 s".
func (f *Failed) text() string {
	if f.First == nil {
		return fmt.Sprintf("%s/s failed", rate(f.RatePerS))
	}
	return fmt.Sprintf("%s/s failed: %s from %s", rate(f.RatePerS), f.First.Reason, secText(f.First.At))
}

// Line is a trial in one line, for the progress output, e.g.
// "trial 5  bisect    2 400/s  10 s    24 000 registrations  pass  p99 1.3 ms".
func (t Trial) Line() string { return t.line("registrations") }

// line is Line with what the attempts are ("refreshes" in refresh mode).
func (t Trial) line(things string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "trial %-2d %-8s %8s/s  %-6s %7s %s  ", t.N, t.Phase, rate(t.Rate),
		secText(time.Duration(t.RanS*float64(time.Second))), count(t.Attempts), things)
	switch t.Outcome {
	case OutcomePass:
		b.WriteString("pass")
	case OutcomeFail:
		b.WriteString("FAIL")
		if t.FirstFailure != nil {
			fmt.Fprintf(&b, " %s at %s", t.FirstFailure.Reason, secText(t.FirstFailure.At))
		}
		keys := slices.Sorted(maps.Keys(t.Failures))
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, k+": "+count(t.Failures[k]))
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	case OutcomeGenerator:
		b.WriteString("generator-limited: " + strings.Join(t.Generator.Reasons, ", "))
	case OutcomeInterrupted:
		b.WriteString("interrupted")
	}
	if t.LatencyMS != nil {
		fmt.Fprintf(&b, "  p99 %s ms", msText(t.LatencyMS.P99))
	}
	if t.Retransmissions > 0 {
		fmt.Fprintf(&b, "  %s retransmissions", count(t.Retransmissions))
	}
	return b.String()
}

// String is a planned trial in one line, for the progress output.
func (p Plan) String() string {
	return fmt.Sprintf("trial %d: %s at %s/s for %s (%s registrations)", p.N, p.Phase, rate(p.Rate),
		secText(p.Duration), count(p.Attempts))
}
