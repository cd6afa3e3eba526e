package metrics

import (
	"fmt"
	"math"
)

// MergeStorms merges the shards' stages and events (reboots), parts read
// from the files named names, or says why they cannot be merged.
//
// Stages, by index: every shard must have run the same steps (the same
// number, each with the same step number and NAPs, the whole run's
// population); at_s is the earliest shard's, duration_s the longest,
// requests, retransmissions and timeouts add up. Events, by order: every
// shard must have had the same ones (the same number, each of the same
// kind at the same time since its start, within a second: planned reboots
// are; a SIGUSR2 sent to some shards only is not); naps,
// registered_again, requests, retransmissions, timeouts and refused_503
// add up; at_s is the earliest, duration_s the longest; to_100_s is the
// latest shard's (every NAP was back when the last shard's were: exact,
// up to the shards' own clocks), absent if a shard never got there;
// to_99_s is absent, for a fraction of the whole cannot be read from the
// shards' times, and to_99_s_at_most is the latest shard's to_99_s, by
// when 99 % of the whole were surely back; peak_rate_per_s is the sum of
// the shards' peaks, at most the whole's (their 100 ms windows may
// differ).
//
// latency_ms of a stage or an event is here the worst shard's, percentile
// by percentile, counts added: percentiles cannot be added. Summary.
// MergeHistograms then makes it exact from the histograms each .hlog
// carries (tagged), where it does.
func MergeStorms(parts []*Summary, names []string) ([]*Stage, []*Event, error) {
	stages, err := mergeStages(parts, names)
	if err != nil {
		return nil, nil, err
	}
	events, err := mergeEvents(parts, names)
	if err != nil {
		return nil, nil, err
	}
	return stages, events, nil
}

func mergeStages(parts []*Summary, names []string) ([]*Stage, error) {
	var out []*Stage
	for i, p := range parts {
		if i == 0 {
			for _, st := range p.Stages {
				c := *st
				c.Latency = nil
				out = append(out, &c)
			}
			continue
		}
		if len(p.Stages) != len(out) {
			return nil, fmt.Errorf("%s has %d stages, %s %d: not the same steps, the stages cannot be merged", names[0], len(out), names[i], len(p.Stages))
		}
		for k, st := range p.Stages {
			o := out[k]
			if st.Stage != o.Stage || st.NAPs != o.NAPs {
				return nil, fmt.Errorf("stage %d: %s has step %d of %d NAPs, %s step %d of %d NAPs: not the same steps, the stages cannot be merged",
					k+1, names[0], o.Stage, o.NAPs, names[i], st.Stage, st.NAPs)
			}
			o.AtS = math.Min(o.AtS, st.AtS)
			o.DurationS = math.Max(o.DurationS, st.DurationS)
			o.Requests += st.Requests
			o.Retransmissions += st.Retransmissions
			o.Timeouts += st.Timeouts
			worst(&o.LatencyMS, st.LatencyMS)
		}
	}
	return out, nil
}

// eventSkew is how far apart the same event may be in two shards (each
// timed from its own start).
const eventSkew = 1.0

func mergeEvents(parts []*Summary, names []string) ([]*Event, error) {
	var out []*Event
	to99 := map[int]bool{}
	for i, p := range parts {
		if i == 0 {
			for k, ev := range p.Events {
				c := *ev
				c.Latency = nil
				to99[k] = c.To99S != nil
				c.To99AtMostS, c.To99S = c.To99S, nil
				out = append(out, &c)
			}
			continue
		}
		if len(p.Events) != len(out) {
			return nil, fmt.Errorf("%s has %d events, %s %d (a SIGUSR2 to some shards only?): the events cannot be merged", names[0], len(out), names[i], len(p.Events))
		}
		for k, ev := range p.Events {
			o := out[k]
			if ev.Kind != o.Kind || math.Abs(ev.AtS-o.AtS) > eventSkew {
				return nil, fmt.Errorf("event %d: %s has a %s at %.1f s, %s a %s at %.1f s: not the same events, they cannot be merged",
					k+1, names[0], o.Kind, o.AtS, names[i], ev.Kind, ev.AtS)
			}
			o.AtS = math.Min(o.AtS, ev.AtS)
			o.NAPs += ev.NAPs
			o.Back += ev.Back
			o.DurationS = math.Max(o.DurationS, ev.DurationS)
			o.PeakRatePerS += ev.PeakRatePerS
			o.Requests += ev.Requests
			o.Retransmissions += ev.Retransmissions
			o.Timeouts += ev.Timeouts
			o.Refused503 += ev.Refused503
			o.To100S = latest(o.To100S, ev.To100S)
			if ev.To99S == nil {
				to99[k] = false
			} else if o.To99AtMostS == nil || *ev.To99S > *o.To99AtMostS {
				v := *ev.To99S
				o.To99AtMostS = &v
			}
			worst(&o.LatencyMS, ev.LatencyMS)
		}
	}
	for k, o := range out {
		if !to99[k] {
			o.To99AtMostS = nil
		}
	}
	return out, nil
}

// latest is the later of two times, nil if either is (not reached).
func latest(a, b *float64) *float64 {
	if a == nil || b == nil {
		return nil
	}
	v := math.Max(*a, *b)
	return &v
}

// worst merges m into l: the worst of each percentile, counts added.
func worst(l *Percentiles, m Percentiles) {
	l.P50, l.P90, l.P99, l.P999, l.Max = max(l.P50, m.P50), max(l.P90, m.P90), max(l.P99, m.P99), max(l.P999, m.P999), max(l.Max, m.Max)
	l.Count += m.Count
}
