package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/regstorm/regstorm/capacity"
	"github.com/regstorm/regstorm/metrics"
)

// schedule is a capacity command's fixed list of rates (--rates), run
// instead of the search: the way to measure across shards.
type schedule struct {
	sc    capacity.Schedule
	plans []capacity.Plan
}

// scheduleOf reads --rates and what goes with it, nil without --rates.
// A shard (--shard) needs a schedule, a common --start-at and a --summary
// file for the merge, and gates nothing itself (--fail-on is the merge's).
func scheduleOf(c *cli.Context, rc *runConfig, p capacity.Params, stderr io.Writer) (*schedule, error) {
	o := rc.opts
	sharded := o.ShardN > 0
	if c.String("rates") == "" {
		switch {
		case sharded:
			return nil, usagef("--shard: a search needs each trial's verdict before it picks the next rate, and shards do not talk to each other: give them a fixed schedule, --rates r1,r2,… (docs/capacity.md)")
		case !o.StartAt.IsZero():
			return nil, usagef("--start-at: a search does not wait for a time; --start-at aligns a schedule's steps (--rates) across shards")
		}
		return nil, nil
	}
	rates, err := parseRates(c.String("rates"))
	if err != nil {
		return nil, usagef("--rates %q: %v", c.String("rates"), err)
	}
	if err := p.ValidateSchedule(rates); err != nil {
		return nil, usagef("--rates: %v", err)
	}
	if sharded {
		switch {
		case o.StartAt.IsZero():
			return nil, usagef("--shard needs --start-at: every shard's steps begin at fixed times from it, so that they switch rates together")
		case rc.failOn != "":
			return nil, usagef("--fail-on: a shard's steps are its share, not the registrar's verdict; gate the merge (regstorm merge shard-*.json --fail-on …)")
		case rc.summary == "":
			return nil, usagef("--summary: a shard's steps are for the merge; write them to a file (--summary shard-k.json)")
		}
	}
	s := &schedule{sc: capacity.Schedule{Rates: rates, StartAt: o.StartAt}}
	if s.sc.StartAt.IsZero() {
		s.sc.StartAt = time.Now()
	} else if err := checkStartAt(o.StartAt, time.Now(), rc.quiet, stderr); err != nil {
		return nil, err
	}
	s.sc.StartAt = s.sc.StartAt.UTC()
	if sharded {
		s.sc.Shard = &metrics.ShardInfo{K: o.ShardK, N: o.ShardN}
	}
	s.plans = p.Steps(s.sc.StartAt, rates)
	return s, nil
}

// parseRates reads "1000,1500,2000": rates per second, the whole run's.
func parseRates(s string) ([]float64, error) {
	var rates []float64
	for _, f := range strings.Split(s, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || math.IsNaN(r) || math.IsInf(r, 0) {
			return nil, fmt.Errorf("%q is not a rate per second", f)
		}
		rates = append(rates, r)
	}
	return rates, nil
}

// heading says what the command runs, for the progress output: the
// search (s nil) or the schedule.
func (s *schedule) heading(maxTime time.Duration) string {
	if s == nil {
		return fmt.Sprintf("search bounded by %v", maxTime)
	}
	rates := make([]string, len(s.sc.Rates))
	for i, r := range s.sc.Rates {
		rates[i] = metrics.Thousands(r)
	}
	last := s.plans[len(s.plans)-1]
	d := last.StartAt.Add(last.Duration).Sub(s.sc.StartAt)
	out := fmt.Sprintf("a schedule of %d steps (%s/s) from %s, %v", len(rates), strings.Join(rates, ", "),
		s.sc.StartAt.Format(time.RFC3339), d.Round(time.Second))
	if sh := s.sc.Shard; sh != nil {
		out += fmt.Sprintf(", shard %d/%d (1/%d of each rate)", sh.K, sh.N, sh.N)
	}
	return out
}

// shardNote is what a shard says at its end instead of the result: its
// share judges nothing alone.
func shardNote(sh *metrics.ShardInfo, summary string) string {
	return fmt.Sprintf("regstorm capacity: shard %d/%d done, its steps in %s; the result is the merge of the %d shards' files: regstorm merge shard-*.json",
		sh.K, sh.N, summary, sh.N)
}
