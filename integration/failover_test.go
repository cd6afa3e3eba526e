//go:build integration

package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/regstorm/regstorm/locate/dnstest"
	"github.com/regstorm/regstorm/metrics"
)

// RFC 3263 failover with real processes (issue 16): `regstorm --target
// sip:example.test --dns-server ADDR`, as a user runs it, finds two
// `regstorm registrar` processes through SRV records: the primary
// (priority 10) and the secondary (priority 20), each on its own port,
// both with digest auth. 1 000 NAPs register at the primary; then it
// fails:
//   - UDP: it goes silent (SIGSTOP). Each NAP learns at its next refresh:
//     Timer F, then --retry, then a REGISTER to the secondary. All are
//     bound there, in the secondary's own view (SIGUSR1), within half
//     their expires + Timer F + --retry (+ slack).
//   - TCP: it dies (SIGKILL): the connections drop, the reconnects are
//     refused, each NAP fails over and connects to the secondary, within
//     about twice --retry; with shared connections (a few per target) and
//     with one per NAP (--sockets per-nap).
//   - UDP with OPTIONS keep-alives every second: each NAP learns at its
//     next ping, unanswered for Timer F: it registers again at once,
//     which times out too, and fails over.
// Then the primary comes back (SIGCONT, or a restart on its port) and the
// NAPs stay at the secondary (sticky): it gets no REGISTER while the NAPs
// refresh once more. The client's summary counts it per target, and its
// counts add up.

const (
	foNAPs    = 1000
	foExpires = 20 // seconds: a refresh every 10 s
	foRetry   = 2 * time.Second
	foTimerF  = 4 * time.Second
	foT1      = 125 * time.Millisecond
	foDomain  = "example.test"
	foPing    = time.Second // --keepalive-interval, with --keepalive options
)

// foZone is the example.test zone: no NAPTR; SRV for UDP and TCP naming
// the primary (priority 10) and the secondary (priority 20). The TTL is
// short, so the name is resolved again (to the same answer) during the
// failover.
func foZone(primary, secondary int) []string {
	var z []string
	for _, proto := range []string{"udp", "tcp"} {
		z = append(z,
			fmt.Sprintf("_sip._%s.%s. 2 IN SRV 10 1 %d primary.%s.", proto, foDomain, primary, foDomain),
			fmt.Sprintf("_sip._%s.%s. 2 IN SRV 20 1 %d secondary.%s.", proto, foDomain, secondary, foDomain))
	}
	return append(z,
		fmt.Sprintf("primary.%s. 2 IN A 127.0.0.1", foDomain),
		fmt.Sprintf("secondary.%s. 2 IN A 127.0.0.1", foDomain))
}

// startRegistrarOn runs `regstorm registrar --auth` on UDP and TCP port p
// as its own process.
func startRegistrarOn(t *testing.T, p int) *regstormRegistrar {
	r := &regstormRegistrar{bin: regstormBinary(t), p: p}
	r.restart(t)
	t.Cleanup(func() {
		_ = r.cmd.Process.Signal(syscall.SIGCONT) // if the test stopped it
		_ = r.cmd.Process.Signal(os.Interrupt)
		_ = r.cmd.Wait()
	})
	return r
}

var requestsRE = regexp.MustCompile(`registrar: (\d+) requests`)

// counts is the registrar's own view: requests received, bindings held.
func (r *regstormRegistrar) counts(t *testing.T) (requests, held int) {
	line := r.statsLine(t)
	requests, _ = strconv.Atoi(requestsRE.FindStringSubmatch(line)[1])
	held, _ = strconv.Atoi(heldRE.FindStringSubmatch(line)[1])
	return requests, held
}

