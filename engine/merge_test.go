package engine

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"testing"
	"time"

	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/netsim"
)

// hlogOf is an .hlog written as regstorm writes one: an interval a
// snapshot, then the run's tagged histograms and its summary.
type hlogOf struct {
	buf bytes.Buffer
	hl  *metrics.Hlog
}

func (h *hlogOf) Needs() Needs { return NeedInterval }
func (h *hlogOf) Observe(s *Snapshot) {
	if h.hl == nil {
		h.hl, _ = metrics.NewHlog(&h.buf, s.At.Add(-s.Elapsed))
	}
	_ = h.hl.Interval(s.Interval, s.IntervalFrom, s.At)
}

// runShard runs the load as shard k of n (n 0: one process) in simulated
// time, and returns its .hlog read back.
func runShard(t *testing.T, k, n int) (*metrics.Shard, *Result) {
	net := newSimNet(t, simX)
	// A deterministic 10 % loss, the same requests lost in every shard
	// and in the single process: retransmissions, latency spread.
	net.Lose = func(s netsim.Send) bool {
		h := fnv.New32a()
		fmt.Fprintf(h, "%s/%d/%v", s.User, s.CSeq, s.At)
		return h.Sum32()%10 == 0
	}
	h := &hlogOf{}
	o := Options{Groups: []Group{simGroup("g", 1000, simX)}, Rate: 200, Duration: 10 * time.Second, Drain: 5 * time.Second,
		ShardK: k, ShardN: n, SnapshotEvery: time.Second, Observers: []Observer{h}}
	e := startSim(t, net, o)
	net.run(e, 200*time.Second)
	res, _ := e.Wait()
	checkSums(t, res)
	if err := h.hl.Tagged(metrics.RunHistograms(res.Totals, res.Groups, res.Summary), res.Summary.StartedAt, res.Summary.StartedAt.Add(15*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := h.hl.Summary(res.Summary); err != nil {
		t.Fatal(err)
	}
	sh, err := metrics.ReadShard(&h.buf)
	if err != nil {
		t.Fatal(err)
	}
	return sh, res
}

// Two shards merged give the figures of one process running the same
// load: counts, every latency histogram (exact, from the .hlog's tagged
// histograms), the drain, and the timeline second by second.
func TestMergedShardsMatchOneProcess(t *testing.T) {
	one, _ := runShard(t, 0, 0)
	s0, _ := runShard(t, 0, 2)
	s1, _ := runShard(t, 1, 2)
	shards := []*metrics.Shard{s0, s1}
	tx := metrics.NewHistogram()
	tx.Merge(s0.Transaction)
	tx.Merge(s1.Transaction)
	m := metrics.MergeSummaries([]*metrics.Summary{s0.Summary, s1.Summary}, tx)
	m.MergeHistograms(shards)
	w := one.Summary
	if w.Retransmissions == 0 || w.Drain == nil {
		t.Fatalf("the load lost nothing, or had no drain: %+v", w)
	}
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"naps", m.NAPs, w.NAPs}, {"registered", m.Registered, w.Registered}, {"requests", m.Requests, w.Requests},
		{"retransmissions", m.Retransmissions, w.Retransmissions}, {"timeouts", m.Timeouts, w.Timeouts},
		{"responses", fmt.Sprint(m.Responses), fmt.Sprint(w.Responses)},
		{"latency_ms", m.LatencyMS, w.LatencyMS}, {"registration_latency_ms", m.RegistrationMS, w.RegistrationMS},
		{"latency_corrected_ms", m.CorrectedMS, w.CorrectedMS}, {"refresh_error_ms", m.RefreshErrorMS, w.RefreshErrorMS},
		{"drain_latency_ms", m.DrainLatencyMS, w.DrainLatencyMS}, {"drain.latency_ms", m.Drain.LatencyMS, w.Drain.LatencyMS},
		{"drain.requests", m.Drain.Requests, w.Drain.Requests}, {"drain.unregistered", m.Drain.Unregistered, w.Drain.Unregistered},
		{"groups.g.latency_ms", m.Groups["g"].LatencyMS, w.Groups["g"].LatencyMS},
		{"latency_distribution", fmt.Sprint(m.LatencyDistribution), fmt.Sprint(w.LatencyDistribution)},
		{"registration_distribution", fmt.Sprint(m.RegistrationDistribution), fmt.Sprint(w.RegistrationDistribution)},
		{"timeline length", len(m.Timeline), len(w.Timeline)},
	} {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s: merged %v, one process %v", c.what, c.got, c.want)
		}
	}
	for i := range min(len(m.Timeline), len(w.Timeline)) {
		g, x := m.Timeline[i], w.Timeline[i]
		if g.T != x.T || g.Registered != x.Registered || g.Retransmissions != x.Retransmissions || g.Timeouts != x.Timeouts ||
			fmt.Sprint(deref(g.P50MS), deref(g.P99MS)) != fmt.Sprint(deref(x.P50MS), deref(x.P99MS)) {
			t.Errorf("second %d: merged %+v p50 %v p99 %v; one process %+v p50 %v p99 %v", i, g, deref(g.P50MS), deref(g.P99MS), x, deref(x.P50MS), deref(x.P99MS))
		}
	}
}
