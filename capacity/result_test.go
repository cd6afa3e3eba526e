package capacity

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The sentence of the feature's description, from a real search: 2 310/s
// passes, 2 540/s meets a 503 12 s in.
func TestSummarySentence(t *testing.T) {
	p := DefaultParams()
	p.StartRate, p.Growth, p.Granularity = 2310, 2540.0/2310, 250
	reg := func(pl Plan) (TrialResult, time.Duration) {
		if pl.Rate <= 2310 {
			return clean(pl, pl.Duration), pl.Duration
		}
		return failedAt(pl, 12*time.Second, "503", 230)
	}
	res, _ := search(t, p, reg)
	want := "Registration Rate: 2 310/s over UDP with digest auth, zero failures in a confirmation of " +
		"50 000 registrations; 2 540/s failed: 503 from 12 s"
	if got := res.Summary(); got != want {
		t.Errorf("summary\n got %q\nwant %q", got, want)
	}
	if len(res.Trials) != 3 || res.Trials[1].Rate != 2540 || res.Trials[2].Phase != PhaseConfirm || res.Trials[2].Attempts != 50000 {
		t.Fatalf("trials %+v", res.Trials)
	}
	wantLines := []string{
		"trial 1  probe       2 310/s  10 s    23 100 registrations  pass  p99 1.2 ms",
		"trial 2  probe       2 540/s  12 s    30 481 registrations  FAIL 503 at 12 s (503: 1)  p99 1.2 ms",
		"trial 3  confirm     2 310/s  22 s    50 000 registrations  pass  p99 1.2 ms",
	}
	for i, tr := range res.Trials {
		if got := tr.Line(); got != wantLines[i] {
			t.Errorf("line %d\n got %q\nwant %q", i+1, got, wantLines[i])
		}
	}
	if got := (Plan{N: 3, Phase: PhaseConfirm, Rate: 2310, Duration: 21646 * time.Millisecond, Attempts: 50000}).String(); got != "trial 3: confirm at 2 310/s for 22 s (50 000 registrations)" {
		t.Errorf("plan %q", got)
	}

	res.Mode, res.Transport, res.Auth = ModeRefresh, "tls", false
	if got := res.Summary(); !strings.HasPrefix(got, "Re-Registration Rate: 2 310/s over TLS without auth, zero failures in a confirmation of 50 000 re-registrations;") {
		t.Errorf("refresh summary %q", got)
	}
}

// The JSON has the field names the feature names, the latency object is
// null when no registration ended, and it reads back.
func TestResultJSON(t *testing.T) {
	res, _ := search(t, DefaultParams(), capped(1500))
	res.Trials[0].LatencyMS = nil
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"mode", "transport", "auth", "rate_per_s", "confirmed", "limited_by", "at_least",
		"failed", "elapsed_s", "params", "trials"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %q in %s", k, b)
		}
	}
	if m["mode"] != "register" || m["transport"] != "udp" || m["auth"] != true || m["limited_by"] != "registrar" {
		t.Errorf("%s", b)
	}
	trials := m["trials"].([]any)
	first, fail := trials[0].(map[string]any), map[string]any(nil)
	for _, tr := range trials {
		if tr := tr.(map[string]any); tr["outcome"] == "fail" && fail == nil {
			fail = tr
		}
	}
	for _, k := range []string{"rate_per_s", "attempts", "failures", "retransmissions", "latency_ms", "generator", "outcome", "phase"} {
		if _, ok := first[k]; !ok {
			t.Errorf("no %q in trial %v", k, first)
		}
	}
	if first["latency_ms"] != nil {
		t.Errorf("latency_ms %v, want null", first["latency_ms"])
	}
	if lat := fail["latency_ms"].(map[string]any); lat["p99"] != 1.2 || lat["count"] == nil {
		t.Errorf("latency %v", lat)
	}
	if ff := fail["first_failure"].(map[string]any); ff["reason"] != "503" || ff["at_s"] == nil {
		t.Errorf("first failure %v", ff)
	}
	if g := first["generator"].(map[string]any); g["limited"] != false || g["rate_offered_per_s"] != 100.0 || g["rate_asked_per_s"] != 100.0 {
		t.Errorf("generator %v", g)
	}
	if p := m["params"].(map[string]any); p["trial_duration_s"] != 10.0 || p["confirm_size"] != 50000.0 {
		t.Errorf("params %v", p)
	}

	var back Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Params, res.Params) {
		t.Errorf("params back\n%+v\nwant\n%+v", back.Params, res.Params)
	}
	if !reflect.DeepEqual(back.Trials, res.Trials) {
		t.Errorf("trials back\n%+v\nwant\n%+v", back.Trials, res.Trials)
	}
	if back.Summary() != res.Summary() {
		t.Errorf("summary back %q, want %q", back.Summary(), res.Summary())
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{count(0), "0"}, {count(999), "999"}, {count(1000), "1 000"}, {count(50000), "50 000"},
		{count(1234567), "1 234 567"}, {count(-2310), "-2 310"}, {rate(2309.6), "2 310"},
		{pct(96.84), "96.8"}, {pct(97), "97"}, {msText(0.35), "0.35"}, {msText(23.04), "23"},
		{msText(140.2), "140"}, {secText(400 * time.Millisecond), "0.4 s"}, {secText(12400 * time.Millisecond), "12 s"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
