package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// View is what Prometheus shows: each group's figures (labelled
// group="name"); a run without groups has one, "default".
type View struct {
	Groups []GroupView
	Stages []StageView  // the stages so far (--stages), the current one last
	Events []Event      // reboots so far
	Churn  ChurnSummary // NAPs taken offline and back so far
	// Started is when the load began (after --start-at's wait): the pods
	// of a distributed run that started together show the same.
	Started time.Time
	// TrialRate: a capacity search's current trial's rate (0: none).
	TrialRate float64
}

// GroupView is one group's figures.
type GroupView struct {
	Name   string
	NAPs   int // meant to be registered
	Totals *Totals
}

// collector turns the latest View into Prometheus metrics at scrape time,
// so that nothing on the hot path knows about Prometheus.
type collector struct {
	view  func() *View
	descs map[string]*prometheus.Desc
}

var counterHelp = map[string]string{
	"regstorm_requests_total":         "REGISTER transactions started (first transmissions).",
	"regstorm_retransmissions_total":  "UDP retransmissions.",
	"regstorm_timeouts_total":         "Transactions ended by Timer F.",
	"regstorm_abandoned_total":        "Transactions ended with neither a final response nor a timeout.",
	"regstorm_auth_challenges_total":  "401/407 challenges answered.",
	"regstorm_malformed_total":        "Messages that did not parse.",
	"regstorm_stale_responses_total":  "Responses to no current transaction (late or duplicate).",
	"regstorm_connect_failures_total": "NAPs whose connect failed (TCP, TLS, WS, WSS).",
	"regstorm_tcp_connects_total":     "Stream connections opened (TCP, TLS, WS, WSS).",
	"regstorm_connections_lost_total": "Stream connections lost.",
	"regstorm_unregistered_total":     "un-REGISTERs answered 2xx.",
}

// latencyBuckets are the histograms' upper bounds, in seconds: fixed, so
// that the pods of a distributed run can be summed (histogram_quantile
// over sum by (le)). From 0.5 ms (a registrar on the same host) to 32 s
// (Timer F); from T1 (0.5 s) on they double as UDP retransmissions do, so
// that an answer to the n-th retransmission falls in a bucket of its own.
var latencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32}

// LatencyBuckets are the upper bounds of every latency histogram, seconds.
func LatencyBuckets() []float64 { return append([]float64(nil), latencyBuckets...) }

// failureReasons are always exported, 0 or more, so that a rate over them
// exists from the first scrape; refusals add their status code.
var promFailureReasons = []string{"timeout", "connect-failed", "auth-refused", "connection-lost", "malformed"}

