package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/regstorm/regstorm/locate/dnstest"
	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/registrar"
)

func portOf(t *testing.T, addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A target given by name, with its own DNS server: NAPTR chooses TCP, SRV
// spreads 400 NAPs 3:1 over two registrars, exactly; each registrar's own
// view says so, and so do the counts per target.
func TestTargetByDNSSpreadsByWeight(t *testing.T) {
	t.Parallel()
	a, err := registrar.Listen(registrar.New(registrar.Config{}), "127.0.0.1", 0, []string{"udp", "tcp"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := registrar.Listen(registrar.New(registrar.Config{}), "127.0.0.1", 0, []string{"udp", "tcp"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	d := dnstest.Start(t)
	d.Zone(
		`example.test. 60 IN NAPTR 10 50 "s" "SIP+D2T" "" _sip._tcp.example.test.`,
		fmt.Sprintf("_sip._tcp.example.test. 60 IN SRV 10 3 %s a.example.test.", portOf(t, a.Addr)),
		fmt.Sprintf("_sip._tcp.example.test. 60 IN SRV 10 1 %s b.example.test.", portOf(t, b.Addr)),
		"a.example.test. 60 IN A 127.0.0.1",
		"b.example.test. 60 IN A 127.0.0.1",
	)
	var out, errb bytes.Buffer
	type seen struct{ a, b int }
	most := make(chan seen, 1)
	go func() {
		var m seen
		for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			na, _ := a.Reg.Loc.Count(time.Now())
			nb, _ := b.Reg.Loc.Count(time.Now())
			m.a, m.b = max(m.a, na), max(m.b, nb)
		}
		most <- m
	}()
	code := run([]string{"regstorm", "--target", "sip:example.test", "--dns-server", d.Addr, "--naps", "400",
		"--duration", "2s", "--quiet", "--summary", "-"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var s metrics.Summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if s.Transport != "tcp" || s.Registered != 400 {
		t.Fatalf("transport %s (NAPTR says tcp), registered %d", s.Transport, s.Registered)
	}
	if m := <-most; m.a != 300 || m.b != 100 {
		t.Errorf("registrars held %d and %d bindings: want 300 and 100", m.a, m.b)
	}
	ta, tb := s.Targets["a.example.test "+a.Addr], s.Targets["b.example.test "+b.Addr]
	if ta == nil || tb == nil || ta.Registered != 300 || tb.Registered != 100 {
		t.Errorf("targets %v", s.Targets)
	}
}

// At start, a name that does not exist is bad input (exit 2 naming
// --target); a resolver that fails is said and tried again every --retry,
// and the run goes on once it answers.
func TestTargetByDNSFailuresAtStart(t *testing.T) {
	t.Parallel()
	d := dnstest.Start(t)
	d.Zone("present.test. 60 IN A 127.0.0.1")
	var out, errb bytes.Buffer
	if code := run([]string{"regstorm", "--target", "sip:absent.test", "--dns-server", d.Addr, "--naps", "1", "--duration", "1s"}, &out, &errb); code != 2 ||
		!strings.Contains(errb.String(), "--target") || !strings.Contains(errb.String(), "NXDOMAIN") {
		t.Fatalf("NXDOMAIN: exit %d, %q", code, errb.String())
	}

	srv, err := registrar.Listen(registrar.New(registrar.Config{}), "127.0.0.1", 0, []string{"udp"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	d.Fail("flaky.test", 0, dnstest.ServFail)
	d.Zone("flaky.test. 60 IN A 127.0.0.1")
	go func() { // answers once the failures were tried again
		waitFor(10*time.Second, func() bool { return d.Queries("flaky.test", dns.TypeA) >= 3 })
		d.Fail("flaky.test", 0, dnstest.Answer)
	}()
	errb.Reset()
	out.Reset()
	code := run([]string{"regstorm", "--target", "sip:flaky.test:" + portOf(t, srv.Addr), "--dns-server", d.Addr, "--naps", "5",
		"--duration", "500ms", "--retry", "200ms", "--summary", "-"}, &out, &errb)
	if code != 0 || !strings.Contains(errb.String(), "trying again in 200ms") {
		t.Fatalf("SERVFAIL then answers: exit %d, %q", code, errb.String())
	}
	var s metrics.Summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil || s.Registered != 5 {
		t.Fatalf("registered %d (%v)", s.Registered, err)
	}
	if d.Queries("flaky.test", dns.TypeA) < 3 {
		t.Errorf("%d queries for flaky.test: want the failures retried", d.Queries("flaky.test", dns.TypeA))
	}
}

// While running, the name is resolved again after its TTL: a changed
// record moves the NAPs whose target went away (their next REGISTER goes
// to the new address), and a resolver that fails meanwhile is counted and
// changes nothing.
func TestTargetByDNSFollowsTheRecords(t *testing.T) {
	t.Parallel()
	a, err := registrar.Listen(registrar.New(registrar.Config{}), "127.0.0.1", 0, []string{"udp"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	port := portOf(t, a.Addr)
	b, err := registrar.Listen(registrar.New(registrar.Config{}), "127.0.0.2", mustAtoi(t, port), []string{"udp"})
	if err != nil {
		t.Skipf("127.0.0.2:%s: %v", port, err)
	}
	defer b.Close()
	d := dnstest.Start(t)
	d.Zone("moving.test. 1 IN A 127.0.0.1")
	mostB := make(chan int, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		d.Zone("moving.test. 1 IN A 127.0.0.2") // seen at the resolution ~1 s after the start
		time.Sleep(1500 * time.Millisecond)
		d.Fail("moving.test", 0, dnstest.ServFail) // the resolutions from ~2 s on fail
		m := 0
		for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			n, _ := b.Reg.Loc.Count(time.Now())
			m = max(m, n)
		}
		mostB <- m
	}()
	var out, errb bytes.Buffer
	code := run([]string{"regstorm", "--target", "sip:moving.test:" + port, "--dns-server", d.Addr, "--naps", "10",
		"--expires", "4", "--retry", "500ms", "--duration", "4s", "--quiet", "--summary", "-"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var s metrics.Summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	// The refreshes at 2 s went to b, the new address, which held all 10.
	if m := <-mostB; m != 10 {
		t.Errorf("b held at most %d bindings, want 10", m)
	}
	if s.DNS == nil || s.DNS.Changes != 1 || s.DNS.Moved != 10 || s.DNS.Failures["servfail"] < 2 {
		t.Errorf("dns %+v: want 1 change moving 10 NAPs, and the SERVFAILs counted", s.DNS)
	}
	if s.Registered != 10 || s.Timeouts != 0 {
		t.Errorf("registered %d, timeouts %d", s.Registered, s.Timeouts)
	}
}

func mustAtoi(t *testing.T, s string) int {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil {
		t.Fatal(err)
	}
	return n
}
