//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/sipwire"
)

// runSIPpUAS plays one scenario of bench/peers/sipp as a UAS for one call,
// runs one regstorm NAP against it with opts, and returns SIPp's exit
// status (0: the scenario passed) and regstorm's summary.
func runSIPpUAS(t *testing.T, scenario string, mod func(o *engine.Options)) (int, *metrics.Summary) {
	t.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatalf("sipp not installed (apt-get install sip-tester): %v", err)
	}
	dir := t.TempDir()
	port := freePort(t)
	sf, _ := filepath.Abs(filepath.Join("..", "bench", "peers", "sipp", scenario))
	cmd := exec.Command(bin, "-sf", sf,
		"-i", "127.0.0.1", "-p", strconv.Itoa(port), "-t", "u1", "-m", "1", "-nostdin",
		"-timeout", "20s", "-timeout_error", "-trace_err", "-error_file", filepath.Join(dir, "errors.log"),
		"-trace_screen", "-screen_file", filepath.Join(dir, "screen.log"))
	cmd.Dir = dir
	out, _ := os.Create(filepath.Join(dir, "sipp.out"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // SIPp binds its socket
	o := options(fmt.Sprintf("127.0.0.1:%d", port), 1, sipwire.UDP)
	o.Window = 1
	mod(&o)
	res, err := engine.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-done:
	case <-time.After(25 * time.Second):
		_ = cmd.Process.Kill()
		werr = <-done
	}
	code := 0
	if ee, ok := werr.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if werr != nil {
		code = -1
	}
	if code != 0 {
		for _, f := range []string{"errors.log", "screen.log", "sipp.out"} {
			b, _ := os.ReadFile(filepath.Join(dir, f))
			t.Logf("SIPp %s:\n%s", f, tail(string(b), 2500))
		}
	}
	return code, res.Summary
}

func TestSIPpCase1ContactExpires(t *testing.T) {
	code, s := runSIPpUAS(t, "case1-contact-expires.xml", func(o *engine.Options) { o.Duration = 1500 * time.Millisecond })
	// REGISTER at 0, refresh at 1 s (half of the rewritten 2 s), un-REGISTER at 1.5 s.
	if code != 0 || s.Requests != 3 || s.Registered != 1 || s.Unregistered != 1 {
		t.Fatalf("sipp exit %d; regstorm requests %d registered %d unregistered %d", code, s.Requests, s.Registered, s.Unregistered)
	}
}

func TestSIPpCase2ExpiresHeader(t *testing.T) {
	code, s := runSIPpUAS(t, "case2-expires-header.xml", func(o *engine.Options) { o.Duration = 1500 * time.Millisecond })
	if code != 0 || s.Requests != 3 || s.Registered != 1 || s.Unregistered != 1 {
		t.Fatalf("sipp exit %d; regstorm requests %d registered %d unregistered %d", code, s.Requests, s.Registered, s.Unregistered)
	}
}

func TestSIPpAuth401VerifiedBySIPp(t *testing.T) {
	code, s := runSIPpUAS(t, "auth-401.xml", func(o *engine.Options) { o.Duration = time.Second })
	if code != 0 || s.AuthChallenges != 1 || s.Responses["401"] != 1 || s.Registered != 1 {
		t.Fatalf("sipp exit %d; regstorm challenges %d 401s %d registered %d", code, s.AuthChallenges, s.Responses["401"], s.Registered)
	}
}

func TestSIPpForbiddenRetried(t *testing.T) {
	code, s := runSIPpUAS(t, "forbidden-403.xml", func(o *engine.Options) {
		o.Groups[0].NAP.Retry = 400 * time.Millisecond // the seed's 5 s, scaled
		o.Duration = time.Second
	})
	// REGISTERs at 0, 0.4 and 0.8 s, each refused.
	if code != 0 || s.Requests != 3 || s.Responses["403"] != 3 || s.Registered != 0 {
		t.Fatalf("sipp exit %d; regstorm requests %d 403s %d registered %d", code, s.Requests, s.Responses["403"], s.Registered)
	}
}

func TestSIPpNoAnswerCycle(t *testing.T) {
	code, s := runSIPpUAS(t, "no-answer.xml", func(o *engine.Options) {
		// The seed's 0.5/4/32/5 s, scaled by 1/50.
		o.Groups[0].NAP.T1, o.Groups[0].NAP.T2, o.Groups[0].NAP.TimerF, o.Groups[0].NAP.Retry = 10*time.Millisecond, 80*time.Millisecond, 640*time.Millisecond, 100*time.Millisecond
		o.Duration = 1200 * time.Millisecond
	})
	// First transaction: 10 retransmissions (10, 30, 70, 150 … 630 ms),
	// Timer F at 640 ms; the second, at 740 ms, is answered.
	if code != 0 || s.Timeouts != 1 || s.Retransmissions != 10 || s.Registered != 1 {
		t.Fatalf("sipp exit %d; regstorm timeouts %d retransmissions %d registered %d", code, s.Timeouts, s.Retransmissions, s.Registered)
	}
}

func TestSIPpMinExpires423(t *testing.T) {
	code, s := runSIPpUAS(t, "min-expires-423.xml", func(o *engine.Options) { o.Duration = time.Second })
	if code != 0 || s.Responses["423"] != 1 || s.Registered != 1 {
		t.Fatalf("sipp exit %d; regstorm 423s %d registered %d", code, s.Responses["423"], s.Registered)
	}
}