// newCollector makes the collector; labels go on every series (the shard
// of a distributed run: shard="k").
func newCollector(view func() *View, labels map[string]string) *collector {
	c := &collector{view: view, descs: map[string]*prometheus.Desc{}}
	g := []string{"group"}
	cl := prometheus.Labels(labels)
	for name, help := range counterHelp {
		c.descs[name] = prometheus.NewDesc(name, help, g, cl)
	}
	c.descs["responses"] = prometheus.NewDesc("regstorm_responses_total", "Responses by status code.", []string{"group", "code"}, cl)
	c.descs["registered"] = prometheus.NewDesc("regstorm_registered", "NAPs registered now.", g, cl)
	c.descs["naps"] = prometheus.NewDesc("regstorm_naps", "NAPs meant to be registered in this process.", g, cl)
	c.descs["transaction"] = prometheus.NewDesc("regstorm_transaction_latency_seconds", "First transmission to final response, per transaction.", g, cl)
	c.descs["registration"] = prometheus.NewDesc("regstorm_registration_latency_seconds", "First REGISTER to 2xx, auth round trip included.", g, cl)
	c.descs["corrected"] = prometheus.NewDesc("regstorm_transaction_latency_corrected_seconds", "Transaction latency measured from when the request was due (coordinated omission).", g, cl)
	c.descs["handshake"] = prometheus.NewDesc("regstorm_handshake_latency_seconds", "TLS, WS and WSS connections: connected to ready to carry SIP (TLS handshake, WebSocket upgrade).", g, cl)
	c.descs["handshakes"] = prometheus.NewDesc("regstorm_tls_handshakes_total", "TLS handshakes done, full or resumed.", []string{"group", "kind"}, cl)
	tl := []string{"group", "target"}
	c.descs["target_registered"] = prometheus.NewDesc("regstorm_target_registered", "NAPs registered at each target (a group with several, RFC 3263).", tl, cl)
	c.descs["target_requests"] = prometheus.NewDesc("regstorm_target_requests_total", "REGISTER transactions started at each target.", tl, cl)
	c.descs["target_timeouts"] = prometheus.NewDesc("regstorm_target_timeouts_total", "Transactions that timed out at each target.", tl, cl)
	c.descs["target_failovers"] = prometheus.NewDesc("regstorm_target_failovers_total", "NAPs that left each target for their next (timeout, 503, failed connect).", tl, cl)
	c.descs["requests_received"] = prometheus.NewDesc("regstorm_requests_received_total", "Requests that reached the NAPs (a registrar's or SBC's OPTIONS pings), by method; each answered.", []string{"group", "method"}, cl)
	c.descs["keepalives"] = prometheus.NewDesc("regstorm_keepalives_total", "Keep-alive pings (CRLF, WebSocket or OPTIONS) by result: sent, answered, failed (a flow found dead).", []string{"group", "result"}, cl)
	c.descs["keepalive"] = prometheus.NewDesc("regstorm_keepalive_latency_seconds", "A keep-alive ping's time to its pong or answer.", g, cl)
	c.descs["reboots"] = prometheus.NewDesc("regstorm_reboots_total", "Reboots made (--reboot-at, SIGUSR2).", nil, cl)
	c.descs["rebooted"] = prometheus.NewDesc("regstorm_rebooted_naps_total", "NAPs rebooted, and of them registered again (state).", []string{"state"}, cl)
	c.descs["recovery"] = prometheus.NewDesc("regstorm_last_reboot_recovery_seconds", "The last reboot: from the event until 99 % and 100 % of its NAPs were registered again (quantile).", []string{"quantile"}, cl)
	c.descs["churn"] = prometheus.NewDesc("regstorm_churn_total", "NAPs taken offline and brought back (--churn-rate), by direction.", []string{"direction"}, cl)
	c.stormDescs(cl)
	c.descs["dial_failures"] = prometheus.NewDesc("regstorm_dial_failures_total", "Connection attempts that failed, by reason (cert-untrusted, refused, timeout, ...).", []string{"group", "reason"}, cl)
	c.descs["failures"] = prometheus.NewDesc("regstorm_failures_total", "Failed registrations by reason: a refusal's status code (auth-refused: a 401/407 refusing the credentials), timeout (every transaction ended by Timer F), connect-failed, connection-lost (a transaction lost with its connection), malformed (messages that did not parse).", []string{"group", "reason"}, cl)
	c.descs["trial_rate"] = prometheus.NewDesc("regstorm_capacity_trial_rate", "A capacity search's current trial: the registrations per second it offers (regstorm capacity).", nil, cl)
	c.descs["start"] = prometheus.NewDesc("regstorm_start_time_seconds", "When the load began, Unix time (with --start-at, the end of the wait): shards that started together show the same.", nil, cl)
	return c
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	v := c.view()
	if v == nil {
		return
	}
	c.collectStorms(ch, v)
	if v.TrialRate > 0 {
		ch <- prometheus.MustNewConstMetric(c.descs["trial_rate"], prometheus.GaugeValue, v.TrialRate)
	}
	if !v.Started.IsZero() {
		ch <- prometheus.MustNewConstMetric(c.descs["start"], prometheus.GaugeValue, float64(v.Started.Unix())+float64(v.Started.Nanosecond())/1e9)
	}
	for _, gv := range v.Groups {
		t, name := gv.Totals, gv.Name
		counters := map[string]int64{
			"regstorm_requests_total": t.Requests, "regstorm_retransmissions_total": t.Retransmissions,
			"regstorm_timeouts_total": t.Timeouts, "regstorm_abandoned_total": t.Abandoned, "regstorm_auth_challenges_total": t.AuthChallenges,
			"regstorm_malformed_total": t.Malformed, "regstorm_stale_responses_total": t.Stale,
			"regstorm_connect_failures_total": t.ConnectFailures, "regstorm_connections_lost_total": t.ConnLost,
			"regstorm_unregistered_total": t.Unregistered, "regstorm_tcp_connects_total": t.Connects,
		}
		for n, x := range counters {
			ch <- prometheus.MustNewConstMetric(c.descs[n], prometheus.CounterValue, float64(x), name)
		}
		for code, x := range t.Responses {
			ch <- prometheus.MustNewConstMetric(c.descs["responses"], prometheus.CounterValue, float64(x), name, strconv.Itoa(code))
		}
		c.collectFailures(ch, t, name)
		for k, x := range t.RequestsReceived {
			if x > 0 {
				ch <- prometheus.MustNewConstMetric(c.descs["requests_received"], prometheus.CounterValue, float64(x), name, RequestMethods[k])
			}
		}
		ch <- prometheus.MustNewConstMetric(c.descs["registered"], prometheus.GaugeValue, float64(t.Registered), name)
		ch <- prometheus.MustNewConstMetric(c.descs["naps"], prometheus.GaugeValue, float64(gv.NAPs), name)
		ch <- prometheus.MustNewConstMetric(c.descs["handshakes"], prometheus.CounterValue, float64(t.Full), name, "full")
		ch <- prometheus.MustNewConstMetric(c.descs["handshakes"], prometheus.CounterValue, float64(t.Resumed), name, "resumed")
		for r, x := range t.Failed {
			if x > 0 {
				ch <- prometheus.MustNewConstMetric(c.descs["dial_failures"], prometheus.CounterValue, float64(x), name, ConnectReason(r).String())
			}
		}
		for target, tc := range t.Targets {
			ch <- prometheus.MustNewConstMetric(c.descs["target_registered"], prometheus.GaugeValue, float64(tc.Registered), name, target)
			ch <- prometheus.MustNewConstMetric(c.descs["target_requests"], prometheus.CounterValue, float64(tc.Requests), name, target)
			ch <- prometheus.MustNewConstMetric(c.descs["target_timeouts"], prometheus.CounterValue, float64(tc.Timeouts), name, target)
			ch <- prometheus.MustNewConstMetric(c.descs["target_failovers"], prometheus.CounterValue, float64(tc.Failovers), name, target)
		}
		if t.KeepalivesSent > 0 {
			ch <- prometheus.MustNewConstMetric(c.descs["keepalives"], prometheus.CounterValue, float64(t.KeepalivesSent), name, "sent")
			ch <- prometheus.MustNewConstMetric(c.descs["keepalives"], prometheus.CounterValue, float64(t.KeepalivesAnswered), name, "answered")
			ch <- prometheus.MustNewConstMetric(c.descs["keepalives"], prometheus.CounterValue, float64(t.KeepaliveFailures), name, "failed")
		}
		hists := map[string]*hdrhistogram.Histogram{"transaction": t.Transaction, "registration": t.Registration, "corrected": t.Corrected}
		if t.Handshake != nil && t.Handshake.TotalCount() > 0 {
			hists["handshake"] = t.Handshake
		}
		if t.Keepalive != nil && t.Keepalive.TotalCount() > 0 {
			hists["keepalive"] = t.Keepalive
		}
		for key, h := range hists {
			count, sum, buckets := promBuckets(h)
			ch <- prometheus.MustNewConstHistogram(c.descs[key], count, sum, buckets, name)
		}
	}
}

