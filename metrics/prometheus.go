package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// collector turns a Totals snapshot into Prometheus metrics at scrape
// time, so that nothing on the hot path knows about Prometheus.
type collector struct {
	snapshot func() (*Totals, int)
	descs    map[string]*prometheus.Desc
}

var counterHelp = map[string]string{
	"regstorm_requests_total":         "REGISTER transactions started (first transmissions).",
	"regstorm_retransmissions_total":  "UDP retransmissions.",
	"regstorm_timeouts_total":         "Transactions ended by Timer F.",
	"regstorm_auth_challenges_total":  "401/407 challenges answered.",
	"regstorm_malformed_total":        "Messages that did not parse.",
	"regstorm_stale_responses_total":  "Responses to no current transaction (late or duplicate).",
	"regstorm_connect_failures_total": "TCP connects that failed.",
	"regstorm_tcp_connects_total":     "TCP connections opened.",
	"regstorm_connections_lost_total": "TCP connections lost.",
	"regstorm_unregistered_total":     "un-REGISTERs answered 2xx.",
}

func newCollector(snapshot func() (*Totals, int)) *collector {
	c := &collector{snapshot: snapshot, descs: map[string]*prometheus.Desc{}}
	for name, help := range counterHelp {
		c.descs[name] = prometheus.NewDesc(name, help, nil, nil)
	}
	c.descs["responses"] = prometheus.NewDesc("regstorm_responses_total", "Responses by status code.", []string{"code"}, nil)
	c.descs["registered"] = prometheus.NewDesc("regstorm_registered", "NAPs registered now.", nil, nil)
	c.descs["naps"] = prometheus.NewDesc("regstorm_naps", "NAPs this process simulates.", nil, nil)
	c.descs["transaction"] = prometheus.NewDesc("regstorm_transaction_latency_seconds", "First transmission to final response, per transaction (HdrHistogram).", nil, nil)
	c.descs["registration"] = prometheus.NewDesc("regstorm_registration_latency_seconds", "First REGISTER to 2xx, auth round trip included.", nil, nil)
	c.descs["corrected"] = prometheus.NewDesc("regstorm_transaction_latency_corrected_seconds", "Transaction latency measured from when the request was due (coordinated omission).", nil, nil)
	return c
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	t, naps := c.snapshot()
	counters := map[string]int64{
		"regstorm_requests_total": t.Requests, "regstorm_retransmissions_total": t.Retransmissions,
		"regstorm_timeouts_total": t.Timeouts, "regstorm_auth_challenges_total": t.AuthChallenges,
		"regstorm_malformed_total": t.Malformed, "regstorm_stale_responses_total": t.Stale,
		"regstorm_connect_failures_total": t.ConnectFailures, "regstorm_connections_lost_total": t.ConnLost,
		"regstorm_unregistered_total": t.Unregistered, "regstorm_tcp_connects_total": t.Connects,
	}
	for name, v := range counters {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.CounterValue, float64(v))
	}
	for code, v := range t.Responses {
		ch <- prometheus.MustNewConstMetric(c.descs["responses"], prometheus.CounterValue, float64(v), strconv.Itoa(code))
	}
	ch <- prometheus.MustNewConstMetric(c.descs["registered"], prometheus.GaugeValue, float64(t.Registered))
	ch <- prometheus.MustNewConstMetric(c.descs["naps"], prometheus.GaugeValue, float64(naps))
	for key, h := range map[string]interface {
		ValueAtQuantile(float64) int64
		TotalCount() int64
		Mean() float64
	}{"transaction": t.Transaction, "registration": t.Registration, "corrected": t.Corrected} {
		q := map[float64]float64{}
		for _, p := range []float64{0.5, 0.9, 0.99, 0.999} {
			q[p] = float64(h.ValueAtQuantile(p*100)) / 1e6 // µs → s
		}
		n := h.TotalCount()
		ch <- prometheus.MustNewConstSummary(c.descs[key], uint64(n), h.Mean()*float64(n)/1e6, q)
	}
}

// ServeMetrics serves Prometheus metrics on addr (/metrics) until the
// returned stop is called. snapshot is called on every scrape.
func ServeMetrics(addr string, snapshot func() (*Totals, int)) (stop func(), bound string, err error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(newCollector(snapshot)); err != nil {
		return nil, "", err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener is gone; nothing left to serve
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, l.Addr().String(), nil
}
