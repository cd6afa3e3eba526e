package metrics

import (
	"math"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// After its one-second intervals of transaction latency (untagged, as
// HistogramLogAnalyzer reads them), an .hlog carries each of the run's
// other histograms whole, as one tagged interval each (HdrHistogram's log
// format allows tags), so that a merge of shards computes every
// percentile exactly from the merged histograms, never from percentiles.
const (
	TagRegistration = "registration"
	TagCorrected    = "corrected"
	TagRefreshError = "refresh-error"
	TagDrain        = "drain"
	TagHandshake    = "handshake"
	TagKeepalive    = "keepalive"
	tagGroup        = "group:" // + the group's name, query-escaped (a tag has no comma or space)
	tagStage        = "stage:" // + the stage's index in the run
	tagEvent        = "event:" // + the event's index in the run
)

// RunHistograms names the whole-run histograms of a run for its .hlog:
// t's, each group's transaction latency, each stage's and each event's.
func RunHistograms(t *Totals, groups map[string]*Totals, s *Summary) map[string]*hdrhistogram.Histogram {
	hs := map[string]*hdrhistogram.Histogram{TagRegistration: t.Registration, TagCorrected: t.Corrected,
		TagRefreshError: t.RefreshError, TagDrain: t.Drain, TagHandshake: t.Handshake, TagKeepalive: t.Keepalive}
	for name, g := range groups {
		hs[tagGroup+url.QueryEscape(name)] = g.Transaction
	}
	for k, st := range s.Stages {
		hs[tagStage+strconv.Itoa(k)] = st.Latency
	}
	for k, ev := range s.Events {
		hs[tagEvent+strconv.Itoa(k)] = ev.Latency
	}
	return hs
}

// Tagged writes each histogram with a value under its tag, covering
// [from, to), in the order of the tags.
func (l *Hlog) Tagged(hs map[string]*hdrhistogram.Histogram, from, to time.Time) error {
	tags := make([]string, 0, len(hs))
	for tag, h := range hs {
		if h != nil && h.TotalCount() > 0 {
			tags = append(tags, tag)
		}
	}
	sort.Strings(tags)
	for _, tag := range tags {
		h := hs[tag]
		h.SetTag(tag)
		err := l.Interval(h, from, to)
		h.SetTag("")
		if err != nil {
			return err
		}
	}
	return nil
}

// Shard is what an .hlog holds: the run's summary, its transaction
// latency (every untagged interval merged, and each interval apart, with
// its time) and its tagged whole-run histograms.
type Shard struct {
	Summary     *Summary
	Transaction *hdrhistogram.Histogram
	Intervals   int // untagged ones
	Tagged      map[string]*hdrhistogram.Histogram
	data        []byte // the file, read again by intervals
}

// MergeHistograms sets every latency of a merged summary from the
// shards' histograms, merged: the run's, the drain's, the handshakes',
// the keep-alives', each group's, each stage's and each event's (exact,
// as from one process; shards older than the tagged histograms keep the
// worst shard's percentiles), the distributions, and the timeline summed
// second by second (latency per second from the intervals).
func (out *Summary) MergeHistograms(shards []*Shard) {
	merged := map[string]*hdrhistogram.Histogram{}
	for _, sh := range shards {
		for tag, h := range sh.Tagged {
			if merged[tag] == nil {
				merged[tag] = NewHistogram()
			}
			merged[tag].Merge(h)
		}
	}
	set := func(p *Percentiles, tag string) *hdrhistogram.Histogram {
		h := merged[tag]
		if h != nil {
			*p = PercentilesOf(h)
		}
		return h
	}
	if h := set(&out.RegistrationMS, TagRegistration); h != nil {
		out.RegistrationDistribution = Distribution(h)
	}
	set(&out.CorrectedMS, TagCorrected)
	set(&out.RefreshErrorMS, TagRefreshError)
	set(&out.DrainLatencyMS, TagDrain)
	if out.Drain != nil {
		out.Drain.LatencyMS = out.DrainLatencyMS
	}
	if out.Handshakes != nil {
		set(&out.Handshakes.LatencyMS, TagHandshake)
	}
	if out.Keepalives != nil {
		set(&out.Keepalives.LatencyMS, TagKeepalive)
	}
	for name, g := range out.Groups {
		set(&g.LatencyMS, tagGroup+url.QueryEscape(name))
	}
	for k, st := range out.Stages {
		set(&st.LatencyMS, tagStage+strconv.Itoa(k))
	}
	for k, ev := range out.Events {
		set(&ev.LatencyMS, tagEvent+strconv.Itoa(k))
	}
	run := NewHistogram()
	for _, sh := range shards {
		run.Merge(sh.Transaction)
	}
	out.LatencyMS = PercentilesOf(run)
	out.LatencyDistribution = Distribution(run)
	out.Timeline = mergeTimelines(out.StartedAt, shards)
	if err := mergeIntervalLatency(out.StartedAt, shards, out.Timeline); err != nil {
		for i := range out.Timeline { // unreadable now, though read once: say nothing rather than something wrong
			out.Timeline[i].P50MS, out.Timeline[i].P99MS = nil, nil
		}
	}
}

// mergeTimelines sums the shards' timelines second by second, each point
// placed by its own shard's start (started_at) against the earliest.
func mergeTimelines(start time.Time, shards []*Shard) []TimePoint {
	bySecond := map[int]*TimePoint{}
	for _, sh := range shards {
		s := sh.Summary
		for _, p := range s.Timeline {
			k := secondOf(start, s.StartedAt.Add(time.Duration(p.T*float64(time.Second))))
			o := bySecond[k]
			if o == nil {
				o = &TimePoint{T: float64(k)}
				bySecond[k] = o
			}
			o.Registered += p.Registered
			o.Rate += p.Rate
			o.Retransmissions += p.Retransmissions
			o.Timeouts += p.Timeouts
			o.Failures += p.Failures
			o.HeapBytes += p.HeapBytes
			o.RSSBytes += p.RSSBytes
			o.Goroutines += p.Goroutines
			o.OpenFDs += p.OpenFDs
			o.GCCycles += p.GCCycles
			o.GCCPUSeconds += p.GCCPUSeconds
		}
	}
	keys := make([]int, 0, len(bySecond))
	for k := range bySecond {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	out := make([]TimePoint, 0, len(keys))
	for _, k := range keys {
		out = append(out, *bySecond[k])
	}
	return out
}

// secondOf is the second of the merged run at which at falls.
func secondOf(start, at time.Time) int { return int(math.Round(at.Sub(start).Seconds())) }

// mergeIntervalLatency sets each merged second's latency from the shards'
// intervals ending in it, merged: the shards are read side by side, in
// time order, one interval of each at a time.
func mergeIntervalLatency(start time.Time, shards []*Shard, timeline []TimePoint) error {
	at := map[int]int{} // second → index in timeline
	for i, p := range timeline {
		at[int(p.T)] = i
	}
	type cursor struct {
		next func() (*hdrhistogram.Histogram, error)
		h    *hdrhistogram.Histogram
	}
	advance := func(c *cursor) error {
		for {
			h, err := c.next()
			if err != nil || h == nil || h.Tag() == "" {
				c.h = h
				return err
			}
		}
	}
	cs := make([]*cursor, len(shards))
	for i, sh := range shards {
		cs[i] = &cursor{next: sh.intervals()}
		if err := advance(cs[i]); err != nil {
			return err
		}
	}
	sec := NewHistogram()
	for {
		k, any := 0, false
		for _, c := range cs {
			if c.h != nil {
				if s := secondOf(start, time.UnixMilli(c.h.EndTimeMs())); !any || s < k {
					k, any = s, true
				}
			}
		}
		if !any {
			return nil
		}
		sec.Reset()
		for _, c := range cs {
			for c.h != nil && secondOf(start, time.UnixMilli(c.h.EndTimeMs())) == k {
				sec.Merge(c.h)
				if err := advance(c); err != nil {
					return err
				}
			}
		}
		if i, ok := at[k]; ok {
			timeline[i].SetLatency(sec)
		}
	}
}