// waitBindings polls r's bindings every 100 ms until it holds n or the
// deadline passes; it returns when it got there (ok) or the last count.
func (r *regstormRegistrar) waitBindings(t *testing.T, n int, deadline time.Time) (held int, at time.Time, ok bool) {
	for {
		held = r.bindings(t)
		if held == n {
			return held, time.Now(), true
		}
		if time.Now().After(deadline) {
			return held, time.Now(), false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// regstormRun is `regstorm run` as its own process, its summary in a file
// and its stderr (progress lines, censuses) kept.
type regstormRun struct {
	cmd     *exec.Cmd
	summary string
	mu      sync.Mutex
	stderr  []string
	census  chan string
	exited  chan struct{}
}

func startRegstormRun(t *testing.T, args ...string) *regstormRun {
	t.Helper()
	r := &regstormRun{summary: filepath.Join(t.TempDir(), "summary.json"), census: make(chan string, 4), exited: make(chan struct{})}
	r.cmd = exec.Command(regstormBinary(t), append(args, "--summary", r.summary)...)
	stderr, err := r.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(r.exited)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			r.mu.Lock()
			r.stderr = append(r.stderr, line)
			r.mu.Unlock()
			if strings.HasPrefix(line, "regstorm: SIGUSR1:") {
				select {
				case r.census <- line:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill() // if the test did not stop it
		<-r.exited
		_ = r.cmd.Wait()
		if t.Failed() {
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Logf("regstorm's stderr, last lines:\n%s", strings.Join(r.stderr[max(0, len(r.stderr)-40):], "\n"))
		}
	})
	return r
}

// censusLine asks the run (SIGUSR1) where its NAPs are.
func (r *regstormRun) censusLine(t *testing.T) string {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	select {
	case line := <-r.census:
		return line
	case <-time.After(5 * time.Second):
		t.Fatal("regstorm printed no census on SIGUSR1")
		return ""
	}
}

// lastProgress is the latest progress line.
func (r *regstormRun) lastProgress() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.stderr) - 1; i >= 0; i-- {
		if !strings.HasPrefix(r.stderr[i], "regstorm: SIGUSR1") && strings.Contains(r.stderr[i], "/s") {
			return r.stderr[i]
		}
	}
	return ""
}

// stop ends the run as Ctrl-C does (un-REGISTER, drain, summary) and
// reads its summary.
func (r *regstormRun) stop(t *testing.T) (*metrics.Summary, int) {
	t.Helper()
	if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("regstorm did not end 30 s after SIGINT")
	}
	err := r.cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	b, err := os.ReadFile(r.summary)
	if err != nil {
		t.Fatalf("summary: %v (exit %d)", err, code)
	}
	var s metrics.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return &s, code
}

