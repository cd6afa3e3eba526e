//go:build integration

package integration

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/regstorm/regstorm/sipwire"
)

// tlsKamailio is a Kamailio started with -A KTLS: SIP over TLS on tlsPort
// and over secure WebSocket on wssPort (bench/peers/kamailio.cfg), with a
// certificate for 127.0.0.1 signed by a CA made for the test (roots).
type tlsKamailio struct {
	*kamailio
	tlsPort, wssPort int
	roots            *x509.CertPool
}

// startKamailioTLS makes a CA and a server certificate into a temporary
// directory and starts Kamailio with TLS and WSS listeners besides UDP/TCP.
func startKamailioTLS(t *testing.T, defs map[string]string) *tlsKamailio {
	t.Helper()
	dir := t.TempDir()
	roots := makeCerts(t, dir)
	ports := map[int]bool{}
	for len(ports) < 3 {
		ports[freePort(t)] = true
	}
	var p []int
	for port := range ports {
		p = append(p, port)
	}
	all := map[string]string{
		"KTLS": "1", "KTLSPORT": strconv.Itoa(p[1]), "KWSSPORT": strconv.Itoa(p[2]),
		"KTLSCERT": `"` + filepath.Join(dir, "cert.pem") + `"`, "KTLSKEY": `"` + filepath.Join(dir, "key.pem") + `"`,
		"KCHILDREN": strconv.Itoa(runtime.NumCPU()),
	}
	for k, v := range defs {
		all[k] = v
	}
	k := startKamailioOn(t, p[0], all)
	return &tlsKamailio{kamailio: k, tlsPort: p[1], wssPort: p[2], roots: roots}
}

// makeCerts writes cert.pem (a server certificate for 127.0.0.1 and
// localhost, then its CA's) and key.pem (its ECDSA P-256 key: the handshakes
// stay cheap on both sides) into dir, and returns the CA as a pool.
func makeCerts(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "regstorm test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return roots
}

// tcpInfo is Kamailio's core.tcp_info: its own count of open TCP and TLS
// connections (WSS ones are TLS connections) and their limits.
func (k *kamailio) tcpInfo() map[string]int {
	out, err := k.rpc("core.tcp_info")
	if err != nil {
		k.t.Fatalf("core.tcp_info: %v %s", err, out)
	}
	m := map[string]int{}
	for _, f := range regexp.MustCompile(`(\w+):\s*(\d+)`).FindAllStringSubmatch(out, -1) {
		m[f[1]], _ = strconv.Atoi(f[2])
	}
	return m
}

// sipConn sends and receives whole SIP messages over TLS (a byte stream,
// framed by Content-Length) or WSS (one message per text frame).
type sipConn struct {
	conn    net.Conn
	via     string // TLS or WSS
	local   string // host:port in Via and Contact
	contact string // Contact URI
	send    func([]byte) error
	recv    func() ([]byte, error)
}

func dialTLS(t *testing.T, k *tlsKamailio) *sipConn {
	t.Helper()
	s, err := tryDialTLS(k)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.conn.Close() })
	return s
}

func dialWSS(t *testing.T, k *tlsKamailio) *sipConn {
	t.Helper()
	s, err := tryDialWSS(k)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.conn.Close() })
	return s
}

func tryDialTLS(k *tlsKamailio) (*sipConn, error) {
	d := tls.Dialer{Config: &tls.Config{RootCAs: k.roots, ServerName: "127.0.0.1"}, NetDialer: &net.Dialer{Timeout: 10 * time.Second}}
	c, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", k.tlsPort))
	if err != nil {
		return nil, fmt.Errorf("TLS to Kamailio: %v", err)
	}
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 0, 65536), 65536)
	sc.Split(sipwire.SplitMessage)
	local := c.LocalAddr().String()
	return &sipConn{
		conn: c, via: "TLS", local: local, contact: "sip:%s@" + local + ";transport=tls",
		send: func(b []byte) error { _, err := c.Write(b); return err },
		recv: func() ([]byte, error) {
			if !sc.Scan() {
				if sc.Err() == nil {
					return nil, io.EOF
				}
				return nil, sc.Err()
			}
			return sc.Bytes(), nil
		},
	}, nil
}

