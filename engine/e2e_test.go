package engine

import (
	"context"
	"testing"
	"time"

	"github.com/regstorm/regstorm/nap"
	"github.com/regstorm/regstorm/registrar"
	"github.com/regstorm/regstorm/sipwire"
)

func startRegistrar(t *testing.T, cfg registrar.Config, transports ...string) *registrar.Server {
	t.Helper()
	if len(transports) == 0 {
		transports = []string{"udp", "tcp"}
	}
	s, err := registrar.Listen(registrar.New(cfg), "127.0.0.1", 0, transports)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func baseOptions(target string, naps int) Options {
	up, _ := ParsePattern("nap%06d")
	pp, _ := ParsePattern("secret")
	return Options{
		Target: target, NAPs: naps, Duration: 2 * time.Second, Drain: 2 * time.Second,
		NAP:      nap.DefaultConfig(),
		Identity: Identity{UserPattern: up, UserStart: 1, PasswordPattern: pp},
	}
}

// checkSums: every request ended in a final response, a timeout, or is
// still in flight; and nothing was malformed.
func checkSums(t *testing.T, res *Result) {
	t.Helper()
	s := res.Summary
	var finals int64
	for code, n := range res.Totals.Responses {
		if code >= 200 {
			finals += n
		}
	}
	if s.Requests != finals+s.Timeouts+res.InFlight {
		t.Errorf("requests %d != final responses %d + timeouts %d + in flight %d", s.Requests, finals, s.Timeouts, res.InFlight)
	}
	if s.Malformed != 0 {
		t.Errorf("%d malformed", s.Malformed)
	}
}

func TestUDPSharedRegistersAndDrains(t *testing.T) {
	srv := startRegistrar(t, registrar.Config{})
	o := baseOptions(srv.Addr, 3000)
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summary
	if s.Registered != 3000 || s.Timeouts != 0 || s.Unregistered != 3000 {
		t.Fatalf("registered %d, timeouts %d, unregistered %d", s.Registered, s.Timeouts, s.Unregistered)
	}
	checkSums(t, res)
	if n, _ := srv.Reg.Loc.Count(time.Now()); n != 0 {
		t.Errorf("%d bindings left at the registrar after the drain", n)
	}
	if s.LatencyMS.Count != s.Requests {
		t.Errorf("latency samples %d != requests %d", s.LatencyMS.Count, s.Requests)
	}
}

func TestUDPAuthEveryNAPChallenged(t *testing.T) {
	srv := startRegistrar(t, registrar.Config{Auth: true, Password: func([]byte) ([]byte, bool) { return []byte("secret"), true }})
	res, err := Run(context.Background(), baseOptions(srv.Addr, 1000))
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summary
	if s.Registered != 1000 || s.AuthChallenges < 1000 || s.Responses["401"] < 1000 {
		t.Fatalf("registered %d, challenges %d, 401s %d", s.Registered, s.AuthChallenges, s.Responses["401"])
	}
	checkSums(t, res)
}

func TestTCPPerNAP(t *testing.T) {
	srv := startRegistrar(t, registrar.Config{})
	o := baseOptions(srv.Addr, 500)
	o.NAP.Transport = sipwire.TCP
	o.PerNAP = true
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Summary; s.Registered != 500 || s.Timeouts != 0 || s.Unregistered != 500 || s.Transport != "tcp" {
		t.Fatalf("registered %d, timeouts %d, unregistered %d", s.Registered, s.Timeouts, s.Unregistered)
	}
	checkSums(t, res)
}

func TestTCPShared(t *testing.T) {
	srv := startRegistrar(t, registrar.Config{})
	o := baseOptions(srv.Addr, 800)
	o.NAP.Transport = sipwire.TCP
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Summary; s.Registered != 800 || s.Timeouts != 0 || s.Unregistered != 800 {
		t.Fatalf("registered %d, timeouts %d, unregistered %d", s.Registered, s.Timeouts, s.Unregistered)
	}
	checkSums(t, res)
}
