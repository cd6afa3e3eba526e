package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/registrar"
)

// The trace flags are checked before anything starts: exit 2 naming the
// flag, and no file.
func TestTraceUsageErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "t.log")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--trace", file, "--trace-naps", "1-"}, "--trace-naps"},
		{[]string{"--trace", file, "--trace-naps", "edge:x"}, "--trace-naps"},
		{[]string{"--trace", file, "--trace-naps", ""}, "--trace-naps"},
		{[]string{"--trace-naps", "0-9"}, "--trace-naps: only with --trace"},
		{[]string{"--trace-errors"}, "--trace-errors: only with --trace"},
		{[]string{"--trace", file, "--trace-max", "lots"}, "--trace-max"},
		{[]string{"--trace", file, "--trace-max", "0"}, "--trace-max"},
		{[]string{"--trace", dir}, "--trace"},
		{[]string{"--trace", filepath.Join(dir, "no", "t.log")}, "--trace"},
		{[]string{"--trace", "-"}, "--trace -"},
		{[]string{"--trace", file, "--naps", "0"}, "--naps"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := run(append([]string{"regstorm", "--duration", "1s"}, c.args...), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q (want 2 and %q)", c.args, code, errb.String(), c.want)
		}
		if _, err := os.Stat(file); !os.IsNotExist(err) {
			t.Fatalf("%v: %s created by a refused run", c.args, file)
		}
	}
	for s, want := range map[string]int64{"1GiB": 1 << 30, "500MiB": 500 << 20, "100000": 100000, "2k": 2048, "3 MB": 3 << 20, "1TiB": 1 << 40} {
		if got, err := parseSize(s); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v", s, got, err)
		}
	}
}

// traceBlocks counts a trace's blocks by their SIPp line.
func traceBlocks(trace string) (sent, received int) {
	return len(regexp.MustCompile(`(?m)^UDP message sent \(\d+ bytes\):$`).FindAllString(trace, -1)),
		len(regexp.MustCompile(`(?m)^UDP message received \[\d+\] bytes :$`).FindAllString(trace, -1))
}

// 100 NAPs against a registrar with digest auth: the trace holds every
// message the summary counts (REGISTER, 401, REGISTER with credentials,
// 200, and the same at the un-REGISTER), and never the password. In
// simulated time: no answer comes late enough to be retransmitted for.
func TestTraceEveryMessage(t *testing.T) {
	t.Parallel()
	const pass = "Tr4ceS3cret-pw"
	const target = "127.0.0.1:5070"
	w := newSimWorld()
	w.net.Configure(target, registrar.Config{Auth: true, Password: func([]byte) ([]byte, bool) { return []byte(pass), true }})
	s, tr := runTracedIn(t, w, 0, "--target", "sip:"+target, "--naps", "100", "--password", pass, "--duration", "500ms")
	sent, received := traceBlocks(tr)
	if float64(sent) != s["messages_sent"].(float64) || float64(received) != s["messages_received"].(float64) {
		t.Errorf("trace: %d sent, %d received; summary: %v sent, %v received", sent, received, s["messages_sent"], s["messages_received"])
	}
	if sent < 400 || strings.Count(tr, "\r\nSIP/2.0 401 ") != 0 || strings.Count(tr, "\n\nSIP/2.0 401 ") != 200 ||
		strings.Count(tr, "\n\nSIP/2.0 200 ") != 200 || strings.Count(tr, "Authorization: Digest ") != 200 {
		t.Errorf("not every REGISTER, 401 and 200: %d sent, %d 401, %d 200, %d Authorization", sent,
			strings.Count(tr, "\n\nSIP/2.0 401 "), strings.Count(tr, "\n\nSIP/2.0 200 "), strings.Count(tr, "Authorization: Digest "))
	}
	sep := regexp.MustCompile(`(?m)^-{47} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} 127\.0\.0\.1:\d+ (->|<-) ` + regexp.QuoteMeta(target) + ` nap default:\d+$`)
	if n := len(sep.FindAllString(tr, -1)); n != sent+received {
		t.Errorf("%d separator lines with addresses and NAP, %d blocks", n, sent+received)
	}
	if strings.Contains(tr, pass) || strings.Contains(tr, "Tr4ceS3cret") {
		t.Error("the password is in the trace")
	}
	if strings.Contains(tr, "regstorm:") {
		t.Errorf("a note in the trace of a run where nothing failed")
	}
}

