//go:build integration

package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/sipwire"
)

// The TLS handshake storm (issue 15): 10 000 per-nap TLS NAPs registered
// at `regstorm registrar` running as its own process (descriptors are
// counted per process: 10 000 connections on each side fit under the
// hard limit of 20 000). The registrar is killed (SIGKILL: every
// connection lost at once) and restarted at once on the same port with
// the same certificate; every NAP must reconnect, handshake and be bound
// again at the new registrar, in its own view.
//
// A NAP that loses its connection while registered reconnects no sooner
// than --retry after its last REGISTER (docs/behaviour.md); one that
// comes while the registrar is down is refused and tries again --retry
// later. So every NAP has started its last connect by kill + 2·retry, and
// from there the storm is the ramp's work again (a full handshake and a
// REGISTER per NAP) without the ramp's window: the bound is 2·retry +
// twice the ramp's time + 2 s.
//
// The storm's figures are logged, and printed on one STORM line for
// bench/tls-storm.sh: the time from the restarted registrar's start line
// to all bound again (polled every 50 ms), handshakes per second (on
// average over that time, and per snapshot second), and the storm's own
// handshake latency: the run's histogram once all are answered again
// minus the one of the last snapshot before the kill (--expires 600: no
// handshake in between but the storm's).

const (
	stormNAPs    = 10000
	stormRetry   = time.Second
	stormExpires = 600 // no refresh during the test: every handshake after the ramp is the storm's
)

// testCert writes a self-signed ECDSA certificate for 127.0.0.1 and its
// key as PEM files, so that the restarted registrar presents the same one.
func testCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(15), Subject: pkix.Name{CommonName: "registrar.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	// What --tls-ca does with the file.
	b, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatal("no certificate in " + certFile)
	}
	return certFile, keyFile, pool
}

// startTLSRegistrar runs `regstorm registrar` serving TLS only on port,
// with extra arguments.
func startTLSRegistrar(t *testing.T, port int, certFile, keyFile string, extra ...string) *regstormRegistrar {
	args := append([]string{"registrar", "--listen", "127.0.0.1:0", "--transport", "tls:" + strconv.Itoa(port),
		"--cert", certFile, "--key", keyFile}, extra...)
	r := &regstormRegistrar{bin: regstormBinary(t), p: port, args: args}
	r.restart(t)
	t.Cleanup(func() {
		_ = r.cmd.Process.Signal(os.Interrupt)
		_ = r.cmd.Wait()
	})
	return r
}

var tlsStatsRE = regexp.MustCompile(`(\d+) held for .*, (\d+) TLS handshakes, (\d+) failed`)

// tlsStats is the registrar's own view: bindings held, TLS handshakes
// made and failed.
func (r *regstormRegistrar) tlsStats(t *testing.T) (held, handshakes, failed int) {
	line := r.statsLine(t)
	m := tlsStatsRE.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no TLS counts in %q", line)
	}
	held, _ = strconv.Atoi(m[1])
	handshakes, _ = strconv.Atoi(m[2])
	failed, _ = strconv.Atoi(m[3])
	return held, handshakes, failed
}

