package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/regstorm/regstorm/sipwire"
)

var (
	listenRE      = regexp.MustCompile(`(\S+) \(([a-z,]+)\)`)
	fingerprintRE = regexp.MustCompile(`certificate SHA256 Fingerprint=([0-9A-F:]+)`)
)

// listenAddrs reads every address of the "listening on" line, by
// transport.
func listenAddrs(t *testing.T, errb *syncBuffer) map[string]string {
	t.Helper()
	listenAddr(t, errb)
	_, line, _ := strings.Cut(errb.String(), "listening on ")
	line, _, _ = strings.Cut(line, "\n")
	addrs := map[string]string{}
	for _, m := range listenRE.FindAllStringSubmatch(line, -1) {
		for _, tr := range strings.Split(m[2], ",") {
			addrs[tr] = m[1]
		}
	}
	return addrs
}

// byFingerprint trusts exactly the certificate with the fingerprint the
// registrar printed, as a lab client pinning it would.
func byFingerprint(fp string) *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, VerifyConnection: func(cs tls.ConnectionState) error {
		if got := sha256Colons(cs.PeerCertificates[0].Raw); got != fp {
			return fmt.Errorf("fingerprint %s, want %s", got, fp)
		}
		return nil
	}}
}

func sha256Colons(der []byte) string {
	sum := sha256.Sum256(der)
	return strings.ToUpper(strings.ReplaceAll(fmt.Sprintf("% x", sum[:]), " ", ":"))
}

func registerReq(user string) []byte {
	return sipwire.AppendRegister(nil, &sipwire.Register{
		Transport: sipwire.TCP, LocalHost: []byte("127.0.0.1"), LocalPort: 5070, Branch: 1,
		User: []byte(user), Domain: []byte("example.com"), FromTag: []byte("f"),
		CallID: []byte("c-" + user), CSeq: 1, Expires: 300,
	})
}

// tlsRegister registers over TLS and returns the answer's code, or the
// error (a refused handshake shows on the first read under TLS 1.3).
func tlsRegister(addr string, cfg *tls.Config, user string) (int, error) {
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(registerReq(user)); err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(c)
	sc.Split(sipwire.SplitMessage)
	if !sc.Scan() {
		return 0, fmt.Errorf("no answer: %v", sc.Err())
	}
	var m sipwire.Msg
	err = m.Parse(sc.Bytes())
	return m.StatusCode, err
}

// wsRegister registers over WS or WSS and returns the answer's code.
func wsRegister(url string, cfg *tls.Config, user string) (int, error) {
	c, _, _, err := ws.Dialer{Protocols: []string{"sip"}, TLSConfig: cfg, Timeout: 5 * time.Second}.Dial(context.Background(), url)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := wsutil.WriteClientText(c, registerReq(user)); err != nil {
		return 0, err
	}
	p, err := wsutil.ReadServerText(c)
	if err != nil {
		return 0, err
	}
	var m sipwire.Msg
	err = m.Parse(p)
	return m.StatusCode, err
}

// `regstorm registrar --transport udp,tcp,tls,ws,wss` on port 0: every
// transport gets a port of its own (UDP and TCP one together), named on
// the start line after the certificate's fingerprint; REGISTER works on
// each stream transport; SIGUSR1 counts the TLS handshakes.
func TestRegistrarTLSWSWSS(t *testing.T) {
	t.Parallel()
	cmd, errb := startRegistrarProcess(t, "--listen", "127.0.0.1:0", "--transport", "udp,tcp,tls,ws,wss")
	addrs := listenAddrs(t, errb)
	fp := fingerprintRE.FindStringSubmatch(errb.String())
	if fp == nil {
		t.Fatalf("no fingerprint: %s", errb.String())
	}
	if addrs["udp"] == "" || addrs["udp"] != addrs["tcp"] || len(addrs) != 5 || listenAddr(t, errb) != addrs["udp"] {
		t.Fatalf("addresses %v from %q", addrs, errb.String())
	}
	for _, tr := range []string{"tls", "ws", "wss"} {
		if addrs[tr] == addrs["tcp"] {
			t.Errorf("%s on the TCP port", tr)
		}
	}
	cfg := byFingerprint(fp[1])
	if code, err := tlsRegister(addrs["tls"], cfg, "nap000001"); code != 200 {
		t.Errorf("tls: %d %v", code, err)
	}
	if code, err := wsRegister("ws://"+addrs["ws"], nil, "nap000002"); code != 200 {
		t.Errorf("ws: %d %v", code, err)
	}
	if code, err := wsRegister("wss://"+addrs["wss"], cfg, "nap000003"); code != 200 {
		t.Errorf("wss: %d %v", code, err)
	}
	_ = cmd.Process.Signal(syscall.SIGUSR1)
	if !errb.waitFor("3 held for 3 AoRs", 5*time.Second) || !strings.Contains(errb.String(), "2 TLS handshakes, 0 failed") {
		t.Errorf("SIGUSR1: %s", errb.String())
	}
}

