package metrics

import "testing"

// Shards' handshakes, dial failures, targets, keep-alives and DNS counts
// add up in a merge; percentiles are the worst shard's.
func TestMergeSummariesAddsIssue15And16Counts(t *testing.T) {
	part := func(n int64, p99 float64) *Summary {
		return &Summary{
			Handshakes:            &HandshakeSummary{Full: n, Resumed: 1, LatencyMS: Percentiles{P99: p99, Count: n + 1}},
			ConnectFailureReasons: map[string]int64{"cert-untrusted": n},
			Targets:               map[string]*TargetCounts{"a": {Requests: n, Registered: n, Failovers: 1}},
			Keepalives:            &KeepaliveSummary{Sent: n, Answered: n, Options: n, LatencyMS: Percentiles{P99: p99, Count: n}},
			DNS:                   &DNSSummary{Resolutions: 2, Changes: 1, Moved: n, Failures: map[string]int64{"servfail": 1}},
		}
	}
	m := MergeSummaries([]*Summary{part(10, 5), part(20, 9)}, NewHistogram())
	if h := m.Handshakes; h == nil || h.Full != 30 || h.Resumed != 2 || h.LatencyMS.P99 != 9 || h.LatencyMS.Count != 32 {
		t.Errorf("handshakes %+v", h)
	}
	if m.ConnectFailureReasons["cert-untrusted"] != 30 {
		t.Errorf("reasons %v", m.ConnectFailureReasons)
	}
	if a := m.Targets["a"]; a == nil || a.Requests != 30 || a.Registered != 30 || a.Failovers != 2 {
		t.Errorf("targets %+v", a)
	}
	if k := m.Keepalives; k == nil || k.Sent != 30 || k.Options != 30 || k.LatencyMS.P99 != 9 {
		t.Errorf("keepalives %+v", k)
	}
	if d := m.DNS; d == nil || d.Resolutions != 4 || d.Moved != 30 || d.Failures["servfail"] != 2 {
		t.Errorf("dns %+v", d)
	}
}

// Shards' churn and UDP GSO counts add up in a merge; a shard's silent
// churn makes the merged churn silent. (Process stays per shard: one
// process's heap or descriptors say nothing of the sum.)
func TestMergeSummariesAddsChurnAndGSO(t *testing.T) {
	part := func(n int64, silent bool) *Summary {
		return &Summary{Churn: &ChurnSummary{Offline: n, Online: n - 1, Silent: silent},
			UDPGSO: &GSOSummary{Messages: n, Datagrams: 10 * n, Refused: 1}, Process: &Process{RSSBytes: 1}}
	}
	m := MergeSummaries([]*Summary{part(10, false), part(20, true), {}}, NewHistogram())
	if c := m.Churn; c == nil || c.Offline != 30 || c.Online != 28 || !c.Silent {
		t.Errorf("churn %+v", c)
	}
	if g := m.UDPGSO; g == nil || g.Messages != 30 || g.Datagrams != 300 || g.Refused != 2 {
		t.Errorf("udp_gso %+v", g)
	}
	if m.Process != nil {
		t.Errorf("process %+v: one process's figures are not the merge's", m.Process)
	}
}
