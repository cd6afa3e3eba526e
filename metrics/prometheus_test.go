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
	stop, addr, err := ServeMetrics("127.0.0.1:0", func() (*Totals, int) { return Merge([]*Recorder{r}), 50 })
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
		"# TYPE regstorm_requests_total counter", "regstorm_requests_total 42",
		"# TYPE regstorm_registered gauge", "regstorm_registered 40", "regstorm_naps 50",
		`regstorm_responses_total{code="401"} 1`, "regstorm_timeouts_total 1",
		"# TYPE regstorm_transaction_latency_seconds summary", `regstorm_transaction_latency_seconds{quantile="0.99"} 0.005`,
		"regstorm_transaction_latency_seconds_count 1",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %q in:\n%s", want, body)
		}
	}
}
