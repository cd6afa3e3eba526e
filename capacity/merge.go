package capacity

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/regstorm/regstorm/metrics"
)

// MergeShards judges a schedule that shards ran as a whole, step by step:
// their attempts, successes, failures and retransmissions added up, the
// latency from their histograms merged (exact, as one process's), the
// step generator-limited if any shard was, then JudgeSchedule. parts are
// the shards' results, names their files (for the errors); each k of N
// must be there once, all of one schedule; n > 0 requires N = n.
func MergeShards(parts []Result, names []string, n int) (Result, error) {
	if err := checkShards(parts, names, n); err != nil {
		return Result{}, err
	}
	first := parts[0]
	sc := Schedule{Rates: first.Schedule.Rates, StartAt: first.Schedule.StartAt, Shards: len(parts)}
	t := Target{Mode: first.Mode, Transport: first.Transport}
	var trials []Trial
	spread := 0.0
	for i := range first.Schedule.Rates {
		step := make([]Trial, 0, len(parts))
		shards := make([]*metrics.ShardInfo, 0, len(parts))
		for _, p := range parts {
			if i < len(p.Trials) {
				step = append(step, p.Trials[i])
				shards = append(shards, p.Schedule.Shard)
			}
		}
		if len(step) == 0 {
			break // no shard ran it: the schedule was interrupted before
		}
		tr, err := mergeStep(step, shards, len(parts))
		if err != nil {
			return Result{}, fmt.Errorf("step %d (%s/s): %v", i+1, rate(first.Schedule.Rates[i]), err)
		}
		trials = append(trials, tr)
		spread = max(spread, startSpreadMS(step))
	}
	sc.StartSpreadMS = &spread
	for _, p := range parts {
		t.Auth = t.Auth || p.Auth
	}
	return JudgeSchedule(t, first.Params, sc, trials), nil
}

// checkShards refuses parts that are not the N shards of one schedule,
// each once.
func checkShards(parts []Result, names []string, n int) error {
	if len(parts) == 0 {
		return errors.New("no shard")
	}
	byK := map[int]string{}
	for i, p := range parts {
		sc := p.Schedule
		if sc == nil || sc.Shard == nil {
			return fmt.Errorf("%s is not a shard's schedule (regstorm capacity --rates … --shard k/N --start-at T): a search's result does not merge", names[i])
		}
		first := parts[0].Schedule
		switch {
		case sc.Shard.N != first.Shard.N:
			return fmt.Errorf("%s is a shard of %d, %s of %d", names[i], sc.Shard.N, names[0], first.Shard.N)
		case !slices.Equal(sc.Rates, first.Rates):
			return fmt.Errorf("%s ran the rates %v, %s %v: not one schedule", names[i], sc.Rates, names[0], first.Rates)
		case !sc.StartAt.Equal(first.StartAt):
			return fmt.Errorf("%s began at %s, %s at %s: give the shards one --start-at", names[i],
				sc.StartAt.Format(time.RFC3339Nano), names[0], first.StartAt.Format(time.RFC3339Nano))
		case p.Mode != parts[0].Mode || p.Transport != parts[0].Transport:
			return fmt.Errorf("%s measured %s over %s, %s %s over %s", names[i], p.Mode, p.Transport, names[0], parts[0].Mode, parts[0].Transport)
		case !reflect.DeepEqual(p.Params, parts[0].Params):
			return fmt.Errorf("%s and %s ran their steps with other settings (params)", names[i], names[0])
		}
		if other, ok := byK[sc.Shard.K]; ok {
			return fmt.Errorf("%s and %s are both shard %d/%d", other, names[i], sc.Shard.K, sc.Shard.N)
		}
		byK[sc.Shard.K] = names[i]
	}
	N := parts[0].Schedule.Shard.N
	if n > 0 && n != N {
		return fmt.Errorf("the files are shards of %d, not %d (--shards)", N, n)
	}
	for k := range N {
		if _, ok := byK[k]; !ok {
			return fmt.Errorf("shard %d of %d missing (%d of %d files given)", k, N, len(parts), N)
		}
	}
	return nil
}