// waitBound polls the registrar until it holds n bindings; it returns how
// long that took, or false at the deadline.
func (r *regstormRegistrar) waitBound(t *testing.T, n int, within time.Duration) (time.Duration, bool) {
	start := time.Now()
	for {
		if held, _, _ := r.tlsStats(t); held >= n {
			return time.Since(start), true
		}
		if time.Since(start) > within {
			return time.Since(start), false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// handshakeWatch keeps the run's snapshots: handshake counts per second,
// and the totals (with their histograms) of the latest one.
type handshakeWatch struct {
	mu     sync.Mutex
	last   *metrics.Totals
	points []handshakePoint
}

type handshakePoint struct {
	at         time.Time
	handshakes int64 // full + resumed so far
	ok         int64 // 200s so far
}

func (w *handshakeWatch) Needs() engine.Needs { return engine.NeedHistograms }

func (w *handshakeWatch) Observe(s *engine.Snapshot) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last = s.Totals
	w.points = append(w.points, handshakePoint{at: s.At, handshakes: s.Totals.Full + s.Totals.Resumed, ok: s.Totals.Responses[200]})
}

// waitFor waits for a snapshot that satisfies ok and returns its totals.
func (w *handshakeWatch) waitFor(t *testing.T, within time.Duration, ok func(*metrics.Totals) bool) *metrics.Totals {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		w.mu.Lock()
		last := w.last
		w.mu.Unlock()
		if last != nil && ok(last) {
			return last
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no snapshot as wanted within %v", within)
	return nil
}

// perSecond is the handshakes made between consecutive snapshots that
// end in [from, to+1 s), per second, and the most of them.
func (w *handshakeWatch) perSecond(from, to time.Time) (rates []float64, peak float64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := 1; i < len(w.points); i++ {
		a, b := w.points[i-1], w.points[i]
		if b.at.Before(from) || !b.at.Before(to.Add(time.Second)) {
			continue
		}
		if d := b.at.Sub(a.at).Seconds(); d > 0 {
			r := float64(b.handshakes-a.handshakes) / d
			rates = append(rates, math.Round(r))
			peak = max(peak, r)
		}
	}
	return rates, peak
}

// subtract is the histogram of what after recorded since before (the same
// histogram, later).
func subtract(after, before *hdrhistogram.Histogram) *hdrhistogram.Histogram {
	a, b := after.Export(), before.Export()
	for i := range b.Counts {
		a.Counts[i] -= b.Counts[i]
	}
	return hdrhistogram.Import(a)
}

func TestTLSRestartStorm10k(t *testing.T) {
	certFile, keyFile, pool := testCert(t)
	port := freePort(t)
	reg := startTLSRegistrar(t, port, certFile, keyFile)
	target := "127.0.0.1:" + strconv.Itoa(port)

	o := options(target, stormNAPs, sipwire.TLS)
	o.PerNAP, o.Duration = true, 0 // until every NAP is bound again; then cancelled
	o.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	o.Groups[0].NAP.Expires, o.Groups[0].NAP.Retry = stormExpires, stormRetry
	watch := &handshakeWatch{}
	o.Observers = []engine.Observer{watch}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := time.Now()
	e, err := engine.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			_, _ = e.Wait()
		}
	}()

	// The ramp: every NAP bound, in the registrar's view.
	ramp, ok := reg.waitBound(t, stormNAPs, 60*time.Second)
	if !ok {
		t.Fatalf("only %d bindings %v after the start; census: %v", reg.bindings(t), ramp, e.Census())
	}
	// The snapshot that has the ramp's handshakes (they were all made
	// before their REGISTERs were sent).
	beforeKill := watch.waitFor(t, 5*time.Second, func(tt *metrics.Totals) bool { return tt.Responses[200] >= stormNAPs })
	_, rampHS, rampFailed := reg.tlsStats(t)
	if beforeKill.Full+beforeKill.Resumed != stormNAPs || beforeKill.Connects != stormNAPs {
		t.Fatalf("before the kill: %d full + %d resumed handshakes, %d connects; want %d", beforeKill.Full, beforeKill.Resumed, beforeKill.Connects, stormNAPs)
	}

	// SIGKILL, and a new registrar on the same port with the same
	// certificate at once.
	killedAt := time.Now()
	reg.kill()
	reg.restart(t)
	listening := time.Now()
	bound := 2*stormRetry + 2*ramp + 2*time.Second
	rebound, ok := reg.waitBound(t, stormNAPs, bound)
	if !ok {
		t.Fatalf("%d bindings %v after the restart, want %d; census: %v", reg.bindings(t), rebound, stormNAPs, e.Census())
	}
	_, stormHS, stormFailed := reg.tlsStats(t)
	// Every re-REGISTER answered, in the tester's view, before stopping.
	afterStorm := watch.waitFor(t, 5*time.Second, func(tt *metrics.Totals) bool { return tt.Responses[200] >= 2*stormNAPs })

	cancel()
	res, err := e.Wait()
	stopped = true
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summary

	storm := subtract(afterStorm.Handshake, beforeKill.Handshake)
	sp := metrics.PercentilesOf(storm)
	full := afterStorm.Full - beforeKill.Full
	resumed := afterStorm.Resumed - beforeKill.Resumed
	whole := s.Handshakes
	rates, peak := watch.perSecond(listening, listening.Add(rebound))
	t.Logf("ramp: %d NAPs bound in %v (%d TLS handshakes at the registrar, %d failed); handshake p50 %.1f ms p99 %.1f ms over the ramp",
		stormNAPs, ramp.Round(time.Millisecond), rampHS, rampFailed,
		metrics.PercentilesOf(beforeKill.Handshake).P50, metrics.PercentilesOf(beforeKill.Handshake).P99)
	t.Logf("storm: killed, restarted and listening in %v; all %d bound again %v after it listened (bound %v); %d handshakes (%d full, %d resumed) at %.0f/s on average over that time, peak %.0f/s over a second (per second from the restart: %v); handshake p50 %.1f ms p90 %.1f ms p99 %.1f ms max %.1f ms; registrar: %d TLS handshakes, %d failed",
		listening.Sub(killedAt).Round(time.Millisecond), stormNAPs, rebound.Round(time.Millisecond), bound,
		full+resumed, full, resumed, float64(full+resumed)/rebound.Seconds(), peak, rates,
		sp.P50, sp.P90, sp.P99, sp.Max, stormHS, stormFailed)
	t.Logf("summary: connects %d, connections lost %d, connect failures %d %v, handshakes %d full %d resumed (p50 %.1f ms p99 %.1f ms over ramp and storm), requests %d, 200s %d, timeouts %d, abandoned %d, in flight %d, registered %d, unregistered %d; run %v",
		s.Connects, s.ConnectionsLost, s.ConnectFailures, s.ConnectFailureReasons, whole.Full, whole.Resumed, whole.LatencyMS.P50, whole.LatencyMS.P99,
		s.Requests, s.Responses["200"], s.Timeouts, s.Abandoned, res.InFlight, s.Registered, s.Unregistered, time.Since(started).Round(time.Millisecond))
	// One line for bench/tls-storm.sh.
	fmt.Printf("STORM ramp_s=%.3f restart_s=%.3f rebound_s=%.3f handshakes=%d full=%d resumed=%d rate_avg=%.0f rate_peak=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f connect_failures=%d\n",
		ramp.Seconds(), listening.Sub(killedAt).Seconds(), rebound.Seconds(), full+resumed, full, resumed,
		float64(full+resumed)/rebound.Seconds(), peak, sp.P50, sp.P90, sp.P99, sp.Max, s.ConnectFailures)

	// No NAP lost: each one bound again, registered at the end and
	// un-registered in the drain; nothing left at the registrar.
	if s.Registered != stormNAPs || s.Unregistered != stormNAPs {
		t.Errorf("registered %d at the end, unregistered %d in the drain, want %d", s.Registered, s.Unregistered, stormNAPs)
	}
	if left := reg.bindings(t); left != 0 {
		t.Errorf("%d bindings left after the drain", left)
	}
	if s.ConnectionsLost != stormNAPs {
		t.Errorf("connections lost %d, want %d: each NAP's, once", s.ConnectionsLost, stormNAPs)
	}
	// Each NAP made one connection in the ramp and one in the storm; the
	// connects refused while the registrar was down are failures, with
	// their reason.
	if s.Connects != 2*stormNAPs || whole.Full+whole.Resumed != s.Connects || full+resumed != stormNAPs {
		t.Errorf("connects %d, handshakes %d full + %d resumed, %d of them in the storm: want %d, one per connect, %d in the storm",
			s.Connects, whole.Full, whole.Resumed, full+resumed, 2*stormNAPs, stormNAPs)
	}
	if int64(stormHS) != full+resumed || rampHS != stormNAPs {
		t.Errorf("the registrars counted %d handshakes in the ramp and %d in the storm; the NAPs %d and %d", rampHS, stormHS, stormNAPs, full+resumed)
	}
	var reasons int64
	for _, n := range s.ConnectFailureReasons {
		reasons += n
	}
	if reasons != s.ConnectFailures {
		t.Errorf("connect failures %d, by reason %v", s.ConnectFailures, s.ConnectFailureReasons)
	}
	// The restarted registrar has new session-ticket keys: a NAP's ticket
	// from the first one does not decrypt there, so every storm handshake
	// is a full one (the ramp's are first handshakes: full too).
	if whole.Resumed != 0 || resumed != 0 {
		t.Errorf("%d handshakes resumed (%d in the storm) at a registrar that never saw their sessions", whole.Resumed, resumed)
	}
	if s.Timeouts != 0 {
		t.Errorf("%d timeouts", s.Timeouts)
	}
	var finals int64
	for code, n := range res.Totals.Responses {
		if code >= 200 {
			finals += n
		}
	}
	if s.Requests != finals+s.Timeouts+s.Abandoned+res.InFlight {
		t.Errorf("requests %d != final responses %d + timeouts %d + abandoned %d + in flight %d", s.Requests, finals, s.Timeouts, s.Abandoned, res.InFlight)
	}
}
