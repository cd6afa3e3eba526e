package metrics

import (
	"strconv"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/prometheus/client_golang/prometheus"
)

// The storms' latency in Prometheus: per stage (--stages) and per reboot.
// All of it is read from the snapshots' histograms when scraped, nothing
// on the hot path. The histograms have the run's fixed buckets, so that
// the pods of a distributed run sum (histogram_quantile over sum by (le,
// stage)); the gauges say where the run is and are the same in every
// shard (max, not sum, across pods).

// StageView is a stage as Prometheus shows it: its figures, and its own
// transactions' latency (µs; the current stage's so far).
type StageView struct {
	Stage
	Latency *hdrhistogram.Histogram
}

// StageViews reads a snapshot's stages for Prometheus: the stages over
// keep their histogram, the current one (the last, begun when the run's
// transaction histogram was base) gets now less base. now nil (no
// histograms in the snapshot): the stages' figures only.
func StageViews(stages []Stage, base, now *hdrhistogram.Histogram) []StageView {
	out := make([]StageView, len(stages))
	for i, st := range stages {
		out[i] = StageView{Stage: st, Latency: st.Latency}
		if i == len(stages)-1 && st.Latency == nil && base != nil && now != nil {
			out[i].Latency = Diff(now, base)
		}
	}
	return out
}

// stormDescs adds the storms' series to c; labels go on every one.
func (c *collector) stormDescs(labels prometheus.Labels) {
	c.descs["stage"] = prometheus.NewDesc("regstorm_stage", "The current stage of --stages, from 1 (the same in every shard).", nil, labels)
	c.descs["stage_naps"] = prometheus.NewDesc("regstorm_stage_naps", "The current stage's NAPs: the step's population, the whole run's (the same in every shard).", nil, labels)
	c.descs["stage_latency"] = prometheus.NewDesc("regstorm_stage_latency_seconds", "Each stage's own transactions, first transmission to final response (the current one's so far).", []string{"stage"}, labels)
	c.descs["reboot_latency"] = prometheus.NewDesc("regstorm_reboot_latency_seconds", "Each reboot's transactions, from the event until all its NAPs were back (or the next reboot, or the end of the load): exported once that window is over.", []string{"reboot"}, labels)
	c.descs["last_reboot_latency"] = prometheus.NewDesc("regstorm_last_reboot_latency_seconds", "The last reboot whose window is over: its transactions' latency at quantile 0.5, 0.9, 0.99 and 1 (max), this process's.", []string{"quantile"}, labels)
}

// collectStageStorms exports the stages' and the reboots' latency.
func (c *collector) collectStageStorms(ch chan<- prometheus.Metric, v *View) {
	if n := len(v.Stages); n > 0 {
		cur := v.Stages[n-1]
		ch <- prometheus.MustNewConstMetric(c.descs["stage"], prometheus.GaugeValue, float64(cur.Stage.Stage))
		ch <- prometheus.MustNewConstMetric(c.descs["stage_naps"], prometheus.GaugeValue, float64(cur.NAPs))
		for _, st := range v.Stages {
			if st.Latency == nil {
				continue
			}
			count, sum, buckets := promBuckets(st.Latency)
			ch <- prometheus.MustNewConstHistogram(c.descs["stage_latency"], count, sum, buckets, strconv.Itoa(st.Stage.Stage))
		}
	}
	var last *Event
	for i := range v.Events {
		ev := &v.Events[i]
		if ev.Latency == nil {
			continue
		}
		last = ev
		count, sum, buckets := promBuckets(ev.Latency)
		ch <- prometheus.MustNewConstHistogram(c.descs["reboot_latency"], count, sum, buckets, strconv.Itoa(i+1))
	}
	if last != nil && last.LatencyMS.Count > 0 {
		l := last.LatencyMS
		for _, q := range []struct {
			q  string
			ms float64
		}{{"0.5", l.P50}, {"0.9", l.P90}, {"0.99", l.P99}, {"1", l.Max}} {
			ch <- prometheus.MustNewConstMetric(c.descs["last_reboot_latency"], prometheus.GaugeValue, q.ms/1000, q.q)
		}
	}
}
