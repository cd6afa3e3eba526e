// Package metrics records what a run measures: latency histograms
// (HdrHistogram, µs, 3 significant digits) and counters, one Recorder per
// shard so that the hot path takes no lock of its own, merged on read into
// the summary of docs/summary.md.
package metrics

import (
	"encoding/json"
	"io"
	"sort"
	"strconv"
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

// Recorder holds one socket group's measurements. It has no lock: its
// owner serialises every access, reads by merges included.
type Recorder struct {
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
	// Handshake is a tls, ws or wss connection's time from connected to
	// ready to carry SIP (TLS handshake, WebSocket upgrade).
	Handshake *hdrhistogram.Histogram
	// Keepalive is a ping's time to its pong or answer.
	Keepalive *hdrhistogram.Histogram

	Counts
	Responses [700]int64
	// Refusals counts the final failures by status code: a 401 answered
	// with credentials is in Responses, not here; one that refuses them is.
	Refusals [700]int64
	// Targets counts per target, named by TargetNames, when a group has
	// several (nil otherwise).
	TargetNames []string
	Targets     []TargetCounts
}

// Counts are the counters of a recorder, and of a sum of them.
type Counts struct {
	Requests, Retransmissions, Timeouts, AuthChallenges int64
	Malformed, Stale, ConnectFailures, ConnLost         int64
	// TransactionsLost: of the abandoned, transactions lost with their
	// connection (the peer reset or closed it): a failure.
	TransactionsLost                           int64
	NoBinding                                  int64 // 2xx without our binding (a capacity search's failure)
	Unregistered, Refused, Connects, Abandoned int64
	MessagesSent, MessagesReceived             int64
	SendFailures                               int64 // sends the socket refused (buffer full, connection gone)
	Registered                                 int64 // gauge
	Handshakes
	// Keep-alive pings sent, answered, and unanswered (a flow found dead).
	KeepalivesSent, KeepalivesAnswered, KeepaliveFailures int64
	OptionsSent                                           int64 // of KeepalivesSent, OPTIONS requests (SIP messages)
	// UDP segmentation offload: segmented messages sent, the datagrams
	// they carried, segmented messages the kernel refused.
	GSOSends, GSODatagrams, GSORefused int64
	// RequestsReceived: requests that reached a NAP, by RequestMethods;
	// each was answered (OPTIONS 200, others a final error) except ACK.
	RequestsReceived [numMethods]int64
}

func (c *Counts) add(o *Counts) {
	c.Requests += o.Requests
	c.Retransmissions += o.Retransmissions
	c.Timeouts += o.Timeouts
	c.AuthChallenges += o.AuthChallenges
	c.Malformed += o.Malformed
	c.Stale += o.Stale
	c.ConnectFailures += o.ConnectFailures
	c.ConnLost += o.ConnLost
	c.TransactionsLost += o.TransactionsLost
	c.NoBinding += o.NoBinding
	c.Unregistered += o.Unregistered
	c.Refused += o.Refused
	c.Connects += o.Connects
	c.Abandoned += o.Abandoned
	c.MessagesSent += o.MessagesSent
	c.MessagesReceived += o.MessagesReceived
	c.SendFailures += o.SendFailures
	c.GSOSends += o.GSOSends
	c.GSODatagrams += o.GSODatagrams
	c.GSORefused += o.GSORefused
	c.Registered += o.Registered
	c.Handshakes.add(&o.Handshakes)
	c.KeepalivesSent += o.KeepalivesSent
	c.KeepalivesAnswered += o.KeepalivesAnswered
	c.KeepaliveFailures += o.KeepaliveFailures
	c.OptionsSent += o.OptionsSent
	for k, n := range o.RequestsReceived {
		c.RequestsReceived[k] += n
	}
}

// NewRecorder makes an empty recorder.
func NewRecorder() *Recorder {
	return &Recorder{Transaction: NewHistogram(), Registration: NewHistogram(), Corrected: NewHistogram(),
		RefreshError: NewHistogram(), Interval: NewHistogram(), Drain: NewHistogram(), Handshake: NewHistogram(), Keepalive: NewHistogram()}
}

// HandshakeDone records a connection made (a TLS handshake's kind counted
// when tls is set).
func (r *Recorder) HandshakeDone(took time.Duration, tls, resumed bool) {
	Latency(r.Handshake, took)
	switch {
	case resumed:
		r.Resumed++
	case tls:
		r.Full++
	}
}

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

// TakeInterval merges r's interval histogram into h and resets it; the
// .hlog writes one such histogram a second.
func (r *Recorder) TakeInterval(h *hdrhistogram.Histogram) {
	h.Merge(r.Interval)
	r.Interval.Reset()
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
	Transaction, Registration, Corrected, RefreshError *hdrhistogram.Histogram
	Drain, Handshake, Keepalive                        *hdrhistogram.Histogram
	Counts
	Responses, Refusals map[int]int64
	Targets             map[string]*TargetCounts // nil unless a group has several targets
}

// NewTotals is an empty sum.
func NewTotals() *Totals {
	return &Totals{Transaction: NewHistogram(), Registration: NewHistogram(), Corrected: NewHistogram(),
		RefreshError: NewHistogram(), Drain: NewHistogram(), Handshake: NewHistogram(), Keepalive: NewHistogram(), Responses: map[int]int64{}, Refusals: map[int]int64{}}
}

// NewCounts is an empty sum of counters only: no histograms.
func NewCounts() *Totals {
	return &Totals{Responses: map[int]int64{}, Refusals: map[int]int64{}}
}

// AddCounts sums one recorder's counters into t, not its histograms.
func (t *Totals) AddCounts(r *Recorder) {
	t.Counts.add(&r.Counts)
	addCodes(t.Responses, r.Responses[:])
	addCodes(t.Refusals, r.Refusals[:])
	t.Targets = addTargets(t.Targets, r.TargetNames, r.Targets)
}

// AddCountsOf sums o's counters into t, not its histograms.
func (t *Totals) AddCountsOf(o *Totals) {
	t.Counts.add(&o.Counts)
	for code, n := range o.Responses {
		t.Responses[code] += n
	}
	for code, n := range o.Refusals {
		t.Refusals[code] += n
	}
	for name, c := range o.Targets {
		t.Targets = addTargets(t.Targets, []string{name}, []TargetCounts{*c})
	}
}

func addCodes(into map[int]int64, codes []int64) {
	for code, n := range codes {
		if n > 0 {
			into[code] += n
		}
	}
}

// Merge sums recorders into Totals (their owners must not write meanwhile).
func Merge(rs []*Recorder) *Totals {
	t := NewTotals()
	for _, r := range rs {
		t.Add(r)
	}
	return t
}

// Add sums one recorder into t.
func (t *Totals) Add(r *Recorder) {
	t.merge(r.Transaction, r.Registration, r.Corrected, r.RefreshError, r.Drain, r.Handshake)
	if r.Keepalive != nil && t.Keepalive != nil {
		t.Keepalive.Merge(r.Keepalive)
	}
	t.AddCounts(r)
}

// AddTotals sums o into t (the groups into the run).
func (t *Totals) AddTotals(o *Totals) {
	t.merge(o.Transaction, o.Registration, o.Corrected, o.RefreshError, o.Drain, o.Handshake)
	if o.Keepalive != nil && t.Keepalive != nil {
		t.Keepalive.Merge(o.Keepalive)
	}
	t.AddCountsOf(o)
}

func (t *Totals) merge(transaction, registration, corrected, refreshError, drain, handshake *hdrhistogram.Histogram) {
	if handshake != nil {
		t.Handshake.Merge(handshake)
	}
	t.Transaction.Merge(transaction)
	t.Registration.Merge(registration)
	t.Corrected.Merge(corrected)
	t.RefreshError.Merge(refreshError)
	t.Drain.Merge(drain)
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

// MarshalJSON writes a histogram with no value as null: "no data" is
// never a measured 0 ms.
func (p Percentiles) MarshalJSON() ([]byte, error) {
	if p.Count == 0 {
		return []byte("null"), nil
	}
	type plain Percentiles
	return json.Marshal(plain(p))
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

// Summary is the JSON document of docs/summary.md.
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
	// SendFailures: of messages_sent, those the socket did not take (a
	// full buffer drops a datagram, as a lossy network would; a dead
	// connection): retransmissions and Timer F deal with them.
	SendFailures int64 `json:"send_failures"`
	// UDPGSO: of messages_sent, those that left several to a system call
	// as one segmented message (UDP GSO); absent when none did.
	UDPGSO *GSOSummary `json:"udp_gso,omitempty"`
	// DrainLatencyMS: the stop's un-REGISTERs, apart from latency_ms (the
	// load); the same as drain.latency_ms.
	DrainLatencyMS Percentiles `json:"drain_latency_ms"`
	// Drain: what the stop did, its rate its own (register_rate_per_s is
	// the load's).
	Drain *DrainSummary `json:"drain,omitempty"`
	// Generator: whether regstorm itself kept up during the load.
	Generator *GeneratorSummary `json:"generator,omitempty"`
	// Capacity: a capacity search's result (regstorm capacity), as the
	// capacity package writes it; absent from a load's summary.
	Capacity json.RawMessage `json:"capacity,omitempty"`
	// RequestsReceived: requests that reached the NAPs (a registrar's or
	// SBC's OPTIONS pings), by method; absent when none did. Each is
	// answered, none is a failure or malformed.
	RequestsReceived map[string]int64 `json:"requests_received,omitempty"`
	// Handshakes: how the tls, ws and wss connections were made (absent
	// when none was); ConnectFailureReasons: why connects failed.
	Handshakes *HandshakeSummary `json:"handshakes,omitempty"`
	// Targets: per target of a group that has several (RFC 3263), what
	// happened there; absent with one target.
	Targets map[string]*TargetCounts `json:"targets,omitempty"`
	DNS     *DNSSummary              `json:"dns,omitempty"`
	// Keepalives: pings sent, answered, unanswered (flows found dead),
	// and their latency; absent without --keepalive.
	Keepalives *KeepaliveSummary `json:"keepalives,omitempty"`
	// Events: the storms made on purpose (reboots) and the recovery.
	Events                []*Event         `json:"events,omitempty"`
	Churn                 *ChurnSummary    `json:"churn,omitempty"`
	Stages                []*Stage         `json:"stages,omitempty"`
	ConnectFailureReasons map[string]int64 `json:"connect_failure_reasons,omitempty"`
	// Refusals: final failures by status code (a 401 answered with
	// credentials is a challenge, not a refusal).
	Refusals map[string]int64 `json:"refusals"`
	// Groups: per group of NAPs, the same counts; they add up to the
	// totals (a group removed by a reload stays, with what it did).
	Groups map[string]*GroupSummary `json:"groups,omitempty"`
	// Reloads: new configurations applied while running, and refused.
	Reloads Reloads `json:"reloads"`
	// Failures: each reason a registration failed ("403", "timeout",
	// "connect-failed", "auth-refused", "connection-lost": a transaction
	// lost with its connection, "malformed") with its count and a
	// few of the NAPs it happened to.
	Failures map[string]*Failure `json:"failures,omitempty"`
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

	// StartedAt: when the load began (after --start-at's wait). StartAt:
	// --start-at as given (absent without), the same in every shard of a
	// distributed run.
	StartedAt time.Time `json:"started_at,omitzero"`
	StartAt   time.Time `json:"start_at,omitzero"`
	// Shard: this run's --shard k/N (absent without), so that a merge can
	// tell a missing or a duplicated shard.
	Shard *ShardInfo `json:"shard,omitempty"`
	// Shards, in a merge: how many shard files were merged (each k of N
	// once), and the time between the first and the last one's start
	// (started_at): a few ms when they were given the same --start-at.
	Shards        int      `json:"shards,omitempty"`
	StartSpreadMS *float64 `json:"start_spread_ms,omitempty"`
}

// ShardInfo is a run's --shard k/N.
type ShardInfo struct {
	K int `json:"k"`
	N int `json:"n"`
}

// Failure is one reason of failure in the summary.
type Failure struct {
	Count    int64    `json:"count"`
	Examples []NAPRef `json:"examples,omitempty"`
}

// NAPRef names a NAP: its user, its group and its index in the group.
type NAPRef struct {
	User  string `json:"user"`
	Group string `json:"group"`
	Index uint64 `json:"index"`
}

// GroupSummary is one group's share of a run.
type GroupSummary struct {
	NAPs            int              `json:"naps"`     // NAPs the group has at the end (0: removed or register false)
	Register        bool             `json:"register"` // its "Register to Proxy?" at the end
	Removed         bool             `json:"removed,omitempty"`
	Registered      int64            `json:"registered"`
	Unregistered    int64            `json:"unregistered"`
	Requests        int64            `json:"requests"`
	Retransmissions int64            `json:"retransmissions"`
	Timeouts        int64            `json:"timeouts"`
	Abandoned       int64            `json:"abandoned"`
	InFlight        int64            `json:"in_flight"`
	Responses       map[string]int64 `json:"responses"`
	LatencyMS       Percentiles      `json:"latency_ms"`
}

// Reloads counts the configurations applied while running.
type Reloads struct {
	Applied int `json:"applied"`
	Refused int `json:"refused"`
	// Changes says what each applied one changed, in order.
	Changes []string `json:"changes,omitempty"`
}

// NewGroupSummary fills a group's figures from its totals.
func NewGroupSummary(t *Totals, naps int, register bool, registered, inFlight int64) *GroupSummary {
	g := &GroupSummary{NAPs: naps, Register: register, Registered: registered, Unregistered: t.Unregistered,
		Requests: t.Requests, Retransmissions: t.Retransmissions, Timeouts: t.Timeouts, Abandoned: t.Abandoned,
		InFlight: inFlight, Responses: map[string]int64{}, LatencyMS: PercentilesOf(t.Transaction)}
	for c, n := range t.Responses {
		g.Responses[strconv.Itoa(c)] = n
	}
	return g
}

// TimePoint is one second of a run.
type TimePoint struct {
	T          float64 `json:"t"` // seconds since the start
	Registered int64   `json:"registered"`
	Rate       float64 `json:"register_per_s"`
	// The transactions that ended in this second: their latency (null
	// when none did), and what went wrong in it: retransmissions sent,
	// timeouts, failures (refusals, failed connects, transactions lost
	// with their connection).
	P50MS           *float64 `json:"latency_p50_ms"`
	P99MS           *float64 `json:"latency_p99_ms"`
	Retransmissions int64    `json:"retransmissions"`
	Timeouts        int64    `json:"timeouts"`
	Failures        int64    `json:"failures"`
	Process
}

// SetLatency fills the point's percentiles from the second's histogram
// (µs); none when it is empty.
func (p *TimePoint) SetLatency(h *hdrhistogram.Histogram) {
	p.P50MS, p.P99MS = nil, nil
	if h == nil || h.TotalCount() == 0 {
		return
	}
	p50, p99 := float64(h.ValueAtQuantile(50))/1000, float64(h.ValueAtQuantile(99))/1000
	p.P50MS, p.P99MS = &p50, &p99
}

// FailureCount is what a timeline point counts as failures.
func (c *Counts) FailureCount() int64 { return c.Refused + c.ConnectFailures + c.TransactionsLost }

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
		Abandoned: t.Abandoned, MessagesSent: t.MessagesSent, MessagesReceived: t.MessagesReceived, SendFailures: t.SendFailures,
		DrainLatencyMS: PercentilesOf(t.Drain),
	}
	if t.Handshake != nil && t.Handshake.TotalCount() > 0 {
		s.Handshakes = &HandshakeSummary{Full: t.Full, Resumed: t.Resumed, LatencyMS: PercentilesOf(t.Handshake)}
	}
	s.ConnectFailureReasons = failureReasons(&t.Handshakes)
	if t.GSOSends > 0 || t.GSORefused > 0 {
		s.UDPGSO = &GSOSummary{Messages: t.GSOSends, Datagrams: t.GSODatagrams, Refused: t.GSORefused}
	}
	s.Targets = t.Targets
	s.RequestsReceived = requestsByMethod(&t.RequestsReceived)
	if t.KeepalivesSent > 0 {
		s.Keepalives = &KeepaliveSummary{Sent: t.KeepalivesSent, Answered: t.KeepalivesAnswered, Failed: t.KeepaliveFailures, Options: t.OptionsSent}
		if t.Keepalive != nil {
			s.Keepalives.LatencyMS = PercentilesOf(t.Keepalive)
		}
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

// WriteJSON writes the summary, indented, with a final newline, without
// HTML escaping: a crossed threshold reads "p99>50ms", not
// "p99\u003e50ms".
func (s *Summary) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}
