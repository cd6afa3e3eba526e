// Command tlsfloor measures the floor of opening TLS connections: the
// barest Go crypto/tls client, N connections (TCP connect, then a full
// handshake), at most C in flight, as regstorm dials them (64 at a time,
// engine/network.go DialAsync). Every connection stays open until all N
// are made, then all are closed. No SIP, no reading, no state beyond the
// connection: regstorm's new TLS connections per second are compared with
// this (bench/tls-floor.sh, bench/RESULTS.md, issue 15).
//
//	tlsfloor -addr 127.0.0.1:25201 -n 10000 -c 64 -insecure
//	tlsfloor -addr 127.0.0.1:25201 -n 10000 -ca registrar.pem
//
// The TLS configuration is regstorm's default (--tls-version 1.2+: TLS 1.2
// at least, Go's defaults otherwise), so both negotiate the same version
// and suite with the same server. Like a regstorm NAP, each connection has
// a session cache of its own (-no-resume: none, as --tls-no-resume), so
// the client asks for a session ticket and a TLS 1.3 server sends one; the
// floor never reads it. The handshake's latency is measured as regstorm's
// summary measures it: from the TCP connection made up to the handshake
// done. Prints one line of key=value pairs.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5061", "TLS server host:port")
	n := flag.Int("n", 10000, "connections to open")
	c := flag.Int("c", 64, "connections being opened at once")
	insecure := flag.Bool("insecure", false, "do not verify the server's certificate (regstorm --tls-insecure)")
	ca := flag.String("ca", "", "trust the certificates in this PEM file (regstorm --tls-ca)")
	version := flag.String("tls-version", "1.2+", "1.2, 1.3 or 1.2+ (regstorm --tls-version)")
	timeout := flag.Duration("timeout", 32*time.Second, "bound on one connect and handshake (regstorm's Timer F)")
	noResume := flag.Bool("no-resume", false, "no session cache: ask for no session ticket (regstorm --tls-no-resume)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		fail(err)
		fail(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}

	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: *insecure}
	switch *version {
	case "1.2+":
	case "1.2":
		cfg.MaxVersion = tls.VersionTLS12
	case "1.3":
		cfg.MinVersion = tls.VersionTLS13
	default:
		fail(fmt.Errorf("-tls-version %q: want 1.2, 1.3 or 1.2+", *version))
	}
	if *ca != "" {
		pem, err := os.ReadFile(*ca)
		fail(err)
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			fail(fmt.Errorf("%s: no certificate", *ca))
		}
	}
	host, _, err := net.SplitHostPort(*addr)
	fail(err)
	cfg.ServerName = host
	raiseFileLimit(uint64(*n) + 64)

	conns := make([]net.Conn, *n)
	took := make([]time.Duration, *n)
	var failed atomic.Int64
	var versions, suites sync.Map
	next := atomic.Int64{}
	cpu0, start := cpu(), time.Now()
	var wg sync.WaitGroup
	for range *c {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= *n {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), *timeout)
				var d net.Dialer
				raw, err := d.DialContext(ctx, "tcp", *addr)
				if err != nil {
					cancel()
					failed.Add(1)
					continue
				}
				_ = raw.(*net.TCPConn).SetLinger(0) // as regstorm: no TIME-WAIT pile-up
				t0 := time.Now()
				connCfg := cfg
				if !*noResume {
					connCfg = cfg.Clone() // as regstorm's dial, which sets the NAP's cache
					connCfg.ClientSessionCache = &session{}
				}
				tc := tls.Client(raw, connCfg)
				err = tc.HandshakeContext(ctx)
				cancel()
				if err != nil {
					raw.Close()
					failed.Add(1)
					continue
				}
				took[i] = time.Since(t0)
				cs := tc.ConnectionState()
				versions.Store(tls.VersionName(cs.Version), true)
				suites.Store(tls.CipherSuiteName(cs.CipherSuite)+"/"+cs.CurveID.String(), true)
				conns[i] = tc
			}
		})
	}
	wg.Wait()
	elapsed, used := time.Since(start), cpu()-cpu0
	for _, tc := range conns {
		if tc != nil {
			tc.Close()
		}
	}
	ok := *n - int(failed.Load())
	var lat []time.Duration
	for _, t := range took {
		if t > 0 {
			lat = append(lat, t)
		}
	}
	slices.Sort(lat)
	fmt.Printf("connections=%d failed=%d elapsed_s=%.3f conn_per_s=%.0f handshake_p50_ms=%.3f handshake_p99_ms=%.3f cpu_s=%.2f cpu_us_per_conn=%.1f version=%s suite=%s\n",
		ok, failed.Load(), elapsed.Seconds(), float64(ok)/elapsed.Seconds(), ms(pct(lat, 0.50)), ms(pct(lat, 0.99)),
		used.Seconds(), float64(used.Microseconds())/float64(max(ok, 1)), keys(&versions), keys(&suites))
	if ok < *n {
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// session is one connection's session cache, as a regstorm NAP's.
type session struct {
	s atomic.Pointer[tls.ClientSessionState]
}

func (c *session) Get(string) (*tls.ClientSessionState, bool) {
	s := c.s.Load()
	return s, s != nil
}
func (c *session) Put(_ string, s *tls.ClientSessionState) { c.s.Store(s) }

func pct(s []time.Duration, p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func keys(m *sync.Map) string {
	var ks []string
	m.Range(func(k, _ any) bool { ks = append(ks, k.(string)); return true })
	slices.Sort(ks)
	if len(ks) == 0 {
		return "-"
	}
	s := ks[0]
	for _, k := range ks[1:] {
		s += "," + k
	}
	return s
}

func cpu() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// raiseFileLimit takes the soft RLIMIT_NOFILE up to what n connections
// need, within the hard limit.
func raiseFileLimit(need uint64) {
	var rl unix.Rlimit
	fail(unix.Getrlimit(unix.RLIMIT_NOFILE, &rl))
	if need > rl.Max {
		fail(fmt.Errorf("%d connections need %d descriptors; the hard limit is %d", need-64, need, rl.Max))
	}
	if need > rl.Cur {
		rl.Cur = rl.Max
		fail(unix.Setrlimit(unix.RLIMIT_NOFILE, &rl))
	}
}

func fail(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "tlsfloor:", err)
		os.Exit(1)
	}
}
