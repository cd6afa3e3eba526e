//go:build integration

package integration

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/sipwire"
)

// TLS session resumption at integration scale (issue 15): 1 000 per-nap
// TLS NAPs at `regstorm registrar --close-after-answer` as its own
// process. Every answer closes the connection, so a NAP reconnects for
// each REGISTER, one per --retry (docs/behaviour.md), and reconnects to
// un-REGISTER at the stop. With resumption (the default) a NAP's first
// handshake is full and its reconnects resume the session it was given;
// with --tls-no-resume (Options.NoResume) every one is full. Both sides
// count: the summary's full and resumed add up to the connects, and the
// registrar counted as many handshakes. The latency and the registrar's
// CPU per handshake of each are logged, and printed on a RESUME line for
// bench/tls-storm.sh.

const (
	resumeNAPs  = 1000
	resumeRetry = 2 * time.Second // 500 reconnects/s offered: full handshakes keep up on 2 cores
	resumeRun   = 7 * time.Second // the first connect, then 3 reconnects per NAP, then the un-REGISTER's
)

// cpuOf is the user + system CPU a process has used (/proc/PID/stat, in
// USER_HZ ticks of 10 ms).
func cpuOf(t *testing.T, pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64) // fields 14 and 15 of the line
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// selfCPU is this process's user + system CPU.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestTLSResumeOnAndOff1k(t *testing.T) {
	certFile, keyFile, pool := testCert(t)
	for _, noResume := range []bool{false, true} {
		name := map[bool]string{false: "resume", true: "no-resume"}[noResume]
		t.Run(name, func(t *testing.T) {
			port := freePort(t)
			reg := startTLSRegistrar(t, port, certFile, keyFile, "--close-after-answer")
			o := options("127.0.0.1:"+strconv.Itoa(port), resumeNAPs, sipwire.TLS)
			o.PerNAP, o.NoResume, o.Duration = true, noResume, resumeRun
			o.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
			o.Groups[0].NAP.Expires, o.Groups[0].NAP.Retry = 60, resumeRetry
			regCPU, testCPU, start := cpuOf(t, reg.cmd.Process.Pid), selfCPU(), time.Now()
			res, err := engine.Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			regCPU, testCPU = cpuOf(t, reg.cmd.Process.Pid)-regCPU, selfCPU()-testCPU
			held, regHS, regFailed := reg.tlsStats(t)
			s := res.Summary
			h := s.Handshakes
			if h == nil {
				t.Fatalf("no handshakes in the summary; connects %d", s.Connects)
			}
			perHS := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(s.Connects) }
			t.Logf("%s: %d connects, %d full + %d resumed handshakes in %v (%.0f/s), latency p50 %.2f ms p90 %.2f ms p99 %.2f ms max %.2f ms; registrar: %d handshakes, %d failed, CPU %v (%.0f µs per connection); tester CPU %v (%.0f µs per connection); requests %d, 200s %d, abandoned %d, registered %d, unregistered %d, connect failures %d; %d bindings left after the drain",
				name, s.Connects, h.Full, h.Resumed, took.Round(time.Millisecond), float64(s.Connects)/took.Seconds(),
				h.LatencyMS.P50, h.LatencyMS.P90, h.LatencyMS.P99, h.LatencyMS.Max, regHS, regFailed, regCPU, perHS(regCPU), testCPU, perHS(testCPU),
				s.Requests, s.Responses["200"], s.Abandoned, s.Registered, s.Unregistered, s.ConnectFailures, held)
			fmt.Printf("RESUME mode=%s connects=%d full=%d resumed=%d p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f registrar_us=%.0f tester_us=%.0f\n",
				name, s.Connects, h.Full, h.Resumed, h.LatencyMS.P50, h.LatencyMS.P90, h.LatencyMS.P99, perHS(regCPU), perHS(testCPU))

			checkResumeSums(t, res)
			if s.Registered != resumeNAPs || s.Unregistered != resumeNAPs {
				t.Errorf("registered %d at the end, unregistered %d: want %d", s.Registered, s.Unregistered, resumeNAPs)
			}
			// A NAP whose port another NAP's first connect took while it
			// was between connections reconnects from another port (README:
			// any port will do), so its Contact, and its binding, change;
			// the old binding stays until it expires. Measured: as many
			// bindings left as such reconnects, 1 to 12 of 1 000 here.
			if held > resumeNAPs/20 {
				t.Errorf("%d bindings left after the drain", held)
			}
			// A connect per request (the ramp's REGISTER, one per --retry,
			// the un-REGISTER's), but for the un-REGISTERs sent on a
			// connection the registrar closes after answering what came
			// before: behind a REGISTER open at the stop (replaced by it,
			// so abandoned too), or on a connection whose end the NAP had
			// not read yet. Each is lost, abandoned, and sent again on a
			// connection of its own.
			extra := s.Requests - s.Connects
			if s.Connects < 4*resumeNAPs || extra < 0 || s.Abandoned < extra || s.Abandoned > 2*extra {
				t.Errorf("connects %d, requests %d, abandoned %d: want a connect per request but for un-REGISTERs lost and sent again (each abandoned, with at most one REGISTER it replaced), at least %d connects",
					s.Connects, s.Requests, s.Abandoned, 4*resumeNAPs)
			}
			if h.Full+h.Resumed != s.Connects || int64(regHS) != s.Connects || regFailed != 0 || s.ConnectFailures != 0 {
				t.Errorf("full %d + resumed %d, the registrar's %d (%d failed), connect failures %d: want one handshake per connect (%d)",
					h.Full, h.Resumed, regHS, regFailed, s.ConnectFailures, s.Connects)
			}
			if noResume && h.Resumed != 0 {
				t.Errorf("%d handshakes resumed with --tls-no-resume", h.Resumed)
			}
			// Each NAP's first handshake is full; every reconnect resumes.
			if !noResume && h.Full != resumeNAPs {
				t.Errorf("full %d, resumed %d: want %d full, the reconnects resumed", h.Full, h.Resumed, resumeNAPs)
			}
		})
	}
}

// checkResumeSums: every REGISTER ended (a final response, a timeout, or
// abandoned) or is in flight, and none timed out.
func checkResumeSums(t *testing.T, res *engine.Result) {
	t.Helper()
	s := res.Summary
	requestsAddUp(t, res)
	if s.Timeouts != 0 {
		t.Errorf("%d timeouts", s.Timeouts)
	}
}
