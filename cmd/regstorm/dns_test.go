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
	go func() { time.Sleep(700 * time.Millisecond); d.Fail("flaky.test", 0, dnstest.Answer) }()
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