// runTraced runs regstorm with args plus --trace FILE, --quiet and
// --summary -, wants exit code want, and returns the summary and the trace.
func runTraced(t *testing.T, want int, args ...string) (map[string]any, string) {
	t.Helper()
	return runTracedIn(t, nil, want, args...)
}

// runTracedIn is runTraced in simulated world w (nil: the real one).
func runTracedIn(t *testing.T, w *simWorld, want int, args ...string) (map[string]any, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "trace.log")
	args = append(args, "--quiet", "--summary", "-", "--trace", file)
	var code int
	var out, errb fmt.Stringer
	if w == nil {
		var ob, eb bytes.Buffer
		code, out, errb = run(append([]string{"regstorm"}, args...), &ob, &eb), &ob, &eb
	} else {
		code, out, errb = w.run(t, time.Minute, args...)
	}
	if code != want {
		t.Fatalf("exit %d (want %d): %s", code, want, errb)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, []byte(out.String())), string(b)
}

// --trace-errors against a registrar refusing half: the 403 transactions
// with their REGISTER, and no successful one. In simulated time: no
// answer comes late enough to be retransmitted for.
func TestTraceErrorsRefused(t *testing.T) {
	t.Parallel()
	const target = "127.0.0.1:5070"
	w := newSimWorld()
	w.net.Configure(target, registrar.Config{RejectCode: 403, RejectProb: 0.5})
	s, tr := runTracedIn(t, w, 0, "--target", "sip:"+target, "--naps", "100", "--duration", "500ms", "--retry", "100ms", "--trace-errors")
	refused := int(s["responses"].(map[string]any)["403"].(float64)) // the load's refusals and the drain's
	sent, received := traceBlocks(tr)
	n403 := strings.Count(tr, "\n\nSIP/2.0 403 ")
	notes := strings.Count(tr, ": transaction ended: 403\n")
	if refused < 20 || n403 != refused || notes != refused || received != refused || sent != refused {
		t.Errorf("summary: %d 403s; trace: %d sent, %d received, %d 403, %d notes", refused, sent, received, n403, notes)
	}
	if strings.Contains(tr, "SIP/2.0 200 ") {
		t.Error("a successful transaction in the --trace-errors trace")
	}
}

// --trace-errors against a registrar that never answers (timers scaled
// down): each timed-out REGISTER with all its retransmissions, then the
// timeout.
func TestTraceErrorsTimeout(t *testing.T) {
	t.Parallel()
	srv := startRegistrar(t, registrar.Config{Silent: true})
	// Exit 1: nothing registered.
	s, tr := runTraced(t, 1, "--target", "sip:"+srv.Addr, "--naps", "3", "--duration", "1s", "--drain", "300ms",
		"--t1", "10ms", "--t2", "80ms", "--timer-f", "640ms", "--retry", "100ms", "--trace-errors")
	timeouts := int(s["timeouts"].(float64))
	if timeouts < 3 || strings.Count(tr, ": transaction ended: timeout\n") != timeouts {
		t.Fatalf("summary: %d timeouts; trace:\n%.3000s", timeouts, tr)
	}
	// NAP 0's first transaction: its REGISTER sent again and again, the
	// same message each time, then the note.
	first := tr[:strings.Index(tr, "regstorm: nap default:0: transaction ended: timeout")]
	var copies []string
	for _, block := range strings.Split(first, "-----------------------------------------------")[1:] {
		if strings.Contains(block, " nap default:0\nUDP message sent (") {
			copies = append(copies, block[strings.Index(block, "\n\n"):])
		}
	}
	if len(copies) < 8 {
		t.Fatalf("%d copies of NAP 0's REGISTER before its timeout (T1 10ms, T2 80ms, F 640ms: 10 or so)", len(copies))
	}
	for _, c := range copies[1:] {
		if c != copies[0] {
			t.Errorf("a retransmission differs from the first:\n%s\n%s", copies[0], c)
		}
	}
	if sent, received := traceBlocks(tr); received != 0 || sent < len(copies)*timeouts {
		t.Errorf("%d sent, %d received", sent, received)
	}
}
