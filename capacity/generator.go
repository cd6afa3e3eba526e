package capacity

import "github.com/regstorm/regstorm/metrics"

// The generator's self-check is the one every run has: metrics.Thresholds
// judge a trial's metrics.GeneratorSummary (Record). A limited trial says
// nothing of the registrar: it neither passes nor fails.

// thresholdsJSON is metrics.Thresholds in the result's units.
type thresholdsJSON struct {
	MinOffered         float64 `json:"min_offered_ratio"`
	MinJudgedRunS      float64 `json:"min_judged_run_s"`
	MaxTimerLagP99MS   float64 `json:"max_timer_lag_p99_ms"`
	MaxTimerLagMaxMS   float64 `json:"max_timer_lag_max_ms"`
	IgnoreDrops        bool    `json:"ignore_drops"`
	IgnoreSendFailures bool    `json:"ignore_send_failures"`
	MaxCPUBusy         float64 `json:"max_cpu_busy"`
}

func thresholdsToJSON(t metrics.Thresholds) thresholdsJSON {
	return thresholdsJSON{
		MinOffered: t.MinOffered, MinJudgedRunS: t.MinJudgedRun.Seconds(),
		MaxTimerLagP99MS: t.MaxTimerLagP99.Seconds() * 1000, MaxTimerLagMaxMS: t.MaxTimerLagMax.Seconds() * 1000,
		IgnoreDrops: t.IgnoreDrops, IgnoreSendFailures: t.IgnoreSendFailures, MaxCPUBusy: t.MaxCPUBusy,
	}
}

func (j thresholdsJSON) fromJSON() metrics.Thresholds {
	return metrics.Thresholds{
		MinOffered: j.MinOffered, MinJudgedRun: seconds(j.MinJudgedRunS),
		MaxTimerLagP99: seconds(j.MaxTimerLagP99MS / 1000), MaxTimerLagMax: seconds(j.MaxTimerLagMaxMS / 1000),
		IgnoreDrops: j.IgnoreDrops, IgnoreSendFailures: j.IgnoreSendFailures, MaxCPUBusy: j.MaxCPUBusy,
	}
}
