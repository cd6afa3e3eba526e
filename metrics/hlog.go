package metrics

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// summaryComment starts the comment line in which a .hlog carries the
// run's summary (counters included), so that merge can add them up.
const summaryComment = "[regstorm-summary] "

// Hlog writes the standard HdrHistogram interval log (one interval a
// second) of transaction latency, in µs, readable by HistogramLogAnalyzer
// and hdrhistogram-go's reader.
type Hlog struct {
	w    *hdrhistogram.HistogramLogWriter
	base int64 // ms since epoch
}

// NewHlog writes the log header for a run that started at start.
func NewHlog(w io.Writer, start time.Time) (*Hlog, error) {
	lw := hdrhistogram.NewHistogramLogWriter(w)
	base := start.UnixMilli()
	lw.SetBaseTime(base)
	for _, f := range []func() error{
		lw.OutputLogFormatVersion,
		func() error {
			return lw.OutputComment("[regstorm: transaction latency, first transmission to final response, in microseconds]")
		},
		func() error { return lw.OutputStartTime(base) },
		func() error { return lw.OutputBaseTime(base) },
		lw.OutputLegend,
	} {
		if err := f(); err != nil {
			return nil, err
		}
	}
	return &Hlog{w: lw, base: base}, nil
}

// Interval writes one interval histogram covering [from, to).
func (l *Hlog) Interval(h *hdrhistogram.Histogram, from, to time.Time) error {
	h.SetStartTimeMs(from.UnixMilli())
	h.SetEndTimeMs(to.UnixMilli())
	return l.w.OutputIntervalHistogram(h)
}

// Summary appends the run's summary as a comment line.
func (l *Hlog) Summary(s *Summary) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return l.w.OutputComment(summaryComment + string(b))
}

// ReadHlog reads one .hlog: every untagged interval merged into one
// histogram, the number of intervals, and the run summary its comment
// carries (nil if absent, e.g. a log cut short).
func ReadHlog(r io.Reader) (*hdrhistogram.Histogram, int, *Summary, error) {
	sh, err := ReadShard(r)
	if err != nil {
		return nil, 0, nil, err
	}
	return sh.Transaction, sh.Intervals, sh.Summary, nil
}

// intervals reads the shard's intervals again, one at a time (nil: no
// more), so that a merge holds one per shard at once, not a run's worth.
func (sh *Shard) intervals() func() (*hdrhistogram.Histogram, error) {
	lr := hdrhistogram.NewHistogramLogReader(bytes.NewReader(sh.data))
	n := 0
	return func() (*hdrhistogram.Histogram, error) {
		n++
		h, err := lr.NextIntervalHistogram()
		if err != nil {
			return nil, fmt.Errorf("interval %d: %v", n, err)
		}
		return h, nil
	}
}

// ReadShard reads one .hlog whole: its summary (nil if absent), its
// untagged intervals (transaction latency) and its tagged histograms.
func ReadShard(r io.Reader) (*Shard, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	sh := &Shard{Transaction: NewHistogram(), Tagged: map[string]*hdrhistogram.Histogram{}, data: data}
	next := sh.intervals()
	for {
		h, err := next()
		if err != nil {
			return nil, err
		}
		if h == nil {
			break
		}
		if tag := h.Tag(); tag != "" {
			if sh.Tagged[tag] == nil {
				sh.Tagged[tag] = NewHistogram()
			}
			sh.Tagged[tag].Merge(h)
			continue
		}
		sh.Transaction.Merge(h)
		sh.Intervals++
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "#"+summaryComment); ok {
			sh.Summary = &Summary{}
			if err := json.Unmarshal([]byte(rest), sh.Summary); err != nil {
				return nil, fmt.Errorf("summary comment: %v", err)
			}
		}
	}
	return sh, nil
}

// merged adds g's counts to into (nil: a new one); a group's latency
// percentiles cannot be merged without its histogram, so the merge keeps
// the worst of each.
func (g *GroupSummary) merged(into *GroupSummary) *GroupSummary {
	if into == nil {
		into = &GroupSummary{Register: g.Register, Removed: g.Removed, Responses: map[string]int64{}}
	}
	into.NAPs += g.NAPs
	into.Registered += g.Registered
	into.Unregistered += g.Unregistered
	into.Requests += g.Requests
	into.Retransmissions += g.Retransmissions
	into.Timeouts += g.Timeouts
	into.Abandoned += g.Abandoned
	into.InFlight += g.InFlight
	addAll(&into.Responses, g.Responses)
	worst(&into.LatencyMS, g.LatencyMS)
	return into
}