// The derived ports: +1, +2, +3 of the listen port, as the start line says.
func TestRegistrarDefaultStreamPorts(t *testing.T) {
	base := freeTCPPortRun(t, 4)
	_, errb := startRegistrarProcess(t, "--listen", "127.0.0.1:"+strconv.Itoa(base), "--transport", "tcp,tls,ws,wss")
	addrs := listenAddrs(t, errb)
	for tr, off := range map[string]int{"tcp": 0, "tls": 1, "ws": 2, "wss": 3} {
		if want := "127.0.0.1:" + strconv.Itoa(base+off); addrs[tr] != want {
			t.Errorf("%s on %q, want %s (%s)", tr, addrs[tr], want, errb.String())
		}
	}
}

// One transport with the port of --listen listens on that port, tls, ws
// and wss too (not +1, +2, +3: those are for a transport among others).
func TestRegistrarOneTransportTakesTheListenPort(t *testing.T) {
	for _, tr := range []string{"tls", "ws", "wss", "tcp"} {
		base := freeTCPPortRun(t, 4)
		cmd, errb := startRegistrarProcess(t, "--listen", "127.0.0.1:"+strconv.Itoa(base), "--transport", tr)
		if got, want := listenAddrs(t, errb)[tr], "127.0.0.1:"+strconv.Itoa(base); got != want {
			t.Errorf("--transport %s: on %q, want %s (%s)", tr, got, want, errb.String())
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

// freeTCPPortRun finds n consecutive TCP ports free on 127.0.0.1.
func freeTCPPortRun(t *testing.T, n int) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		_, p, _ := net.SplitHostPort(freeTCPAddr(t))
		base, _ := strconv.Atoi(p)
		ok := base+n <= 65536
		for i := 0; ok && i < n; i++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+i))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no run of free ports")
	return 0
}

// --cert/--key are presented (their fingerprint printed), and
// --client-ca (here from its env var) requires a client certificate it
// signed.
func TestRegistrarCertFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := writeCA(t, dir, "ca")
	ca.issue(t, dir, "server", false)
	client := ca.issue(t, dir, "client", true)
	_, errb := startRegistrarProcessEnv(t, []string{"REGSTORM_CLIENT_CA=" + filepath.Join(dir, "ca.pem")}, "registrar", "--listen", "127.0.0.1:0", "--transport", "tls",
		"--cert", filepath.Join(dir, "server.pem"), "--key", filepath.Join(dir, "server.key"))
	addrs := listenAddrs(t, errb)
	serverPEM, _ := os.ReadFile(filepath.Join(dir, "server.pem"))
	block, _ := pem.Decode(serverPEM)
	if fp := fingerprintRE.FindStringSubmatch(errb.String()); fp == nil || fp[1] != sha256Colons(block.Bytes) {
		t.Errorf("fingerprint %v, want the --cert one %s", fp, sha256Colons(block.Bytes))
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	if code, err := tlsRegister(addrs["tls"], &tls.Config{RootCAs: roots}, "nap000001"); err == nil || code == 200 {
		t.Errorf("without a client certificate: %d %v", code, err)
	}
	cfg := &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{client}}
	if code, err := tlsRegister(addrs["tls"], cfg, "nap000002"); code != 200 {
		t.Errorf("with a client certificate: %d %v", code, err)
	}
}

