package metrics

import "time"

// The drain: the stop's un-REGISTERs, apart from the load.

// DrainSummary is the summary's drain section: what the stop did.
type DrainSummary struct {
	// Requests: transactions started in the drain (un-REGISTERs, and
	// their answers to challenges); RatePerS: per second of the drain.
	Requests  int64       `json:"requests"`
	RatePerS  float64     `json:"rate_per_s"`
	DurationS float64     `json:"duration_s"`
	LatencyMS Percentiles `json:"latency_ms"`
	// Unregistered: un-REGISTERs answered 2xx in the drain.
	Unregistered int64 `json:"unregistered"`
	// UnregisterFailed: NAPs whose binding the drain did not remove, by
	// why: the status code that last refused its un-REGISTER, "timeout"
	// (Timer F ended the last), "no-answer" (in flight when --drain ran
	// out), "not-sent" (--drain ran out before its turn, or before its
	// connection was made). Each refused or timed out was sent again after
	// Retry-After or --retry meanwhile.
	UnregisterFailed map[string]int64 `json:"unregister_failed"`
	// BindingsLeftUntil: those bindings expire at the registrar by then at
	// the latest (the end of the run plus the longest interval granted).
	BindingsLeftUntil *time.Time `json:"bindings_left_until,omitempty"`
}

// DurationOrZero is the drain's length in seconds; 0 without one.
func (d *DrainSummary) DurationOrZero() float64 {
	if d == nil {
		return 0
	}
	return d.DurationS
}

// Left is how many bindings the drain did not remove.
func (d *DrainSummary) Left() int64 {
	if d == nil {
		return 0
	}
	var n int64
	for _, v := range d.UnregisterFailed {
		n += v
	}
	return n
}

// DrainAtEnd is what the engine finds at the end of the run: the NAPs
// whose binding is left, by why (unregister_failed), and until when at
// the latest.
type DrainAtEnd struct {
	Failed    map[string]int64
	LeftUntil time.Time // zero: no binding left
}

// NewDrainSummary makes the drain section from the totals at the end of
// the run and at the end of the load.
func NewDrainSummary(end, atLoadEnd *Totals, seconds float64, left DrainAtEnd) *DrainSummary {
	d := &DrainSummary{
		Requests: end.Requests - atLoadEnd.Requests, DurationS: seconds,
		LatencyMS: PercentilesOf(end.Drain), Unregistered: end.Unregistered - atLoadEnd.Unregistered,
		UnregisterFailed: map[string]int64{},
	}
	if seconds > 0 {
		d.RatePerS = float64(d.Requests) / seconds
	}
	for why, n := range left.Failed {
		if n > 0 {
			d.UnregisterFailed[why] = n
		}
	}
	if d.Left() > 0 && !left.LeftUntil.IsZero() {
		u := left.LeftUntil.UTC()
		d.BindingsLeftUntil = &u
	}
	return d
}

// merged adds a shard's drain into into (nil: the first): counts and
// rates add (shards drain side by side), the longest drain and the latest
// expiry stand, and the worst shard's percentiles, as for the groups.
func (d *DrainSummary) merged(into *DrainSummary) *DrainSummary {
	if into == nil {
		into = &DrainSummary{UnregisterFailed: map[string]int64{}}
	}
	into.Requests += d.Requests
	into.RatePerS += d.RatePerS
	into.DurationS = max(into.DurationS, d.DurationS)
	into.Unregistered += d.Unregistered
	addAll(&into.UnregisterFailed, d.UnregisterFailed)
	if u := d.BindingsLeftUntil; u != nil && (into.BindingsLeftUntil == nil || u.After(*into.BindingsLeftUntil)) {
		into.BindingsLeftUntil = u
	}
	worst(&into.LatencyMS, d.LatencyMS)
	return into
}
