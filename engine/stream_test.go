package engine

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/registrar"
	"github.com/regstorm/regstorm/sipwire"
)

// serverCert is a certificate for 127.0.0.1 (server or client) and a pool
// that trusts it.
func serverCert(t *testing.T) (*tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "registrar.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"registrar.test"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func secret([]byte) ([]byte, bool) { return []byte("secret"), true }

// Every stream transport, shared and per-nap, with digest auth: all
// registered, all un-registered, nothing left at the registrar, and each
// connection's handshake counted (TLS kinds only where there is TLS).
func TestStreamTransportsRegisterAndDrain(t *testing.T) {
	t.Parallel() // real sockets of its own: no state shared with another test
	cert, pool := serverCert(t)
	for _, tr := range []sipwire.Transport{sipwire.TLS, sipwire.WS, sipwire.WSS} {
		for _, perNAP := range []bool{false, true} {
			name := tr.String() + map[bool]string{false: "/shared", true: "/per-nap"}[perNAP]
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				srv := startRegistrar(t, registrar.Config{Auth: true, Password: secret, Cert: cert}, tr.String())
				o := baseOptions(srv.AddrOf(tr.String()), 200)
				o.Groups[0].NAP.Transport, o.PerNAP, o.Duration = tr, perNAP, 10*time.Second // a bound: the load ends once all are registered
				o.TLS = &tls.Config{RootCAs: pool}
				res, err := runUntil(o, registered(200))
				if err != nil {
					t.Fatal(err)
				}
				s := res.Summary
				checkCycle(t, res, 200)
				checkSums(t, res)
				if s.Transport != tr.String() || s.AuthChallenges < 200 {
					t.Errorf("transport %s, challenges %d", s.Transport, s.AuthChallenges)
				}
				if n, _ := srv.Reg.Loc.Count(time.Now()); n != 0 {
					t.Errorf("%d bindings left after the drain", n)
				}
				conns := int64(4) // the default lanes: 4 sockets per loop × 1 loop
				if perNAP {
					conns = 200
				}
				if s.Connects != conns || s.Handshakes == nil || s.Handshakes.LatencyMS.Count != conns {
					t.Fatalf("connects %d, handshakes %+v: want %d", s.Connects, s.Handshakes, conns)
				}
				if tls := tr.Secure(); tls && s.Handshakes.Full+s.Handshakes.Resumed != conns || !tls && s.Handshakes.Full+s.Handshakes.Resumed != 0 {
					t.Errorf("TLS handshakes %d full, %d resumed over %s", s.Handshakes.Full, s.Handshakes.Resumed, tr)
				}
				if len(s.ConnectFailureReasons) != 0 {
					t.Errorf("dials failed: %v", s.ConnectFailureReasons)
				}
			})
		}
	}
}

// A registrar that closes each connection after its answer makes every
// refresh a reconnect: with resumption (the default) those reconnects
// resume the NAP's TLS session, without it each is a full handshake.
func TestTLSReconnectsResumeUnlessTurnedOff(t *testing.T) {
	t.Parallel() // real sockets of its own: no state shared with another test
	cert, pool := serverCert(t)
	for _, noResume := range []bool{false, true} {
		t.Run(map[bool]string{false: "resume", true: "no-resume"}[noResume], func(t *testing.T) {
			t.Parallel()
			srv := startRegistrar(t, registrar.Config{Cert: cert, CloseAfterAnswer: true}, "tls")
			o := baseOptions(srv.AddrOf("tls"), 20)
			o.Groups[0].NAP.Transport, o.PerNAP, o.NoResume = sipwire.TLS, true, noResume
			o.Groups[0].NAP.Expires, o.Groups[0].NAP.Retry, o.Duration = 2, 500*time.Millisecond, 10*time.Second
			o.TLS = &tls.Config{RootCAs: pool}
			// A bound: the load ends once every NAP has reconnected (and,
			// with resumption, resumed) at least once.
			res, err := runUntil(o, func(sn *Snapshot) bool {
				return sn.Totals.Connects >= 40 && (noResume || sn.Totals.Handshakes.Resumed >= 20)
			})
			if err != nil {
				t.Fatal(err)
			}
			s := res.Summary
			checkSums(t, res)
			h := s.Handshakes
			if h == nil || s.Connects < 40 {
				t.Fatalf("connects %d, handshakes %+v: want reconnects", s.Connects, h)
			}
			if h.Full+h.Resumed != s.Connects {
				t.Errorf("full %d + resumed %d != connects %d", h.Full, h.Resumed, s.Connects)
			}
			if noResume && h.Resumed != 0 {
				t.Errorf("%d resumed with resumption off", h.Resumed)
			}
			// Each NAP's first handshake is full; its reconnects resume.
			if !noResume && (h.Full != 20 || h.Resumed < 20) {
				t.Errorf("full %d, resumed %d: want 20 full, the reconnects resumed", h.Full, h.Resumed)
			}
		})
	}
}

