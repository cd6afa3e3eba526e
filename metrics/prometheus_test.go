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
