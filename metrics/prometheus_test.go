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
	stop, addr, err := ServeMetrics("127.0.0.1:0", func() *View { return view })
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
	stop, addr, err := ServeMetrics("127.0.0.1:0", func() *View { return view })
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
