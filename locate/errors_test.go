package locate

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/regstorm/regstorm/locate/dnstest"
)

// A host that does not exist is ErrNXDomain on every path, at its first
// query: the CLI refuses such a target at start.
func TestNXDomain(t *testing.T) {
	s, r := start(t, "other.test. 30 IN A 192.0.2.1")
	for _, q := range []Query{
		{Host: "nowhere.test"}, {Host: "nowhere.test", Port: 5060}, {Host: "nowhere.test", Transport: "tcp"},
		{Host: "nowhere.test", Secure: true},
	} {
		before := s.Queries("nowhere.test", 0)
		if _, err := r.Locate(t.Context(), q); !errors.Is(err, ErrNXDomain) {
			t.Errorf("%+v: %v, want ErrNXDomain", q, err)
		}
		if n := s.Queries("nowhere.test", 0) - before; n != 1 {
			t.Errorf("%+v: %d queries for the host after its NXDOMAIN, want 1", q, n)
		}
	}
}

// An SRV record pointing at a name without addresses, or at no name, is
// ErrNoAnswer, not ErrNXDomain: the host itself exists.
func TestSRVPointingNowhere(t *testing.T) {
	_, r := start(t,
		"_sip._udp.example.test. 60 IN SRV 10 1 5060 gone.example.test.",
		"_sip._tcp.example.test. 60 IN SRV 10 1 5060 bare.example.test.",
		"bare.example.test. 60 IN TXT \"no address here\"",
	)
	for _, tr := range []string{"udp", "tcp"} {
		_, err := r.Locate(t.Context(), Query{Host: "example.test", Transport: tr})
		if !errors.Is(err, ErrNoAnswer) || errors.Is(err, ErrNXDomain) {
			t.Errorf("%s: %v, want ErrNoAnswer only", tr, err)
		}
	}
	if _, err := r.Locate(t.Context(), Query{Host: "example.test"}); !errors.Is(err, ErrNoAnswer) {
		t.Errorf("NAPTR path: %v, want ErrNoAnswer", err)
	}
}

// A NAPTR record whose replacement has no SRV records leads nowhere.
func TestNAPTRPointingNowhere(t *testing.T) {
	_, r := start(t,
		`example.test. 300 IN NAPTR 10 10 "S" "SIP+D2U" "" _sip._udp.elsewhere.test.`,
		"example.test. 30 IN A 192.0.2.10",
	)
	if _, err := r.Locate(t.Context(), Query{Host: "example.test"}); !errors.Is(err, ErrNoAnswer) {
		t.Errorf("%v, want ErrNoAnswer", err)
	}
}

// A name that exists with no records of any kind a SIP client asks for.
func TestEmptyAnswersEverywhere(t *testing.T) {
	_, r := start(t, `example.test. 30 IN TXT "nothing for SIP"`)
	for _, q := range []Query{{Host: "example.test"}, {Host: "example.test", Port: 5060}, {Host: "example.test", Transport: "tls"}} {
		if _, err := r.Locate(t.Context(), q); !errors.Is(err, ErrNoAnswer) {
			t.Errorf("%+v: %v, want ErrNoAnswer", q, err)
		}
	}
}

// SERVFAIL (and REFUSED) on the host stops the Locate on every path,
// rather than skipping NAPTR or SRV and guessing a transport.
func TestServFail(t *testing.T) {
	for _, f := range []dnstest.Fault{dnstest.ServFail, dnstest.Refused} {
		s, r := start(t, zone...)
		s.Fail("example.test", 0, f)
		for _, q := range []Query{{Host: "example.test"}, {Host: "example.test", Port: 5060}} {
			if _, err := r.Locate(t.Context(), q); !errors.Is(err, ErrServFail) {
				t.Errorf("fault %d, %+v: %v, want ErrServFail", f, q, err)
			}
		}
		// A failing SRV name: the transport's records are unknown.
		s.Fail("example.test", 0, dnstest.Answer)
		s.Fail("_sip._tcp.example.test", 0, f)
		if _, err := r.Locate(t.Context(), Query{Host: "example.test"}); !errors.Is(err, ErrServFail) {
			t.Errorf("fault %d on _sip._tcp: %v, want ErrServFail", f, err)
		}
	}
}

// A server that never answers is ErrTimeout after the retries, each
// bounded by Timeout.
func TestTimeout(t *testing.T) {
	s, r := start(t, zone...)
	r.Timeout = 100 * time.Millisecond
	s.Fail("example.test", 0, dnstest.Drop)
	begin := time.Now()
	_, err := r.Locate(t.Context(), Query{Host: "example.test"})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("%v, want ErrTimeout", err)
	}
	if took := time.Since(begin); took > time.Second {
		t.Errorf("took %v", took)
	}
	if n := s.Queries("example.test", 0); n != 2 {
		t.Errorf("%d tries, want 2", n)
	}
	// A context's deadline is a timeout too; its cancellation is itself.
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := r.Locate(ctx, Query{Host: "example.test"}); !errors.Is(err, ErrTimeout) {
		t.Errorf("context deadline: %v, want ErrTimeout", err)
	}
	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	if _, err := r.Locate(ctx, Query{Host: "example.test"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
}

// A server that is not there at all (nothing listening) is ErrTimeout too.
func TestNoServer(t *testing.T) {
	r := &Resolver{Server: "127.0.0.1:1", Timeout: 100 * time.Millisecond}
	if _, err := r.Locate(t.Context(), Query{Host: "example.test"}); !errors.Is(err, ErrTimeout) {
		t.Errorf("%v, want ErrTimeout", err)
	}
}
