// Package capacity finds the highest registration rate a registrar
// sustains with no failure, the Registration Rate and Re-Registration Rate
// benchmarks of RFC 7502 (§6.7, §6.8; terms of RFC 7501), by the search of
// RFC 7502 §4.10: trials at one rate each, a search that narrows to the
// highest rate that passed, and a longer confirmation of it.
//
// The package holds the search and its result, no I/O and no clock: a
// Search proposes a trial (Plan), the caller runs it, hands back what
// happened (TrialResult) with the time the search has taken so far, and
// asks for the next one, until the search is over and Result says what
// was found. docs/capacity.md says how and why the defaults differ from
// the RFC's.
package capacity

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/regstorm/regstorm/metrics"
)

// Params are the search's settings. DefaultParams gives regstorm's; the
// zero Params is not valid.
type Params struct {
	// StartRate is the first trial's rate, per second (RFC 7502: 100).
	StartRate float64
	// Growth multiplies the rate after each passed trial until one fails.
	Growth float64
	// MaxRate is the highest rate tried: a search that passes it confirms
	// it and says the registrar may take more (limited by the generator).
	MaxRate float64
	// MinRate: a search that fails down to it gives up (rate 0, "below").
	MinRate float64
	// TrialDuration is how long a search trial offers its rate, unless
	// TrialSize is set: then a trial is TrialSize attempts, however long
	// (the RFC's way, in sessions; at 3 000/s its 100 000 would be 33 s).
	TrialDuration time.Duration
	TrialSize     int64
	// The search stops narrowing when the highest passed rate and the
	// lowest failed one are at most Granularity apart (per second), or, if
	// Granularity is 0, GranularityRatio of the passed rate (RFC: G = 5/s).
	Granularity      float64
	GranularityRatio float64
	// The confirmation offers the found rate for ConfirmSize attempts, and
	// for at least ConfirmDuration: a rate that holds only thanks to a
	// burst allowance of B seconds then cannot pass more than
	// B/ConfirmDuration above the sustained rate.
	ConfirmSize     int64
	ConfirmDuration time.Duration
	// Backoff (the RFC's calibration amount C) lowers the candidate by this
	// share when its confirmation fails, before confirming again.
	Backoff float64
	// Settle is the pause before each trial but the first: the registrar
	// drains its queues, the previous trial's transactions end.
	Settle time.Duration
	// GeneratorRetries: a trial in which the generator was limited is run
	// again this many times at the same rate before the rate counts as
	// beyond the generator (a shared machine has passing hiccups).
	GeneratorRetries int
	// MaxTime bounds the whole search (0: no bound). A trial that cannot
	// end by then is not started; the result then says max-time.
	MaxTime time.Duration
	// RunFailingTrials keeps a trial going after its first failure; by
	// default a trial ends there, which keeps failing trials short.
	RunFailingTrials bool
	// Generator holds the self-check's thresholds (Judge).
	Generator metrics.Thresholds
}

// DefaultParams are regstorm's defaults: a search against a registrar
// capped anywhere from 1 000 to 3 000/s confirms within 240 s (the tests
// run every cap of that range), and a confirmation lasts at least 20 s,
// so that a one-second burst allowance lifts the result by 5 % at most.
func DefaultParams() Params {
	return Params{
		StartRate:        100,
		Growth:           2,
		MaxRate:          200000,
		MinRate:          10,
		TrialDuration:    10 * time.Second,
		GranularityRatio: 0.01,
		ConfirmSize:      50000,
		ConfirmDuration:  20 * time.Second,
		Backoff:          0.05,
		Settle:           2 * time.Second,
		GeneratorRetries: 1,
		MaxTime:          10 * time.Minute,
		Generator:        metrics.DefaultThresholds(),
	}
}