func tryDialWSS(k *tlsKamailio) (*sipConn, error) {
	d := ws.Dialer{Protocols: []string{"sip"}, TLSConfig: &tls.Config{RootCAs: k.roots, ServerName: "127.0.0.1"}, Timeout: 10 * time.Second}
	c, br, hs, err := d.Dial(context.Background(), fmt.Sprintf("wss://127.0.0.1:%d/", k.wssPort))
	if err != nil {
		return nil, fmt.Errorf("WSS to Kamailio: %v", err)
	}
	if hs.Protocol != "sip" {
		c.Close()
		return nil, fmt.Errorf("WebSocket subprotocol %q, want sip", hs.Protocol)
	}
	var r io.Reader = c
	if br != nil { // bytes after the 101 (none expected: the server speaks when spoken to)
		r = io.MultiReader(br, c)
	}
	rw := struct {
		io.Reader
		io.Writer
	}{r, c}
	local := c.LocalAddr().String()
	return &sipConn{
		conn: c, via: "WSS", local: local, contact: "sip:%s@" + local + ";transport=wss",
		send: func(b []byte) error { return wsutil.WriteClientText(c, b) },
		recv: func() ([]byte, error) { return wsutil.ReadServerText(rw) },
	}, nil
}

// register sends one REGISTER for user (with an Authorization for chal
// when it is not nil) and returns the response.
func (s *sipConn) register(t *testing.T, user string, cseq, expires int, chal map[string]string) (code int, resp string) {
	t.Helper()
	code, resp, err := s.tryRegister(user, cseq, expires, chal)
	if err != nil {
		t.Fatal(err)
	}
	return code, resp
}

func (s *sipConn) tryRegister(user string, cseq, expires int, chal map[string]string) (code int, resp string, err error) {
	uri := "sip:127.0.0.1"
	var auth string
	if chal != nil {
		ha1 := md5hex(user + ":" + chal["realm"] + ":secret")
		ha2 := md5hex("REGISTER:" + uri)
		cnonce, nc := "0a4f113b", "00000001"
		r := md5hex(ha1 + ":" + chal["nonce"] + ":" + nc + ":" + cnonce + ":auth:" + ha2)
		auth = fmt.Sprintf("Authorization: Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", response=\"%s\", algorithm=MD5, qop=auth, nc=%s, cnonce=\"%s\"\r\n",
			user, chal["realm"], chal["nonce"], uri, r, nc, cnonce)
	}
	msg := fmt.Sprintf("REGISTER %s SIP/2.0\r\n"+
		"Via: SIP/2.0/%s %s;branch=z9hG4bK-%s-%d;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:%s@127.0.0.1>;tag=t%s\r\n"+
		"To: <sip:%s@127.0.0.1>\r\n"+
		"Call-ID: c-%s@regstorm\r\n"+
		"CSeq: %d REGISTER\r\n"+
		"Contact: <"+s.contact+">;expires=%d\r\n"+
		"%s"+
		"Content-Length: 0\r\n\r\n",
		uri, s.via, s.local, user, cseq, user, user, user, user, cseq, user, expires, auth)
	if err := s.send([]byte(msg)); err != nil {
		return 0, "", fmt.Errorf("send over %s: %v", s.via, err)
	}
	_ = s.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := s.recv()
	if err != nil {
		return 0, "", fmt.Errorf("no response to REGISTER over %s: %v", s.via, err)
	}
	resp = string(b)
	m := regexp.MustCompile(`^SIP/2.0 (\d{3}) `).FindStringSubmatch(resp)
	if m == nil {
		return 0, resp, fmt.Errorf("not a response: %q", resp)
	}
	code, _ = strconv.Atoi(m[1])
	return code, resp, nil
}