// A stream port already held is refused with exit 2, naming --listen when
// it is derived from the listen port and --transport when named there.
func TestRegistrarStreamPortHeld(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	held := l.Addr().(*net.TCPAddr).Port
	for _, c := range []struct {
		args []string
		flag string
	}{
		{[]string{"--listen", "127.0.0.1:" + strconv.Itoa(held-1), "--transport", "udp,tls"}, "--listen"},
		{[]string{"--listen", "127.0.0.1:" + strconv.Itoa(held), "--transport", "tls"}, "--listen"},
		{[]string{"--listen", "127.0.0.1:0", "--transport", "udp,wss:" + strconv.Itoa(held)}, "--transport"},
	} {
		var out, errb bytes.Buffer
		if code := run(append([]string{"regstorm", "registrar"}, c.args...), &out, &errb); code != 2 ||
			!strings.Contains(errb.String(), c.flag) || !strings.Contains(errb.String(), "already in use") {
			t.Errorf("%v: exit %d, %q; want 2 naming %s", c.args, code, errb.String(), c.flag)
		}
	}
}

// pemCA signs the certificates of the flag tests, written as PEM files.
type pemCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func writeCA(t *testing.T, dir, name string) *pemCA {
	t.Helper()
	key, der := makeCert(t, &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}, nil, nil)
	writePEM(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", der)
	cert, _ := x509.ParseCertificate(der)
	return &pemCA{cert: cert, key: key}
}

// issue writes NAME.pem and NAME.key: a client certificate, or a server
// one for 127.0.0.1.
func (ca *pemCA) issue(t *testing.T, dir, name string, client bool) tls.Certificate {
	t.Helper()
	usage := x509.ExtKeyUsageServerAuth
	if client {
		usage = x509.ExtKeyUsageClientAuth
	}
	key, der := makeCert(t, &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}, ca.cert, ca.key)
	writePEM(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", der)
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, name+".key"), "EC PRIVATE KEY", kder)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// makeCert signs tmpl with parent's key, or itself when parent is nil.
func makeCert(t *testing.T, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A registrar killed while clients hold TLS and WS connections restarts on
// the same ports at once: the connections it left behind (TIME-WAIT, or
// FIN-WAIT while the clients keep their end) do not hold the ports.
func TestRegistrarRestartOnSamePorts(t *testing.T) {
	cmd, errb := startRegistrarProcess(t, "--listen", "127.0.0.1:0", "--transport", "tcp,tls,ws")
	addrs := listenAddrs(t, errb)
	fp := fingerprintRE.FindStringSubmatch(errb.String())
	c, err := tls.Dial("tcp", addrs["tls"], byFingerprint(fp[1]))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w, _, _, err := ws.Dialer{Protocols: []string{"sip"}}.Dial(context.Background(), "ws://"+addrs["ws"])
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	_ = cmd.Process.Kill()
	_ = cmd.Wait()

	_, tlsPort, _ := net.SplitHostPort(addrs["tls"])
	_, wsPort, _ := net.SplitHostPort(addrs["ws"])
	_, errb = startRegistrarProcess(t, "--listen", addrs["tcp"], "--transport", "tcp,tls:"+tlsPort+",ws:"+wsPort)
	again := listenAddrs(t, errb)
	for _, tr := range []string{"tcp", "tls", "ws"} {
		if again[tr] != addrs[tr] {
			t.Errorf("%s on %s after the restart, was %s", tr, again[tr], addrs[tr])
		}
	}
	fp = fingerprintRE.FindStringSubmatch(errb.String())
	if code, err := tlsRegister(addrs["tls"], byFingerprint(fp[1]), "nap000001"); code != 200 {
		t.Errorf("tls after the restart: %d %v", code, err)
	}
}