// MergeSummaries adds the counts of shard summaries and takes latency
// percentiles from the merged histogram (never averages percentiles);
// MergeHistograms then makes every other latency exact where the .hlog
// files carry their histograms.
func MergeSummaries(parts []*Summary, merged *hdrhistogram.Histogram) *Summary {
	out := &Summary{Responses: map[string]int64{}, ThresholdsFailed: []string{}}
	var neverAll bool
	for _, p := range parts {
		out.addCounts(p)
		out.addSections(p)
		if t := p.TimeToAllRegisterS; t == nil || neverAll {
			neverAll = true // a shard whose NAPs were never all registered: nor were the whole's
		} else if out.TimeToAllRegisterS == nil || *t > *out.TimeToAllRegisterS {
			v := *t // all were registered when the slowest shard's were (from its own start)
			out.TimeToAllRegisterS = &v
		}
		out.Reloads.Applied = max(out.Reloads.Applied, p.Reloads.Applied) // each shard applies each reload
		out.Reloads.Refused = max(out.Reloads.Refused, p.Reloads.Refused)
		if len(out.Reloads.Changes) == 0 {
			out.Reloads.Changes = p.Reloads.Changes
		}
		if p.Transport != "" {
			out.Transport = p.Transport
		}
		out.DurationS = max(out.DurationS, p.DurationS)
	}
	if neverAll {
		out.TimeToAllRegisterS = nil
	}
	out.shardStarts(parts)
	out.LatencyMS = PercentilesOf(merged)
	return out
}

// addCounts adds a shard's counters and counts by key.
func (out *Summary) addCounts(p *Summary) {
	out.NAPs += p.NAPs
	out.Registered += p.Registered
	out.Unregistered += p.Unregistered
	out.Requests += p.Requests
	out.Retransmissions += p.Retransmissions
	out.Timeouts += p.Timeouts
	out.AuthChallenges += p.AuthChallenges
	out.Malformed += p.Malformed
	out.StaleResponses += p.StaleResponses
	out.Connects += p.Connects
	out.ConnectFailures += p.ConnectFailures
	out.ConnectionsLost += p.ConnectionsLost
	out.Abandoned += p.Abandoned
	out.MessagesSent += p.MessagesSent
	out.MessagesReceived += p.MessagesReceived
	out.SendFailures += p.SendFailures
	out.RegisterRatePerS += p.RegisterRatePerS // shards run side by side: rates add
	addAll(&out.Responses, p.Responses)
	addAll(&out.RequestsReceived, p.RequestsReceived)
	addAll(&out.ConnectFailureReasons, p.ConnectFailureReasons)
	addAll(&out.Refusals, p.Refusals)
	if p.InFlight != nil {
		if out.InFlight == nil {
			out.InFlight = new(int64)
		}
		*out.InFlight += *p.InFlight
	}
	for f, user := range p.FailureExamples {
		if out.FailureExamples == nil {
			out.FailureExamples = map[string]string{}
		}
		if out.FailureExamples[f] == "" { // the first shard's example
			out.FailureExamples[f] = user
		}
	}
}

// addSections merges a shard's sections: failures, drain, handshakes,
// keep-alives, DNS, targets, groups. Their percentiles are the worst
// shard's until MergeHistograms makes them exact.
func (out *Summary) addSections(p *Summary) {
	for why, f := range p.Failures {
		if out.Failures == nil {
			out.Failures = map[string]*Failure{}
		}
		o := out.Failures[why]
		if o == nil {
			o = &Failure{}
			out.Failures[why] = o
		}
		o.Count += f.Count
		for _, x := range f.Examples { // the first shards' NAPs, up to three
			if len(o.Examples) < 3 {
				o.Examples = append(o.Examples, x)
			}
		}
	}
	if d := p.Drain; d != nil {
		out.Drain = d.merged(out.Drain)
	}
	if g := p.Generator; g != nil {
		out.Generator = g.merged(out.Generator, p.Shard)
	}
	if c := p.Churn; c != nil {
		if out.Churn == nil {
			out.Churn = &ChurnSummary{}
		}
		out.Churn.Offline += c.Offline
		out.Churn.Online += c.Online
		out.Churn.Silent = out.Churn.Silent || c.Silent
	}
	if g := p.UDPGSO; g != nil {
		if out.UDPGSO == nil {
			out.UDPGSO = &GSOSummary{}
		}
		out.UDPGSO.Messages += g.Messages
		out.UDPGSO.Datagrams += g.Datagrams
		out.UDPGSO.Refused += g.Refused
	}
	if h := p.Handshakes; h != nil {
		if out.Handshakes == nil {
			out.Handshakes = &HandshakeSummary{}
		}
		out.Handshakes.Full += h.Full
		out.Handshakes.Resumed += h.Resumed
		worst(&out.Handshakes.LatencyMS, h.LatencyMS)
	}
	if k := p.Keepalives; k != nil {
		if out.Keepalives == nil {
			out.Keepalives = &KeepaliveSummary{}
		}
		o := out.Keepalives
		o.Sent, o.Answered, o.Failed, o.Options = o.Sent+k.Sent, o.Answered+k.Answered, o.Failed+k.Failed, o.Options+k.Options
		worst(&o.LatencyMS, k.LatencyMS)
	}
	if d := p.DNS; d != nil {
		if out.DNS == nil {
			out.DNS = &DNSSummary{}
		}
		out.DNS.Resolutions += d.Resolutions
		out.DNS.Changes += d.Changes
		out.DNS.Moved += d.Moved
		addAll(&out.DNS.Failures, d.Failures)
	}
	for name, c := range p.Targets {
		if out.Targets == nil {
			out.Targets = map[string]*TargetCounts{}
		}
		if out.Targets[name] == nil {
			out.Targets[name] = &TargetCounts{}
		}
		out.Targets[name].add(c)
	}
	for name, g := range p.Groups {
		if out.Groups == nil {
			out.Groups = map[string]*GroupSummary{}
		}
		out.Groups[name] = g.merged(out.Groups[name])
	}
}

