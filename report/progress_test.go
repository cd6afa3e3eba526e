package report

import (
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/metrics"
)

// The progress line: no latency sample yet reads "-", not 0.00 ms; a 401
// answered with credentials is not a failure, a refusal is, by its code.
func TestProgressLine(t *testing.T) {
	rec := metrics.NewRecorder()
	rec.Response(401) // a challenge, answered
	line := ProgressLine(time.Second, metrics.Merge([]*metrics.Recorder{rec}), 10, 0)
	if !strings.Contains(line, "p50 - p99 -") || strings.Contains(line, "0.00ms") {
		t.Errorf("no samples: %q", line)
	}
	if strings.Contains(line, "401") || strings.Contains(line, "refused") {
		t.Errorf("a challenge listed as a failure: %q", line)
	}
	rec.TransactionDone(1500*time.Microsecond, 0)
	rec.Response(403)
	rec.Refusal(403)
	rec.Refusal(401) // credentials refused
	line = ProgressLine(2*time.Second, metrics.Merge([]*metrics.Recorder{rec}), 10, 5)
	if !strings.Contains(line, "p50 1.50ms") || !strings.HasSuffix(line, "refused 401:1 403:1") {
		t.Errorf("with samples and refusals: %q", line)
	}
}
