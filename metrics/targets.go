package metrics

import "github.com/HdrHistogram/hdrhistogram-go"

// TargetCounts is what happened at one target of a group that has several
// (RFC 3263: the servers behind one name), counted against the target a
// NAP was using when it happened.
type TargetCounts struct {
	Requests        int64 `json:"requests"`
	Registered      int64 `json:"registered"` // gauge: NAPs registered there now (at the end: before the drain)
	Timeouts        int64 `json:"timeouts"`
	Refused503      int64 `json:"refused_503"`
	ConnectFailures int64 `json:"connect_failures"`
	// Failovers counts the NAPs that left this target for their next one
	// after a timeout, a 503 or a failed connect.
	Failovers int64 `json:"failovers"`
}

func (c *TargetCounts) add(o *TargetCounts) {
	c.Requests += o.Requests
	c.Registered += o.Registered
	c.Timeouts += o.Timeouts
	c.Refused503 += o.Refused503
	c.ConnectFailures += o.ConnectFailures
	c.Failovers += o.Failovers
}

// addTargets sums a recorder's per-target counts into m, by name.
func addTargets(m map[string]*TargetCounts, names []string, counts []TargetCounts) map[string]*TargetCounts {
	for i := range counts {
		if i >= len(names) {
			break
		}
		if m == nil {
			m = map[string]*TargetCounts{}
		}
		c := m[names[i]]
		if c == nil {
			c = &TargetCounts{}
			m[names[i]] = c
		}
		c.add(&counts[i])
	}
	return m
}

// DNSSummary is the summary's "dns": the resolutions of a target's name
// made while running (after each TTL), the answers that changed the
// targets, the NAPs that moved because their target went away, and the
// failures by kind (nxdomain, servfail, timeout, no-answer).
type DNSSummary struct {
	Resolutions int64            `json:"resolutions"`
	Changes     int64            `json:"changes"`
	Moved       int64            `json:"moved"`
	Failures    map[string]int64 `json:"failures,omitempty"`
}

// GSOSummary is the summary's "udp_gso".
type GSOSummary struct {
	Messages  int64 `json:"messages"`  // segmented messages sent
	Datagrams int64 `json:"datagrams"` // the datagrams they carried
	// Refused: segmented messages the kernel refused (the route's device
	// or the socket cannot segment): their datagrams were sent one by
	// one, and the socket's later ones too.
	Refused int64 `json:"refused"`
}

// KeepaliveSummary is the summary's "keepalives".
type KeepaliveSummary struct {
	Sent      int64       `json:"sent"`
	Answered  int64       `json:"answered"`
	Failed    int64       `json:"failed"`  // unanswered in time: the flow was found dead
	Options   int64       `json:"options"` // of sent, OPTIONS requests (the rest: CRLF or WebSocket pings)
	LatencyMS Percentiles `json:"latency_ms"`
}

// Event is a storm the run made (a reboot of some NAPs) and how the
// registrar recovered: the summary's "events".
type Event struct {
	Kind string  `json:"kind"` // "reboot"
	AtS  float64 `json:"at_s"` // since the start
	NAPs int     `json:"naps"` // NAPs it took
	Back int64   `json:"registered_again"`
	// To99S and To100S: from the event until 99 % and 100 % of its NAPs
	// were registered again (absent: not by the end of the load, or the
	// next event).
	To99S  *float64 `json:"to_99_s,omitempty"`
	To100S *float64 `json:"to_100_s,omitempty"`
	// To99AtMostS, in a merge of shards only (which has no to_99_s): 99 %
	// of the event's NAPs were back by then at the latest (the last
	// shard's to_99_s); the shards' times do not give the exact one.
	To99AtMostS *float64 `json:"to_99_s_at_most,omitempty"`
	// From the event until all were back (or the next event, or the end
	// of the load): the peak offered REGISTER rate (over 100 ms windows),
	// requests, retransmissions, timeouts and 503s, and the latency of
	// the transactions that ended meanwhile (every NAP's, as a stage's).
	DurationS       float64     `json:"duration_s"`
	PeakRatePerS    float64     `json:"peak_rate_per_s"`
	Requests        int64       `json:"requests"`
	Retransmissions int64       `json:"retransmissions"`
	Timeouts        int64       `json:"timeouts"`
	Refused503      int64       `json:"refused_503"`
	LatencyMS       Percentiles `json:"latency_ms"`
	Closed          bool        `json:"-"`
	// Latency is the histogram LatencyMS was read from (µs), once closed:
	// Prometheus exports it; nil before (and in a summary read back).
	Latency *hdrhistogram.Histogram `json:"-"`
}

// ChurnSummary is the summary's "churn": NAPs taken offline and brought
// back, and whether they vanished without un-REGISTERing.
type ChurnSummary struct {
	Offline int64 `json:"offline"`
	Online  int64 `json:"online"`
	Silent  bool  `json:"silent"`
}

// Stage is one step of --stages: its population and how the registrar
// did meanwhile (the summary's "stages").
type Stage struct {
	Stage           int         `json:"stage"` // from 1
	AtS             float64     `json:"at_s"`
	NAPs            int         `json:"naps"`
	DurationS       float64     `json:"duration_s"`
	Requests        int64       `json:"requests"`
	Retransmissions int64       `json:"retransmissions"`
	Timeouts        int64       `json:"timeouts"`
	LatencyMS       Percentiles `json:"latency_ms"`
	// Latency is the histogram LatencyMS was read from (µs), once the
	// stage is over: Prometheus exports it; nil before (and in a summary
	// read back).
	Latency *hdrhistogram.Histogram `json:"-"`
}