// addAll adds counts by key into *into, made when there are any.
func addAll[K comparable](into *map[K]int64, from map[K]int64) {
	for k, v := range from {
		if *into == nil {
			*into = map[K]int64{}
		}
		(*into)[k] += v
	}
}

// CheckShards tells whether parts (read from files named names) are the
// shards of one run, each k of N once: every part has its k/N (none has:
// not shards, nothing to check unless n > 0), one N (n, when above 0, must
// be it), no k twice, none missing, one --start-at. The error names the
// files and the missing k.
func CheckShards(parts []*Summary, names []string, n int) error {
	var with, without []string
	for i, p := range parts {
		if p.Shard != nil {
			with = append(with, names[i])
		} else {
			without = append(without, names[i])
		}
	}
	switch {
	case len(with) == 0 && n <= 0:
		return nil // runs of their own, merged as before
	case len(with) == 0:
		return fmt.Errorf("--shards %d: %s %s no shard number (a run without --shard, or one older than shard numbers in summaries)", n, strings.Join(without, ", "), plural(len(without), "has", "have"))
	case len(without) > 0:
		return fmt.Errorf("%s %s no shard number (a run without --shard, or one older than shard numbers in summaries), %s %s: not the shards of one run", strings.Join(without, ", "), plural(len(without), "has", "have"), strings.Join(with, ", "), plural(len(with), "has one", "have one"))
	}
	byK := map[int]string{}
	first := -1
	for i, p := range parts {
		sh := p.Shard
		if first < 0 {
			first = i
		}
		if f := parts[first].Shard; sh.N != f.N {
			return fmt.Errorf("%s is shard %d/%d, %s is shard %d/%d: not the shards of one run", names[first], f.K, f.N, names[i], sh.K, sh.N)
		}
		if sh.N <= 0 || sh.K < 0 || sh.K >= sh.N {
			return fmt.Errorf("%s: shard %d/%d is not a shard", names[i], sh.K, sh.N)
		}
		if other, ok := byK[sh.K]; ok {
			return fmt.Errorf("%s and %s are both shard %d/%d: its NAPs would count twice", other, names[i], sh.K, sh.N)
		}
		byK[sh.K] = names[i]
		if !p.StartAt.Equal(parts[first].StartAt) {
			return fmt.Errorf("%s was for --start-at %s, %s for %s: not the shards of one run", names[first], startAtString(parts[first].StartAt), names[i], startAtString(p.StartAt))
		}
	}
	total := parts[first].Shard.N
	if n > 0 && n != total {
		return fmt.Errorf("--shards %d, but the files are shards of %d", n, total)
	}
	var missing []string
	for k := 0; k < total; k++ {
		if _, ok := byK[k]; !ok {
			missing = append(missing, strconv.Itoa(k))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s %s of %d missing (%d of %d files given): a merge of part of the load would read as the whole",
			plural(len(missing), "shard", "shards"), strings.Join(missing, ", "), total, len(parts), total)
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func startAtString(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// shardStarts sets a merge's shard count and start: the common
// --start-at, the first shard's start, and the spread of the starts.
func (out *Summary) shardStarts(parts []*Summary) {
	var lo, hi time.Time
	for i, p := range parts {
		if p.Shard != nil {
			out.Shards = p.Shard.N
		}
		if i == 0 || p.StartAt.Equal(out.StartAt) {
			out.StartAt = p.StartAt
		} else {
			out.StartAt = time.Time{} // runs of their own: no common start
		}
		if p.StartedAt.IsZero() {
			continue
		}
		if lo.IsZero() || p.StartedAt.Before(lo) {
			lo = p.StartedAt
		}
		if p.StartedAt.After(hi) {
			hi = p.StartedAt
		}
	}
	out.StartedAt = lo
	if len(parts) > 1 && !lo.IsZero() {
		ms := float64(hi.Sub(lo).Microseconds()) / 1000
		out.StartSpreadMS = &ms
	}
}