// Validate says what is wrong with p, if anything.
func (p Params) Validate() error {
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf(f, a...)) }
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	if !finite(p.StartRate) || p.StartRate <= 0 {
		bad("start rate %v: want > 0", p.StartRate)
	}
	if !finite(p.Growth) || p.Growth <= 1 {
		bad("growth %v: want > 1", p.Growth)
	}
	if !finite(p.MinRate) || p.MinRate <= 0 {
		bad("minimum rate %v: want > 0", p.MinRate)
	}
	if !finite(p.MaxRate) || p.MaxRate < p.MinRate || p.MaxRate < p.StartRate {
		bad("maximum rate %v: want at least the start and minimum rates", p.MaxRate)
	}
	if p.TrialSize < 0 || (p.TrialSize == 0 && p.TrialDuration <= 0) {
		bad("trial: want a duration > 0 or a size > 0")
	}
	if !finite(p.Granularity) || !finite(p.GranularityRatio) || p.Granularity < 0 || p.GranularityRatio < 0 ||
		(p.Granularity == 0 && (p.GranularityRatio == 0 || p.GranularityRatio >= 1)) {
		bad("granularity: want a rate > 0, or a ratio in (0, 1)")
	}
	if p.ConfirmSize < 0 || p.ConfirmDuration < 0 || (p.ConfirmSize == 0 && p.ConfirmDuration == 0) {
		bad("confirmation: want a size or a duration")
	}
	if !finite(p.Backoff) || p.Backoff <= 0 || p.Backoff >= 1 {
		bad("backoff %v: want a share in (0, 1)", p.Backoff)
	}
	if p.Settle < 0 || p.GeneratorRetries < 0 || p.MaxTime < 0 {
		bad("settle, generator retries and max time: want >= 0")
	}
	return errors.Join(errs...)
}

// granularity is the width below which the search stops, at lower bound lo.
func (p Params) granularity(lo float64) float64 {
	if p.Granularity > 0 {
		return p.Granularity
	}
	return max(p.GranularityRatio*lo, 1)
}

// trialDuration is how long a search trial at rate lasts.
func (p Params) trialDuration(rate float64) time.Duration {
	if p.TrialSize > 0 {
		return seconds(float64(p.TrialSize) / rate)
	}
	return p.TrialDuration
}

// confirmDuration is how long the confirmation at rate lasts.
func (p Params) confirmDuration(rate float64) time.Duration {
	return max(p.ConfirmDuration, seconds(float64(p.ConfirmSize)/rate))
}

func seconds(s float64) time.Duration { return time.Duration(math.Round(s * float64(time.Second))) }

// paramsJSON is Params as the result shows them: durations in seconds.
type paramsJSON struct {
	StartRate          float64        `json:"start_rate_per_s"`
	Growth             float64        `json:"growth"`
	MaxRate            float64        `json:"max_rate_per_s"`
	MinRate            float64        `json:"min_rate_per_s"`
	TrialDurationS     float64        `json:"trial_duration_s"`
	TrialSize          int64          `json:"trial_size"`
	Granularity        float64        `json:"granularity_per_s"`
	GranularityRatio   float64        `json:"granularity_ratio"`
	ConfirmSize        int64          `json:"confirm_size"`
	ConfirmDurationS   float64        `json:"confirm_duration_s"`
	Backoff            float64        `json:"backoff"`
	SettleS            float64        `json:"settle_s"`
	GeneratorRetries   int            `json:"generator_retries"`
	MaxTimeS           float64        `json:"max_time_s"`
	RunFailingTrials   bool           `json:"run_failing_trials"`
	GeneratorThreshold thresholdsJSON `json:"generator_thresholds"`
}

// MarshalJSON writes durations in seconds.
func (p Params) MarshalJSON() ([]byte, error) {
	return json.Marshal(paramsJSON{
		StartRate: p.StartRate, Growth: p.Growth, MaxRate: p.MaxRate, MinRate: p.MinRate,
		TrialDurationS: p.TrialDuration.Seconds(), TrialSize: p.TrialSize,
		Granularity: p.Granularity, GranularityRatio: p.GranularityRatio,
		ConfirmSize: p.ConfirmSize, ConfirmDurationS: p.ConfirmDuration.Seconds(),
		Backoff: p.Backoff, SettleS: p.Settle.Seconds(), GeneratorRetries: p.GeneratorRetries,
		MaxTimeS: p.MaxTime.Seconds(), RunFailingTrials: p.RunFailingTrials,
		GeneratorThreshold: thresholdsToJSON(p.Generator),
	})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (p *Params) UnmarshalJSON(b []byte) error {
	var j paramsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*p = Params{
		StartRate: j.StartRate, Growth: j.Growth, MaxRate: j.MaxRate, MinRate: j.MinRate,
		TrialDuration: seconds(j.TrialDurationS), TrialSize: j.TrialSize,
		Granularity: j.Granularity, GranularityRatio: j.GranularityRatio,
		ConfirmSize: j.ConfirmSize, ConfirmDuration: seconds(j.ConfirmDurationS),
		Backoff: j.Backoff, Settle: seconds(j.SettleS), GeneratorRetries: j.GeneratorRetries,
		MaxTime: seconds(j.MaxTimeS), RunFailingTrials: j.RunFailingTrials,
		Generator: j.GeneratorThreshold.fromJSON(),
	}
	return nil
}