func md5hex(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }

// challenge reads realm and nonce from a 401's WWW-Authenticate.
func challenge(t *testing.T, resp string) map[string]string {
	t.Helper()
	c, err := parseChallenge(resp)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func parseChallenge(resp string) (map[string]string, error) {
	line := regexp.MustCompile(`(?mi)^WWW-Authenticate:\s*Digest (.*)$`).FindStringSubmatch(resp)
	if line == nil {
		return nil, fmt.Errorf("no WWW-Authenticate in %q", resp)
	}
	c := map[string]string{}
	for _, p := range regexp.MustCompile(`(\w+)="?([^",\r]*)"?`).FindAllStringSubmatch(line[1], -1) {
		c[p[1]] = p[2]
	}
	if c["nonce"] == "" || c["realm"] == "" || !strings.Contains(c["qop"], "auth") {
		return nil, fmt.Errorf("challenge %v", c)
	}
	return c, nil
}

// rawRegister walks one binding through Kamailio by hand, with a client
// written here rather than regstorm's: 401, authenticated REGISTER 200,
// the binding in usrloc on this transport, un-REGISTER, gone.
func rawRegister(t *testing.T, k *tlsKamailio, s *sipConn) {
	const user = "nap000001"
	code, resp := s.register(t, user, 1, 60, nil)
	if code != 401 {
		t.Fatalf("first REGISTER over %s: %d, want 401:\n%s", s.via, code, resp)
	}
	chal := challenge(t, resp)
	if !strings.Contains(resp, "SIP/2.0/"+s.via+" ") {
		t.Errorf("the response's Via does not name %s:\n%s", s.via, resp)
	}
	if code, resp = s.register(t, user, 2, 60, chal); code != 200 {
		t.Fatalf("authenticated REGISTER over %s: %d, want 200:\n%s", s.via, code, resp)
	}
	if n := k.contacts(); n != 1 {
		t.Errorf("Kamailio holds %d contacts, want 1", n)
	}
	out, ok := k.lookup(user)
	if !ok {
		t.Fatalf("ul.lookup %s: %s", user, out)
	}
	if !regexp.MustCompile(`(?i)transport=` + strings.ToLower(s.via)).MatchString(out) {
		t.Errorf("binding does not keep transport=%s:\n%s", strings.ToLower(s.via), out)
	}
	info := k.tcpInfo()
	t.Logf("over %s: 401 then 200; Kamailio's tcp_info %v; binding:\n%s", s.via, info, out)
	if info["opened_tls_connections"] != 1 {
		t.Errorf("Kamailio counts %d TLS connections, want 1", info["opened_tls_connections"])
	}
	if code, resp = s.register(t, user, 4, 0, challenge(t, resp401(t, s, user))); code != 200 {
		t.Fatalf("un-REGISTER over %s: %d:\n%s", s.via, code, resp)
	}
	if n := k.contacts(); n != 0 {
		t.Errorf("Kamailio holds %d contacts after the un-REGISTER", n)
	}
}

// resp401 gets a fresh challenge (Kamailio's nonces allow one use with qop
// and nc=1 each time).
func resp401(t *testing.T, s *sipConn, user string) string {
	t.Helper()
	code, resp := s.register(t, user, 3, 0, nil)
	if code != 401 {
		t.Fatalf("REGISTER without credentials: %d:\n%s", code, resp)
	}
	return resp
}

// Kamailio's tls module answers SIP over TLS with digest auth, as
// bench/peers/kamailio.cfg sets it up with -A KTLS.
func TestKamailioTLSRawClient(t *testing.T) {
	k := startKamailioTLS(t, nil)
	rawRegister(t, k, dialTLS(t, k))
}

// Kamailio's websocket module answers SIP over secure WebSocket.
func TestKamailioWSSRawClient(t *testing.T) {
	k := startKamailioTLS(t, nil)
	rawRegister(t, k, dialWSS(t, k))
}
