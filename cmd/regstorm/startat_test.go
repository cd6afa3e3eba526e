package main

import (
	"bytes"
	"fmt"
	"github.com/regstorm/regstorm/runspec"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regstorm/regstorm/registrar"
	"github.com/regstorm/regstorm/sipwire"
)

func TestStartAtRefusedOrSaid(t *testing.T) {
	t.Parallel()
	now := time.Now()
	cases := []struct {
		v    string
		want string
	}{
		{"tomorrow", "--start-at"},
		{"2026-11-30T12:00:00", "--start-at"}, // no zone
		{"2026-11-30 12:00:00Z", "--start-at"},
		{"17644896.00.5", "--start-at"},
		{"1.", "--start-at"},
		{"-5", "--start-at"},
		{strconv.FormatInt(now.UnixMilli(), 10), "milliseconds"},
		{strconv.FormatInt(now.Add(48*time.Hour).Unix(), 10), "more than 24h0m0s"},
		{now.Add(-2 * time.Hour).UTC().Format(time.RFC3339), "earlier run"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := run([]string{"regstorm", "--naps", "1", "--start-at", c.v}, &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("--start-at %s: exit %d, %q (want 2 and %q)", c.v, code, errb.String(), c.want)
		}
	}
	for v, want := range map[string]time.Time{
		"2026-11-30T12:00:00Z":         time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC),
		"2026-11-30T13:00:00.25+01:00": time.Date(2026, 11, 30, 12, 0, 0, 250e6, time.UTC),
		"1764504000":                   time.Unix(1764504000, 0),
		"1764504000.5":                 time.Unix(1764504000, 500e6),
	} {
		if got, err := runspec.ParseStartAt(v); err != nil || !got.Equal(want) {
			t.Errorf("%s: %v %v, want %v", v, got, err, want)
		}
	}
	// A little past (a pod scheduled late): said, and the load begins.
	var out, errb bytes.Buffer
	past := strconv.FormatFloat(float64(now.Add(-3*time.Second).UnixMilli())/1000, 'f', 3, 64)
	code := run([]string{"regstorm", "--naps", "5", "--duration", "200ms", "--quiet", "--start-at", past, "--summary", "-"}, &out, &errb)
	if code != 0 || !strings.Contains(errb.String(), "starting now") {
		t.Errorf("a start 3 s past: exit %d, %q", code, errb.String())
	}
	if s := decode(t, out.Bytes()); s["registered"].(float64) != 5 || s["start_at"] == nil || s["started_at"] == nil {
		t.Errorf("summary %v", s)
	}
}

// arrivals is a registrar on loopback UDP (the embedded one's logic, one
// worker) that notes when each REGISTER arrived and from which user.
type arrivals struct {
	mu    sync.Mutex
	first map[string]time.Time // user → its first REGISTER's arrival
	conn  net.PacketConn
}

func startArrivals(t *testing.T) *arrivals {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &arrivals{first: map[string]time.Time{}, conn: c}
	w := registrar.New(registrar.Config{}).NewWorker()
	go func() {
		buf := make([]byte, 65536)
		var m sipwire.Msg
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			at := time.Now()
			msg := buf[:n]
			if m.Parse(append([]byte(nil), msg...)) == nil && m.IsRequest {
				_ = m.ParseAddresses()
				user, _, _ := strings.Cut(strings.TrimPrefix(string(m.From.URI), "sip:"), "@")
				a.mu.Lock()
				if _, ok := a.first[user]; !ok {
					a.first[user] = at
				}
				a.mu.Unlock()
			}
			if w.Handle(msg) == registrar.Reply {
				_, _ = c.WriteTo(w.Out, from)
			}
		}
	}()
	t.Cleanup(func() { c.Close() })
	return a
}

// Shards given the same --start-at begin their ramps together (issue 19):
// four processes started one after another, each --shard k/4 with the
// same start time 3 s ahead, against one registrar that notes when each
// REGISTER arrives. Each shard's first REGISTER arrives within a few ms of
// the start time, so within a few ms of each other's; without --start-at
// they would be apart by however long each process took to start.
// The shards' summaries carry k/N and the start time.
//
// Not in parallel with the other tests: the bound is the processes' own
// precision, which a busy machine's scheduling would add to.
func TestShardsGivenOneStartTimeBeginTogether(t *testing.T) {
	const shards = 4
	const bound = 15 * time.Millisecond // measured on this 2-core machine: 1.5-3 ms (see the log)
	a := startArrivals(t)
	dir := t.TempDir()
	at := time.Now().Add(3 * time.Second).Truncate(time.Millisecond)
	startAt := at.UTC().Format(time.RFC3339Nano)
	var procs []*syncBuffer
	var waits []func() (int, bool)
	for k := 0; k < shards; k++ {
		cmd, eb := startProcess(t, "--target", "sip:"+a.conn.LocalAddr().String(), "--naps", "200", "--duration", "1s", "--quiet",
			"--shard", fmt.Sprintf("%d/%d", k, shards), "--start-at", startAt, "--summary", filepath.Join(dir, fmt.Sprintf("shard-%d.json", k)))
		procs = append(procs, eb)
		waits = append(waits, func() (int, bool) { return waitExit(cmd, 30*time.Second) })
	}
	for k, wait := range waits {
		if code, ok := wait(); code != 0 || !ok {
			t.Fatalf("shard %d: exit %d (%v): %s", k, code, ok, procs[k].String())
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	firsts := make([]time.Time, shards)
	for user, t0 := range a.first {
		n, err := strconv.Atoi(strings.TrimPrefix(user, "nap"))
		if err != nil {
			t.Fatalf("user %q", user)
		}
		k := (n - 1) % shards // user nap%06d is NAP n-1
		if firsts[k].IsZero() || t0.Before(firsts[k]) {
			firsts[k] = t0
		}
	}
	lo, hi := firsts[0], firsts[0]
	for k, f := range firsts {
		if f.IsZero() {
			t.Fatalf("shard %d sent nothing", k)
		}
		if d := f.Sub(at); d < 0 || d > bound {
			t.Errorf("shard %d: its first REGISTER arrived %v after the start time (want 0..%v)", k, d, bound)
		}
		lo, hi = minTime(lo, f), maxTime(hi, f)
		t.Logf("shard %d: first REGISTER %v after the start time", k, f.Sub(at))
	}
	t.Logf("first REGISTERs of the 4 shards within %v of each other", hi.Sub(lo))
	for k := 0; k < shards; k++ {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("shard-%d.json", k)))
		if err != nil {
			t.Fatal(err)
		}
		s := decode(t, b)
		sh, _ := s["shard"].(map[string]any)
		if sh == nil || sh["k"] != float64(k) || sh["n"] != float64(shards) || s["start_at"] != startAt {
			t.Errorf("shard %d's summary: shard %v, start_at %v", k, s["shard"], s["start_at"])
		}
		started, err := time.Parse(time.RFC3339Nano, fmt.Sprint(s["started_at"]))
		if d := started.Sub(at); err != nil || d < 0 || d > bound {
			t.Errorf("shard %d: started_at %v (%v after the start time)", k, s["started_at"], d)
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
