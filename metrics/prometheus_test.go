package metrics

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestServeMetrics(t *testing.T) {
	r := NewRecorder()
	r.Requests, r.Registered, r.Timeouts = 42, 40, 1
	r.Response(200)
	r.Response(401)
	r.TransactionDone(5*time.Millisecond, 0)
	r2 := NewRecorder()
	r2.Requests = 8
	view := &View{Groups: []GroupView{{Name: "trunk-a", NAPs: 50, Totals: Merge([]*Recorder{r})}, {Name: "spare", Totals: Merge([]*Recorder{r2})}}}
	stop, addr, err := ServeMetrics("127.0.0.1:0", func() *View { return view }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	for _, want := range []string{
		"# TYPE regstorm_requests_total counter", `regstorm_requests_total{group="trunk-a"} 42`, `regstorm_requests_total{group="spare"} 8`,
		"# TYPE regstorm_registered gauge", `regstorm_registered{group="trunk-a"} 40`, `regstorm_naps{group="trunk-a"} 50`,
		`regstorm_responses_total{code="401",group="trunk-a"} 1`, `regstorm_timeouts_total{group="trunk-a"} 1`,
		// Histograms, not summaries: the pods of a distributed run sum.
		"# TYPE regstorm_transaction_latency_seconds histogram",
		`regstorm_transaction_latency_seconds_bucket{group="trunk-a",le="0.0025"} 0`,
		`regstorm_transaction_latency_seconds_bucket{group="trunk-a",le="0.01"} 1`,
		`regstorm_transaction_latency_seconds_count{group="trunk-a"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %q in:\n%s", want, body)
		}
	}
}

// What issues 15 and 16 count reaches Prometheus: TLS handshakes by kind,
// failed dials by reason, handshake and keep-alive latency histograms,
// keep-alives by result, and each target's counts.
func TestServeMetricsStreamsTargetsKeepalives(t *testing.T) {
	r := NewRecorder()
	r.HandshakeDone(3*time.Millisecond, true, false)
	r.HandshakeDone(time.Millisecond, true, true)
	r.Failed[ReasonCertUntrusted] = 2
	r.KeepalivesSent, r.KeepalivesAnswered, r.KeepaliveFailures = 5, 4, 1
	Latency(r.Keepalive, 2*time.Millisecond)
	r.TargetNames = []string{"sip1.example.test 10.0.0.1:5060"}
	r.Targets = []TargetCounts{{Requests: 7, Registered: 6, Failovers: 1}}
	all := 0.72
	view := &View{Groups: []GroupView{{Name: "g", NAPs: 6, Totals: Merge([]*Recorder{r})}},
		Events: []Event{{Kind: "reboot", NAPs: 5000, Back: 5000, To100S: &all}}, Churn: ChurnSummary{Offline: 30, Online: 25}}
	stop, addr, err := ServeMetrics("127.0.0.1:0", func() *View { return view }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	for _, want := range []string{
		`regstorm_tls_handshakes_total{group="g",kind="full"} 1`, `regstorm_tls_handshakes_total{group="g",kind="resumed"} 1`,
		`regstorm_dial_failures_total{group="g",reason="cert-untrusted"} 2`,
		`regstorm_handshake_latency_seconds_count{group="g"} 2`,
		`regstorm_keepalives_total{group="g",result="failed"} 1`, `regstorm_keepalive_latency_seconds_count{group="g"} 1`,
		`regstorm_target_registered{group="g",target="sip1.example.test 10.0.0.1:5060"} 6`,
		`regstorm_target_failovers_total{group="g",target="sip1.example.test 10.0.0.1:5060"} 1`,
		`regstorm_reboots_total 1`, `regstorm_rebooted_naps_total{state="registered_again"} 5000`,
		`regstorm_last_reboot_recovery_seconds{quantile="1"} 0.72`, `regstorm_churn_total{direction="online"} 25`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no %s", want)
		}
	}
}

// scrape serves view with labels and returns one /metrics body.
func scrape(t *testing.T, view *View, labels map[string]string) string {
	t.Helper()
	stop, addr, err := ServeMetrics("127.0.0.1:0", func() *View { return view }, labels)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// A shard of a distributed run (issue 19) labels every series shard="k",
// the groups keep their label, the latency buckets are the fixed SIP ones
// (0.5 ms .. 32 s, the same in every pod, so that sum by (le) works),
// failures come by reason (the always-known ones at 0 from the start), and
// the start time shows whether the pods started together.
func TestServeMetricsShardLabelBucketsFailures(t *testing.T) {
	r := NewRecorder()
	r.Requests, r.Timeouts, r.ConnectFailures = 10, 2, 1
	r.Refusal(503)
	r.Refusal(503)
	r.Refusal(401)
	r.TransactionDone(3*time.Second, 0) // answered after 2 UDP retransmissions (0.5 s, 1.5 s): le=4
	started := time.Unix(1764489600, 250e6)
	view := &View{Groups: []GroupView{{Name: "trunk-a", NAPs: 5, Totals: Merge([]*Recorder{r})}}, Started: started}
	body := scrape(t, view, map[string]string{"shard": "3"})
	for _, want := range []string{
		`regstorm_requests_total{group="trunk-a",shard="3"} 10`,
		`regstorm_failures_total{group="trunk-a",reason="503",shard="3"} 2`,
		`regstorm_failures_total{group="trunk-a",reason="auth-refused",shard="3"} 1`,
		`regstorm_failures_total{group="trunk-a",reason="timeout",shard="3"} 2`,
		`regstorm_failures_total{group="trunk-a",reason="connect-failed",shard="3"} 1`,
		`regstorm_failures_total{group="trunk-a",reason="malformed",shard="3"} 0`,
		`regstorm_transaction_latency_seconds_bucket{group="trunk-a",shard="3",le="2"} 0`,
		`regstorm_transaction_latency_seconds_bucket{group="trunk-a",shard="3",le="4"} 1`,
		`regstorm_transaction_latency_seconds_bucket{group="trunk-a",shard="3",le="32"} 1`,
		`regstorm_start_time_seconds{shard="3"} 1.76448960025e+09`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %q", want)
		}
	}
	// Every pod has the same buckets, 0.5 ms to 32 s.
	var les []string
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, `regstorm_registration_latency_seconds_bucket{`) {
			_, le, _ := strings.Cut(line, `le="`)
			le, _, _ = strings.Cut(le, `"`)
			les = append(les, le)
		}
	}
	if got := strings.Join(les, " "); got != "0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2 4 8 16 32 +Inf" {
		t.Errorf("buckets %s", got)
	}
	// Without --shard: no shard label at all.
	if body := scrape(t, view, nil); strings.Contains(body, "shard=") || !strings.Contains(body, `regstorm_requests_total{group="trunk-a"} 10`) {
		t.Errorf("unsharded:\n%s", body)
	}
}

// A capacity search's current trial rate is a gauge, absent outside one.
func TestServeMetricsCapacityTrialRate(t *testing.T) {
	if body := scrape(t, &View{TrialRate: 1907}, nil); !strings.Contains(body, "regstorm_capacity_trial_rate 1907\n") {
		t.Errorf("no trial rate in\n%s", body)
	}
	if body := scrape(t, &View{}, nil); strings.Contains(body, "regstorm_capacity_trial_rate") {
		t.Error("a trial rate outside a search")
	}
}