// mergeStep adds up one step's trials of the shards (of n in all: a
// shard without it was interrupted before).
func mergeStep(step []Trial, shards []*metrics.ShardInfo, n int) (Trial, error) {
	out := step[0]
	out.Attempts, out.Successes, out.Retransmissions, out.RanS = 0, 0, 0, 0
	out.Failures, out.FirstFailure, out.LatencyMS, out.LatencyHistogram = map[string]int64{}, nil, nil, ""
	h := metrics.NewHistogram()
	gens := make([]metrics.GeneratorSummary, len(step))
	outcomes := map[Outcome]bool{}
	for i, tr := range step {
		if tr.Rate != out.Rate || tr.N != out.N || tr.Phase != PhaseStep {
			return Trial{}, fmt.Errorf("shard %d/%d ran step %d at %s/s (%s)", shards[i].K, shards[i].N, tr.N, rate(tr.Rate), tr.Phase)
		}
		out.Attempts += tr.Attempts
		out.Successes += tr.Successes
		out.Retransmissions += tr.Retransmissions
		out.RanS = max(out.RanS, tr.RanS)
		for why, c := range tr.Failures {
			out.Failures[why] += c
		}
		if f := tr.FirstFailure; f != nil && (out.FirstFailure == nil || f.At < out.FirstFailure.At) {
			ff := *f
			out.FirstFailure = &ff
		}
		if tr.LatencyHistogram != "" {
			sh, err := hdrhistogram.Decode([]byte(tr.LatencyHistogram))
			if err != nil {
				return Trial{}, fmt.Errorf("shard %d/%d: latency histogram: %v", shards[i].K, shards[i].N, err)
			}
			h.Merge(sh)
		} else if tr.LatencyMS != nil {
			return Trial{}, fmt.Errorf("shard %d/%d has latencies but no latency_histogram", shards[i].K, shards[i].N)
		}
		if !tr.StartedAt.IsZero() && (out.StartedAt.IsZero() || tr.StartedAt.Before(out.StartedAt)) {
			out.StartedAt = tr.StartedAt
		}
		gens[i] = tr.Generator
		outcomes[tr.Outcome] = true
	}
	if h.TotalCount() > 0 {
		p := metrics.PercentilesOf(h)
		out.LatencyMS = &Latency{P50: p.P50, P90: p.P90, P99: p.P99, Max: p.Max, Count: p.Count}
		out.LatencyHistogram = encodeHistogram(h)
	}
	out.Generator = mergeGenerators(gens, shards)
	switch {
	case len(step) < n || outcomes[OutcomeInterrupted]:
		out.Outcome = OutcomeInterrupted
	case outcomes[OutcomeGenerator]:
		out.Outcome = OutcomeGenerator
	case outcomes[OutcomeFail]:
		out.Outcome = OutcomeFail
	default:
		out.Outcome = OutcomePass
	}
	return out, nil
}

// mergeGenerators is the shards' self-checks of one step as one: limited
// if any was (its reasons said with the shard's number), the rates and
// counts added up, the timer lag and CPU the worst shard's (percentiles
// of lag do not add; the check is on the worst anyway).
func mergeGenerators(gs []metrics.GeneratorSummary, shards []*metrics.ShardInfo) metrics.GeneratorSummary {
	out := metrics.GeneratorSummary{Reasons: []string{}}
	var asked, offered float64
	haveAsked, haveOffered := true, true
	for i, g := range gs {
		if g.Limited {
			out.Limited = true
			for _, r := range g.Reasons {
				out.Reasons = append(out.Reasons, "shard "+strconv.Itoa(shards[i].K)+"/"+strconv.Itoa(shards[i].N)+": "+r)
			}
		}
		haveAsked = haveAsked && g.RateAskedPerS != nil
		haveOffered = haveOffered && g.RateOfferedPerS != nil
		if haveAsked {
			asked += *g.RateAskedPerS
		}
		if haveOffered {
			offered += *g.RateOfferedPerS
		}
		l := &out.TimerLagMS
		l.P50, l.P90, l.P99, l.P999, l.Max = max(l.P50, g.TimerLagMS.P50), max(l.P90, g.TimerLagMS.P90),
			max(l.P99, g.TimerLagMS.P99), max(l.P999, g.TimerLagMS.P999), max(l.Max, g.TimerLagMS.Max)
		l.Count += g.TimerLagMS.Count
		out.SocketDrops += g.SocketDrops
		out.SendFailures += g.SendFailures
		if g.CPU != nil && (out.CPU == nil || *g.CPU > *out.CPU) {
			c := *g.CPU
			out.CPU = &c
		}
	}
	if haveAsked {
		out.RateAskedPerS = &asked
	}
	if haveOffered {
		out.RateOfferedPerS = &offered
	}
	return out
}

// startSpreadMS is the gap between the first and the last shard's start
// of one step.
func startSpreadMS(step []Trial) float64 {
	var first, last time.Time
	for _, tr := range step {
		s := tr.StartedAt
		if s.IsZero() {
			continue
		}
		if first.IsZero() || s.Before(first) {
			first = s
		}
		if s.After(last) {
			last = s
		}
	}
	return float64(last.Sub(first)) / float64(time.Millisecond)
}