func testFailover(t *testing.T, transport string, extra ...string) {
	pp, sp := freePort(t), freePort(t)
	for sp == pp {
		sp = freePort(t)
	}
	primary, secondary := startRegistrarOn(t, pp), startRegistrarOn(t, sp)
	d := dnstest.Start(t)
	d.Zone(foZone(pp, sp)...)
	pName := fmt.Sprintf("primary.%s 127.0.0.1:%d", foDomain, pp)
	sName := fmt.Sprintf("secondary.%s 127.0.0.1:%d", foDomain, sp)

	args := []string{"--target", "sip:" + foDomain, "--dns-server", d.Addr, "--transport", transport,
		"--naps", strconv.Itoa(foNAPs), "--expires", strconv.Itoa(foExpires), "--retry", foRetry.String(),
		"--timer-f", foTimerF.String(), "--t1", foT1.String(), "--duration", "60s", "--drain", "10s"}
	args = append(args, extra...)
	run := startRegstormRun(t, args...)

	// All at the primary, none at the secondary.
	if held, _, ok := primary.waitBindings(t, foNAPs, time.Now().Add(10*time.Second)); !ok {
		t.Fatalf("the primary holds %d bindings 10 s after the start, want %d", held, foNAPs)
	}
	if held := secondary.bindings(t); held != 0 {
		t.Fatalf("the secondary holds %d bindings before the failure, want 0", held)
	}
	time.Sleep(500 * time.Millisecond) // the last 200s reach regstorm
	before := run.censusLine(t)

	// The primary fails.
	pinging := slices.Contains(extra, "--keepalive")
	bound := foExpires*time.Second/2 + foTimerF + foRetry // the last NAP's refresh, its timeout, its retry
	soonest := foTimerF + foRetry
	switch {
	case transport == "tcp":
		bound = 2 * foRetry // its reconnect (--retry after its REGISTER), refused; --retry; connect there
	case pinging:
		// Its next OPTIONS ping, unanswered for Timer F: a REGISTER at
		// once, which times out too; --retry; the secondary.
		bound = foPing + 2*foTimerF + foRetry
		soonest = 2*foTimerF + foRetry
	}
	bound += time.Second // slack: the ramp, the 401 round trip, the polling
	failed := time.Now()
	if transport == "udp" {
		if err := primary.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	} else {
		primary.kill()
	}
	held, at, ok := secondary.waitBindings(t, foNAPs, failed.Add(bound+2*time.Second))
	took := at.Sub(failed)
	during := run.censusLine(t)
	progress := run.lastProgress()
	if !ok {
		t.Errorf("the secondary holds %d bindings %v after the primary failed, want %d", held, took.Round(time.Millisecond), foNAPs)
	}
	if transport == "udp" && took < soonest {
		t.Errorf("all at the secondary %v after the primary went silent: sooner than possible (%v)", took, soonest)
	}

	// The primary comes back; the NAPs stay where they are bound, and
	// each refreshes there once more (half their expires).
	if transport == "udp" {
		_ = primary.cmd.Process.Signal(syscall.SIGCONT)
	} else {
		primary.restart(t)
	}
	time.Sleep(time.Second) // it answers what it had queued (stale: counted apart)
	pReq0, _ := primary.counts(t)
	sReq0, _ := secondary.counts(t)
	time.Sleep(foExpires*time.Second/2 + time.Second)
	pReq1, pHeld := primary.counts(t)
	sReq1, sHeld := secondary.counts(t)

	s, code := run.stop(t)
	_, sLeft := secondary.counts(t)
	t.Logf("%s: all %d bound at the secondary %v after the primary failed (bound %v)", transport, foNAPs, took.Round(time.Millisecond), bound)
	t.Logf("census before: %s", before)
	t.Logf("census then: %s", during)
	t.Logf("progress then: %s", progress)
	t.Logf("primary back: %d requests in %v (held %d); secondary: %d requests in that time (held %d), %d bindings left after the drain",
		pReq1-pReq0, foExpires*time.Second/2+time.Second, pHeld, sReq1-sReq0, sHeld, sLeft)
	tj, _ := json.Marshal(s.Targets)
	t.Logf("exit %d; registered %d, unregistered %d, requests %d, retransmissions %d, timeouts %d, abandoned %d, in flight %v, responses %v, refusals %v, auth challenges %d, stale %d, connects %d, connect failures %d, connections lost %d; targets %s; dns %+v",
		code, s.Registered, s.Unregistered, s.Requests, s.Retransmissions, s.Timeouts, s.Abandoned, deref(s.InFlight), s.Responses, s.Refusals,
		s.AuthChallenges, s.StaleResponses, s.Connects, s.ConnectFailures, s.ConnectionsLost, tj, s.DNS)

	if ka := s.Keepalives; ka != nil {
		t.Logf("keepalives: sent %d, answered %d, failed %d, OPTIONS %d; latency ms p50 %.2f p99 %.2f max %.2f", ka.Sent, ka.Answered, ka.Failed, ka.Options, ka.LatencyMS.P50, ka.LatencyMS.P99, ka.LatencyMS.Max)
	}
	if code != 0 {
		t.Errorf("exit %d", code)
	}
	// No NAP lost, and sticky.
	if s.Registered != foNAPs || s.Unregistered != foNAPs || sLeft != 0 {
		t.Errorf("registered %d at the end, unregistered %d in the drain, %d left at the secondary; want %d, %d, 0", s.Registered, s.Unregistered, sLeft, foNAPs, foNAPs)
	}
	if pReq1 != pReq0 || sHeld != foNAPs || sReq1-sReq0 < foNAPs {
		t.Errorf("after the primary came back: it got %d REGISTERs, the secondary %d and holds %d; want 0, at least %d refreshes, %d", pReq1-pReq0, sReq1-sReq0, sHeld, foNAPs, foNAPs)
	}
	// Counted per target.
	pt, st := s.Targets[pName], s.Targets[sName]
	if pt == nil || st == nil || len(s.Targets) != 2 {
		t.Fatalf("targets %s: want %q and %q", tj, pName, sName)
	}
	if pt.Failovers != foNAPs || st.Failovers != 0 || pt.Registered != 0 || st.Registered != foNAPs {
		t.Errorf("failovers %d from the primary, %d from the secondary; registered %d and %d at the end; want %d, 0, 0, %d",
			pt.Failovers, st.Failovers, pt.Registered, st.Registered, foNAPs, foNAPs)
	}
	if st.Timeouts != 0 || st.ConnectFailures != 0 || st.Refused503 != 0 || pt.Refused503 != 0 {
		t.Errorf("secondary: timeouts %d, connect failures %d, 503s %d; primary 503s %d: want none", st.Timeouts, st.ConnectFailures, st.Refused503, pt.Refused503)
	}
	if transport == "udp" {
		// Each NAP's refresh into the silence timed out once, there.
		if pt.Timeouts != foNAPs || s.Timeouts != foNAPs {
			t.Errorf("timeouts: %d at the primary, %d in all; want %d", pt.Timeouts, s.Timeouts, foNAPs)
		}
	} else {
		if s.Timeouts != 0 || pt.ConnectFailures < foNAPs || s.ConnectionsLost < foNAPs {
			t.Errorf("timeouts %d, connect failures at the primary %d, connections lost %d: want 0, >= %d, >= %d", s.Timeouts, pt.ConnectFailures, s.ConnectionsLost, foNAPs, foNAPs)
		}
	}
	if pinging {
		// Each NAP's ping into the silence failed, once: it then
		// registered again (and failed over) rather than pinging on.
		if ka := s.Keepalives; ka == nil || ka.Failed != foNAPs || ka.Options != ka.Sent || ka.Answered < ka.Sent-ka.Failed-foNAPs {
			t.Errorf("keepalives %+v: want %d failed, all OPTIONS, the others answered (but those in flight at the stop)", ka, foNAPs)
		}
	}
	if pt.Requests+st.Requests != s.Requests {
		t.Errorf("requests per target %d + %d != %d", pt.Requests, st.Requests, s.Requests)
	}
	if s.DNS == nil || s.DNS.Resolutions < 2 || s.DNS.Changes != 0 || s.DNS.Moved != 0 {
		t.Errorf("dns %+v: want the name resolved again, the same answer, no NAP moved", s.DNS)
	}
	// The counts add up.
	var finals int64
	for code, n := range s.Responses {
		if c, _ := strconv.Atoi(code); c >= 200 {
			finals += n
		}
	}
	if s.InFlight == nil || s.Requests != finals+s.Timeouts+s.Abandoned+*s.InFlight {
		t.Errorf("requests %d != final responses %d + timeouts %d + abandoned %d + in flight %v", s.Requests, finals, s.Timeouts, s.Abandoned, deref(s.InFlight))
	}
	if r := refusals(s.Responses); r != 0 || len(s.Refusals) != 0 {
		t.Errorf("refusals %d %v", r, s.Refusals)
	}
}

func deref(p *int64) int64 {
	if p == nil {
		return -1
	}
	return *p
}

func TestFailoverSRVUDP1k(t *testing.T)       { testFailover(t, "udp") }
func TestFailoverSRVTCP1k(t *testing.T)       { testFailover(t, "tcp") }
func TestFailoverSRVTCPPerNAP1k(t *testing.T) { testFailover(t, "tcp", "--sockets", "per-nap") }

func TestFailoverSRVUDPKeepalive1k(t *testing.T) {
	testFailover(t, "udp", "--keepalive", "options", "--keepalive-interval", foPing.String())
}
