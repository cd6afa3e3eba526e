package engine

import (
	"context"
	"testing"
	"time"
)

// firstSends is when each user's first REGISTER was sent.
func firstSends(n *simNet) map[string]time.Duration {
	first := map[string]time.Duration{}
	for _, s := range n.Sent() {
		if _, ok := first[s.User]; !ok && s.Expires != 0 {
			first[s.User] = s.At
		}
	}
	return first
}

// N shards started together ramp as one process (issue 19): --rate is the
// whole run's, and shard k starts the group's NAP k+jN when one process
// would, at (k+jN)/rate: the union of the shards' first REGISTERs is one
// process's ramp, NAP by NAP, to the microsecond. The churn rate is the
// whole run's too: each shard takes its 1/N.
func TestShardsRampAsOneProcess(t *testing.T) {
	const naps, rate, shards = 40, 100.0, 4
	run := func(k, n int) (map[string]time.Duration, int64) {
		sn := newSimNet(t, simX)
		e := startSim(t, sn, Options{Groups: []Group{simGroup("g", naps, simX)}, Rate: rate, ShardK: k, ShardN: n,
			Churn: Churn{Rate: 8, Offline: time.Second}, Duration: 5 * time.Second, Drain: 5 * time.Second})
		sn.run(e, time.Minute)
		res, _ := e.Wait()
		checkSums(t, res)
		return firstSends(sn), res.Summary.Churn.Offline
	}
	one, oneChurn := run(0, 1)
	if len(one) != naps || one["g039"]-one["g000"] != 390*time.Millisecond {
		t.Fatalf("one process: %d NAPs, g039 at %v after g000", len(one), one["g039"]-one["g000"])
	}
	union := map[string]time.Duration{}
	var churn int64
	for k := 0; k < shards; k++ {
		first, off := run(k, shards)
		if len(first) != naps/shards {
			t.Errorf("shard %d started %d NAPs, want %d", k, len(first), naps/shards)
		}
		for u, at := range first {
			union[u] = at
		}
		churn += off
	}
	for u, at := range one {
		if union[u] != at {
			t.Errorf("%s: first REGISTER at %v in the shards, %v in one process", u, union[u], at)
		}
	}
	// 8 NAPs offline a second for the run, as one process (± one per shard
	// for where each one's first churn falls).
	t.Logf("churned: %d in 4 shards, %d in one process", churn, oneChurn)
	if d := churn - oneChurn; d < -shards || d > shards {
		t.Errorf("churned: %d in 4 shards, %d in one process", churn, oneChurn)
	}
}

// StartAt: Start makes the sockets, then waits for the wall time given,
// and the run (its ramp, --duration, its start time) counts from there. A
// stop during the wait ends it, and nothing is sent.
func TestStartAtWaitsThenCountsFromIt(t *testing.T) {
	at := time.Now().Add(300 * time.Millisecond)
	sn := newSimNet(t, simX)
	e := startSim(t, sn, Options{Groups: []Group{simGroup("g", 10, simX)}, Rate: 100, StartAt: at, Duration: time.Second})
	if late := e.StartedAt().Sub(at); late < 0 || late > 100*time.Millisecond {
		t.Errorf("started %v after StartAt", late)
	}
	sn.run(e, time.Minute)
	res, _ := e.Wait()
	if res.Summary.Registered != 10 {
		t.Errorf("%d registered", res.Summary.Registered)
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	sn = newSimNet(t, simX)
	began := time.Now()
	e, err := Start(ctx, sn.options(Options{Groups: []Group{simGroup("g", 10, simX)}, StartAt: time.Now().Add(time.Hour)}))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Fatalf("a stop during the wait took %v to end it", d)
	}
	sn.run(e, time.Minute)
	res, _ = e.Wait()
	if len(sn.Sent()) != 0 || res.Summary.Requests != 0 {
		t.Errorf("stopped before the start: %d sent, %d requests", len(sn.Sent()), res.Summary.Requests)
	}
}