// A shared TLS connection resumes its session too when it reconnects (a
// registrar closing after each answer makes every refresh a reconnect).
// The shared connections' tag is their sharedConn since the per-target
// connections: the cache looked the lane up, found nothing, and every
// shared reconnect was a full handshake.
func TestTLSSharedConnectionResumes(t *testing.T) {
	t.Parallel() // real sockets of its own: no state shared with another test
	cert, pool := serverCert(t)
	srv := startRegistrar(t, registrar.Config{Cert: cert, CloseAfterAnswer: true}, "tls")
	o := baseOptions(srv.AddrOf("tls"), 8)
	o.Groups[0].NAP.Transport, o.Groups[0].NAP.Expires, o.Groups[0].NAP.Retry, o.Duration = sipwire.TLS, 2, 300*time.Millisecond, 10*time.Second
	o.TLS = &tls.Config{RootCAs: pool}
	// A bound: the load ends at the first reconnect resumed.
	res, err := runUntil(o, func(sn *Snapshot) bool { return sn.Totals.Handshakes.Resumed > 0 })
	if err != nil {
		t.Fatal(err)
	}
	h := res.Summary.Handshakes
	// 4 lanes: their first handshakes are full, their reconnects resume.
	if h == nil || h.Full != 4 || h.Resumed == 0 {
		t.Fatalf("handshakes %+v: want 4 full (one per lane), the reconnects resumed", h)
	}
}

// A certificate that does not verify is a failed connect with its reason,
// retried every --retry, never a crash; the un-REGISTER phase has nothing
// to do.
func TestUntrustedCertificateCountedAndRetried(t *testing.T) {
	t.Parallel() // a dial failing after the stop is counted nowhere (TestDialEndingAfterTheStopFailsNoNAP)
	cert, _ := serverCert(t)
	srv := startRegistrar(t, registrar.Config{Cert: cert}, "tls")
	o := baseOptions(srv.AddrOf("tls"), 10)
	o.Groups[0].NAP.Transport, o.PerNAP, o.Groups[0].NAP.Retry, o.Duration = sipwire.TLS, true, 400*time.Millisecond, 1900*time.Millisecond
	o.TLS = &tls.Config{RootCAs: x509.NewCertPool()} // trusts nothing
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summary
	checkSums(t, res)
	if s.Registered != 0 || s.Requests != 0 {
		t.Fatalf("registered %d, requests %d through an untrusted certificate", s.Registered, s.Requests)
	}
	// Attempts at 0, 0.4, 0.8, 1.2, 1.6 s: 5 per NAP (one more may start
	// before the stop is seen).
	got := s.ConnectFailureReasons["cert-untrusted"]
	if got < 40 || got > 60 || s.ConnectFailures != got {
		t.Errorf("cert-untrusted %d, connect failures %d: want ~50, every one with its reason", got, s.ConnectFailures)
	}
	if f := s.Failures["connect-failed"]; f == nil || f.Count != got || len(f.Examples) == 0 || !strings.HasPrefix(f.Examples[0].User, "nap") {
		t.Errorf("failures %+v", s.Failures)
	}
}

// Mutual TLS: a registrar that requires client certificates registers the
// NAPs that show one it trusts; without one every attempt is refused and
// counted as tls-alert, under TLS 1.2 (the dial fails) and 1.3 (the
// connection closes on its first read).
func TestClientCertificate(t *testing.T) {
	t.Parallel() // real sockets of its own: no state shared with another test
	cert, pool := serverCert(t)
	client, clientPool := serverCert(t) // any certificate the registrar trusts will do
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, show := range []bool{true, false} {
			t.Run(map[uint16]string{tls.VersionTLS12: "1.2", tls.VersionTLS13: "1.3"}[version]+map[bool]string{true: "/with", false: "/without"}[show], func(t *testing.T) {
				t.Parallel()
				srv := startRegistrar(t, registrar.Config{Cert: cert, ClientCAs: clientPool}, "tls")
				o := baseOptions(srv.AddrOf("tls"), 10)
				o.Groups[0].NAP.Transport, o.PerNAP, o.Groups[0].NAP.Retry, o.Duration = sipwire.TLS, true, 300*time.Millisecond, time.Second
				o.TLS = &tls.Config{RootCAs: pool, MinVersion: version, MaxVersion: version}
				until := func(*Snapshot) bool { return false } // without: every attempt for the second
				if show {
					o.TLS.Certificates = []tls.Certificate{*client}
					o.Duration = 10 * time.Second // a bound: the load ends once all are registered
					until = registered(10)
				}
				res, err := runUntil(o, until)
				if err != nil {
					t.Fatal(err)
				}
				s := res.Summary
				checkSums(t, res)
				if show && (s.Registered != 10 || len(s.ConnectFailureReasons) != 0) {
					t.Fatalf("with a certificate: registered %d, failures %v", s.Registered, s.ConnectFailureReasons)
				}
				if !show && (s.Registered != 0 || s.ConnectFailureReasons["tls-alert"] < 10) {
					t.Fatalf("without a certificate: registered %d, failures %v", s.Registered, s.ConnectFailureReasons)
				}
			})
		}
	}
}