// promBuckets reads a µs HdrHistogram as a Prometheus histogram in
// seconds: the count, the sum, and cumulative counts at latencyBuckets.
func promBuckets(h *hdrhistogram.Histogram) (uint64, float64, map[float64]uint64) {
	buckets := make(map[float64]uint64, len(latencyBuckets))
	var sum float64
	bars := h.Distribution()
	for _, b := range latencyBuckets {
		var n int64
		for _, bar := range bars {
			if float64(bar.To)/1e6 <= b {
				n += bar.Count
			}
		}
		buckets[b] = uint64(n)
	}
	for _, bar := range bars {
		sum += float64(bar.Count) * float64(bar.From+bar.To) / 2 / 1e6
	}
	return uint64(h.TotalCount()), sum, buckets
}

// collectFailures exports a group's failed registrations by reason.
func (c *collector) collectFailures(ch chan<- prometheus.Metric, t *Totals, group string) {
	n := map[string]int64{"timeout": t.Timeouts, "connect-failed": t.ConnectFailures, "connection-lost": t.TransactionsLost, "no-binding": t.NoBinding, "malformed": t.Malformed}
	for code, x := range t.Refusals {
		if code == 401 || code == 407 {
			n["auth-refused"] += x
		} else if x > 0 {
			n[strconv.Itoa(code)] += x
		}
	}
	for _, r := range promFailureReasons {
		ch <- prometheus.MustNewConstMetric(c.descs["failures"], prometheus.CounterValue, float64(n[r]), group, r)
		delete(n, r)
	}
	for r, x := range n {
		ch <- prometheus.MustNewConstMetric(c.descs["failures"], prometheus.CounterValue, float64(x), group, r)
	}
}

// ServeMetrics serves Prometheus metrics on addr (/metrics) until the
// returned stop is called. view is called on every scrape; labels go on
// every series (a shard of a distributed run: {"shard": "k"}; nil: none).
func ServeMetrics(addr string, view func() *View, labels map[string]string) (stop func(), bound string, err error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(newCollector(view, labels)); err != nil {
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

// collectStorms exports the reboots and the churn.
func (c *collector) collectStorms(ch chan<- prometheus.Metric, v *View) {
	c.collectStageStorms(ch, v) // stages, and the reboots' latency
	if len(v.Events) > 0 {
		var naps, back int64
		for _, ev := range v.Events {
			naps += int64(ev.NAPs)
			back += ev.Back
		}
		ch <- prometheus.MustNewConstMetric(c.descs["reboots"], prometheus.CounterValue, float64(len(v.Events)))
		ch <- prometheus.MustNewConstMetric(c.descs["rebooted"], prometheus.CounterValue, float64(naps), "rebooted")
		ch <- prometheus.MustNewConstMetric(c.descs["rebooted"], prometheus.CounterValue, float64(back), "registered_again")
		last := v.Events[len(v.Events)-1]
		if last.To99S != nil {
			ch <- prometheus.MustNewConstMetric(c.descs["recovery"], prometheus.GaugeValue, *last.To99S, "0.99")
		}
		if last.To100S != nil {
			ch <- prometheus.MustNewConstMetric(c.descs["recovery"], prometheus.GaugeValue, *last.To100S, "1")
		}
	}
	if v.Churn.Offline > 0 {
		ch <- prometheus.MustNewConstMetric(c.descs["churn"], prometheus.CounterValue, float64(v.Churn.Offline), "offline")
		ch <- prometheus.MustNewConstMetric(c.descs["churn"], prometheus.CounterValue, float64(v.Churn.Online), "online")
	}
}
