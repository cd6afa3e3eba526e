// Package metrics records what a run measures: latency histograms
// (HdrHistogram, µs, 3 significant digits) and counters, one Recorder per
// shard so that the hot path takes no lock of its own, merged on read into
// the summary of DESIGN.md §8.
package metrics

import (
	"encoding/json"
	"io"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds: 1 µs to 1 h, 3 significant digits.
const (
	lowestUS  = 1
	highestUS = int64(time.Hour / time.Microsecond)
	sigDigits = 3
)

// NewHistogram returns an empty latency histogram in µs.
func NewHistogram() *hdrhistogram.Histogram { return hdrhistogram.New(lowestUS, highestUS, sigDigits) }

// Recorder holds one shard's measurements. Its owner serialises access
// (the shard lock); Snapshot merges recorders under a lock of its own.
type Recorder struct {
	mu sync.Mutex // taken by the owner for writes and by readers for merges

	Transaction  *hdrhistogram.Histogram // first transmission → final response
	Registration *hdrhistogram.Histogram // first REGISTER → 2xx, auth included
	// Corrected is Transaction measured from when the request was due, not
	// when it was sent: a tester that falls behind cannot hide a slow
	// target (coordinated omission, as wrk2 corrects it).
	Corrected *hdrhistogram.Histogram
	// RefreshError is sent − due of timer-driven REGISTERs (refreshes,
	// retries) and of paced starts.
	RefreshError *hdrhistogram.Histogram
	// Interval is Transaction since the last TakeInterval (the .hlog).
	Interval *hdrhistogram.Histogram
	// Drain is the un-REGISTERs' latency, kept apart from Transaction so
	// that latency_ms and --fail-on p99 describe the load.
	Drain *hdrhistogram.Histogram

	Requests, Retransmissions, Timeouts, AuthChallenges int64
	Malformed, Stale, ConnectFailures, ConnLost         int64
	Unregistered, Refused, Connects, Abandoned          int64
	MessagesSent, MessagesReceived                      int64
	Registered                                          int64 // gauge
	Responses                                           [700]int64
	// Refusals counts the final failures by status code: a 401 answered
	// with credentials is in Responses, not here; one that refuses them is.
	Refusals [700]int64
}

// NewRecorder makes an empty recorder.
func NewRecorder() *Recorder {
	return &Recorder{Transaction: NewHistogram(), Registration: NewHistogram(), Corrected: NewHistogram(),
		RefreshError: NewHistogram(), Interval: NewHistogram(), Drain: NewHistogram()}
}

// Lock and Unlock let the shard hold the recorder for a batch of updates.
func (r *Recorder) Lock()   { r.mu.Lock() }
func (r *Recorder) Unlock() { r.mu.Unlock() }

// Latency records a duration in µs into h, clamped to the histogram range.
func Latency(h *hdrhistogram.Histogram, d time.Duration) {
	us := int64(d / time.Microsecond)
	if us < lowestUS {
		us = lowestUS
	} else if us > highestUS {
		us = highestUS
	}
	_ = h.RecordValue(us)
}

// TransactionDone records one transaction's latency, and its corrected
// latency given how late it was sent (lag).
func (r *Recorder) TransactionDone(latency, lag time.Duration) {
	Latency(r.Transaction, latency)
	Latency(r.Interval, latency)
	Latency(r.Corrected, latency+lag)
}

// UnregisterDone records one un-REGISTER transaction's latency.
func (r *Recorder) UnregisterDone(latency time.Duration) { Latency(r.Drain, latency) }

// TakeInterval merges the interval histograms of rs into one and resets
// them; the .hlog writes one such histogram a second.
func TakeInterval(rs []*Recorder) *hdrhistogram.Histogram {
	h := NewHistogram()
	for _, r := range rs {
		r.mu.Lock()
		h.Merge(r.Interval)
		r.Interval.Reset()
		r.mu.Unlock()
	}
	return h
}

// Refusal counts a final failure with its status code.
func (r *Recorder) Refusal(code int) {
	if code >= 100 && code < len(r.Refusals) {
		r.Refusals[code]++
	}
}

// Response counts a response status code.
func (r *Recorder) Response(code int) {
	if code >= 100 && code < len(r.Responses) {
		r.Responses[code]++
	}
}

// Totals is a merged view of several recorders.
type Totals struct {
	Transaction, Registration, Corrected, RefreshError  *hdrhistogram.Histogram
	Drain                                               *hdrhistogram.Histogram
	Requests, Retransmissions, Timeouts, AuthChallenges int64
	Malformed, Stale, ConnectFailures, ConnLost         int64
	Unregistered, Refused, Registered, Connects         int64
	Abandoned, MessagesSent, MessagesReceived           int64
	Responses, Refusals                                 map[int]int64
}

// Merge sums recorders into Totals.
func Merge(rs []*Recorder) *Totals {
	t := &Totals{Transaction: NewHistogram(), Registration: NewHistogram(), Corrected: NewHistogram(),
		RefreshError: NewHistogram(), Drain: NewHistogram(), Responses: map[int]int64{}, Refusals: map[int]int64{}}
	for _, r := range rs {
		r.mu.Lock()
		t.Transaction.Merge(r.Transaction)
		t.Registration.Merge(r.Registration)
		t.Corrected.Merge(r.Corrected)
		t.RefreshError.Merge(r.RefreshError)
		t.Drain.Merge(r.Drain)
		t.Abandoned += r.Abandoned
		t.MessagesSent += r.MessagesSent
		t.MessagesReceived += r.MessagesReceived
		t.Requests += r.Requests
		t.Retransmissions += r.Retransmissions
		t.Timeouts += r.Timeouts
		t.AuthChallenges += r.AuthChallenges
		t.Malformed += r.Malformed
		t.Stale += r.Stale
		t.ConnectFailures += r.ConnectFailures
		t.ConnLost += r.ConnLost
		t.Unregistered += r.Unregistered
		t.Refused += r.Refused
		t.Registered += r.Registered
		t.Connects += r.Connects
		for code, n := range r.Responses {
			if n > 0 {
				t.Responses[code] += n
			}
		}
		for code, n := range r.Refusals {
			if n > 0 {
				t.Refusals[code] += n
			}
		}
		r.mu.Unlock()
	}
	return t
}

// ResponseTotal is the number of responses of all codes.
func (t *Totals) ResponseTotal() int64 {
	var n int64
	for _, v := range t.Responses {
		n += v
	}
	return n
}

// Percentiles is the latency object of the summary, in milliseconds.
type Percentiles struct {
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
	Count int64   `json:"count"`
}

// PercentilesOf reads a µs histogram into milliseconds.
func PercentilesOf(h *hdrhistogram.Histogram) Percentiles {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Percentiles{
		P50: ms(h.ValueAtQuantile(50)), P90: ms(h.ValueAtQuantile(90)),
		P99: ms(h.ValueAtQuantile(99)), P999: ms(h.ValueAtQuantile(99.9)),
		Max: ms(h.Max()), Count: h.TotalCount(),
	}
}

// Summary is the JSON document of DESIGN.md §8.
type Summary struct {
	NAPs               int              `json:"naps"`
	Registered         int64            `json:"registered"`
	Unregistered       int64            `json:"unregistered"`
	Transport          string           `json:"transport"`
	DurationS          float64          `json:"duration_s"`
	Requests           int64            `json:"requests"`
	Retransmissions    int64            `json:"retransmissions"`
	Timeouts           int64            `json:"timeouts"`
	AuthChallenges     int64            `json:"auth_challenges"`
	Responses          map[string]int64 `json:"responses"`
	LatencyMS          Percentiles      `json:"latency_ms"`
	RegistrationMS     Percentiles      `json:"registration_latency_ms"`
	CorrectedMS        Percentiles      `json:"latency_corrected_ms"`
	RefreshErrorMS     Percentiles      `json:"refresh_error_ms"`
	RegisterRatePerS   float64          `json:"register_rate_per_s"`
	Malformed          int64            `json:"malformed"`
	StaleResponses     int64            `json:"stale_responses"`
	Connects           int64            `json:"tcp_connects"`
	ConnectFailures    int64            `json:"connect_failures"`
	ConnectionsLost    int64            `json:"connections_lost"`
	TimeToAllRegisterS *float64         `json:"time_to_all_registered_s"`
	InFlight           *int64           `json:"in_flight"`
	// Abandoned: transactions ended with neither a final response nor a
	// timeout (a REGISTER replaced by the un-REGISTER at stop, a TCP
	// transaction lost with its connection). Those still open at the end,
	// the drain's cut by --drain included, are in_flight.
	// requests = final responses + timeouts + abandoned + in_flight.
	Abandoned        int64 `json:"abandoned"`
	MessagesSent     int64 `json:"messages_sent"`
	MessagesReceived int64 `json:"messages_received"`
	// DrainLatencyMS: the stop's un-REGISTERs, apart from latency_ms (the load).
	DrainLatencyMS Percentiles `json:"drain_latency_ms"`
	// Refusals: final failures by status code (a 401 answered with
	// credentials is a challenge, not a refusal).
	Refusals map[string]int64 `json:"refusals"`
	// FailureExamples: for each failure ("503", "timeout"), the user of one
	// NAP it happened to, for the human summary.
	FailureExamples map[string]string `json:"failure_examples,omitempty"`
	Timeline        []TimePoint       `json:"timeline,omitempty"`
	// Process is the tester at the end of the load phase, before the drain.
	Process *Process `json:"process,omitempty"`
	// Distributions: latency (ms) by percentile, as HdrHistogram plots it.
	LatencyDistribution      []PercentilePoint `json:"latency_distribution,omitempty"`
	RegistrationDistribution []PercentilePoint `json:"registration_distribution,omitempty"`
	ThresholdsFailed         []string          `json:"thresholds_failed"`
}

// TimePoint is one second of a run.
type TimePoint struct {
	T          float64 `json:"t"` // seconds since the start
	Registered int64   `json:"registered"`
	Rate       float64 `json:"register_per_s"`
	Process
}

// PercentilePoint is one point of a latency distribution.
type PercentilePoint struct {
	Percentile float64 `json:"percentile"`
	MS         float64 `json:"ms"`
}

// Distribution reads a µs histogram as percentile → ms, with 5 ticks per
// half distance to 100 % (HdrHistogram's plotting convention).
func Distribution(h *hdrhistogram.Histogram) []PercentilePoint {
	if h.TotalCount() == 0 {
		return nil
	}
	var out []PercentilePoint
	for _, b := range h.CumulativeDistributionWithTicks(5) {
		out = append(out, PercentilePoint{Percentile: b.Quantile, MS: float64(b.ValueAt) / 1000})
	}
	return out
}

// NewSummary fills a summary from merged totals. registered is the gauge at
// the end of the load phase (before the drain); loadSeconds the load
// phase's length, for the rate.
func NewSummary(t *Totals, naps int, transport string, registered int64, loadSeconds float64) *Summary {
	s := &Summary{
		NAPs: naps, Registered: registered, Unregistered: t.Unregistered, Transport: transport,
		DurationS: loadSeconds, Requests: t.Requests, Retransmissions: t.Retransmissions,
		Timeouts: t.Timeouts, AuthChallenges: t.AuthChallenges, Responses: map[string]int64{},
		LatencyMS: PercentilesOf(t.Transaction), RegistrationMS: PercentilesOf(t.Registration),
		CorrectedMS: PercentilesOf(t.Corrected), RefreshErrorMS: PercentilesOf(t.RefreshError),
		LatencyDistribution: Distribution(t.Transaction), RegistrationDistribution: Distribution(t.Registration),
		Malformed: t.Malformed, StaleResponses: t.Stale, Connects: t.Connects, ConnectFailures: t.ConnectFailures,
		ConnectionsLost: t.ConnLost, ThresholdsFailed: []string{},
		Abandoned: t.Abandoned, MessagesSent: t.MessagesSent, MessagesReceived: t.MessagesReceived,
		DrainLatencyMS: PercentilesOf(t.Drain),
	}
	codes := make([]int, 0, len(t.Responses))
	for c := range t.Responses {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	for _, c := range codes {
		s.Responses[strconv.Itoa(c)] = t.Responses[c]
	}
	s.Refusals = map[string]int64{}
	for c, n := range t.Refusals {
		s.Refusals[strconv.Itoa(c)] = n
	}
	if loadSeconds > 0 {
		s.RegisterRatePerS = float64(t.Requests) / loadSeconds
	}
	return s
}

// WriteJSON writes the summary, indented, with a final newline.
func (s *Summary) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}
