package engine

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/regstorm/regstorm/metrics"
)

// stageState is the run's stages: the current one, and every one so far.
type stageState struct {
	stage  *stageRun
	stages []*metrics.Stage
}

// Stages are applied by the caller (reloads at their times); the engine
// keeps each one's figures: what the registrar did from its start to the
// next one's (or the end of the load).

type stageRun struct {
	summary *metrics.Stage
	at      time.Duration
	start   metrics.Counts
	latency *hdrhistogram.Histogram // the run's transaction histogram at its start
}

// Stage says that stage k (from 1) of naps NAPs begins now; the one
// before ends.
func (e *Engine) Stage(k, naps int) {
	_, _ = onLoop(e, func(now time.Duration) struct{} { e.beginStage(k, naps, now); return struct{}{} })
}

func (e *Engine) beginStage(k, naps int, now time.Duration) {
	if e.phase != phaseLoad {
		return
	}
	t := e.endStage(now)
	e.stage = &stageRun{at: now, start: t.Counts, latency: t.Transaction.Clone(),
		summary: &metrics.Stage{Stage: k, AtS: (now - e.start).Seconds(), NAPs: naps}}
	e.stages = append(e.stages, e.stage.summary)
}

// endStage closes the open stage, if any; it returns the run's totals now.
func (e *Engine) endStage(now time.Duration) *metrics.Totals {
	t, _ := e.totals(nil)
	st := e.stage
	if st == nil {
		return t
	}
	e.stage = nil
	s := st.summary
	s.DurationS = (now - st.at).Seconds()
	s.Requests = t.Requests - st.start.Requests
	s.Retransmissions = t.Retransmissions - st.start.Retransmissions
	s.Timeouts = t.Timeouts - st.start.Timeouts
	s.Latency = metrics.Diff(t.Transaction, st.latency)
	s.LatencyMS = metrics.PercentilesOf(s.Latency)
	return t
}
