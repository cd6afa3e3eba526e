package engine

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/identity"
	"github.com/regstorm/regstorm/nap"
	"github.com/regstorm/regstorm/netio"
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
	up, _ := identity.ParsePattern("nap%06d")
	pp, _ := identity.ParsePattern("secret")
	return Options{
		Groups: []Group{{Name: "default", NAPs: naps, Register: true, Target: target, NAP: nap.DefaultConfig(),
			Identity: identity.Identity{UserPattern: up, UserStart: 1, PasswordPattern: pp}}},
		Duration: 2 * time.Second, Drain: 2 * time.Second,
	}
}

// checkSums: every request ended in a final response, a timeout, was
// abandoned, or is still in flight by its NAP's state (DESIGN §8); and
// nothing was malformed.
func checkSums(t *testing.T, res *Result) {
	t.Helper()
	s := res.Summary
	var finals int64
	for code, n := range res.Totals.Responses {
		if code >= 200 {
			finals += n
		}
	}
	if s.Requests != finals+s.Timeouts+s.Abandoned+res.InFlight {
		t.Errorf("requests %d != final responses %d + timeouts %d + abandoned %d + in flight %d", s.Requests, finals, s.Timeouts, s.Abandoned, res.InFlight)
	}
	if s.InFlight == nil || *s.InFlight != res.InFlight {
		t.Errorf("summary in_flight %v, result %d", s.InFlight, res.InFlight)
	}
	var options int64
	if s.Keepalives != nil {
		options = s.Keepalives.Options
	}
	// Every request that reached a NAP was answered, but an ACK.
	var answers int64
	for method, n := range s.RequestsReceived {
		if method != "ACK" {
			answers += n
		}
	}
	if s.MessagesSent != s.Requests+s.Retransmissions+options+answers {
		t.Errorf("messages sent %d != requests %d + retransmissions %d + OPTIONS pings %d + answers %d", s.MessagesSent, s.Requests, s.Retransmissions, options, answers)
	}
	if s.Malformed != 0 {
		t.Errorf("%d malformed", s.Malformed)
	}
}

// checkCycle: all n NAPs registered during the load, none timed out, and
// all were un-registered in the drain.
func checkCycle(t *testing.T, res *Result, n int64) {
	t.Helper()
	s := res.Summary
	if s.Registered != n || s.Timeouts != 0 || s.Unregistered != n {
		t.Fatalf("registered %d, timeouts %d, unregistered %d (want %d, 0, %d)", s.Registered, s.Timeouts, s.Unregistered, n, n)
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
	checkCycle(t, res, 3000)
	checkSums(t, res)
	if n, _ := srv.Reg.Loc.Count(time.Now()); n != 0 {
		t.Errorf("%d bindings left at the registrar after the drain", n)
	}
	// The load's transactions and the drain's un-REGISTERs, each in its
	// own histogram.
	if s.LatencyMS.Count != 3000 || s.DrainLatencyMS.Count != 3000 {
		t.Errorf("latency samples %d (load), %d (drain): want 3000 each", s.LatencyMS.Count, s.DrainLatencyMS.Count)
	}
	if s.MessagesReceived < 6000 {
		t.Errorf("messages received %d, want >= 6000", s.MessagesReceived)
	}
	if p := s.Process; p == nil || p.HeapBytes == 0 || p.RSSBytes == 0 || p.Goroutines == 0 || p.OpenFDs == 0 {
		t.Errorf("process sample %+v: want heap, RSS, goroutines and fds", p)
	}
	if len(s.Timeline) == 0 || s.Timeline[0].HeapBytes == 0 {
		t.Errorf("timeline %v: want a process sample each second", s.Timeline)
	}
	// The drain's un-REGISTERs, of one size mostly, leave segmented where
	// the kernel can (netio's tests check the fallback where it cannot).
	if g := s.UDPGSO; g != nil && (g.Refused != 0 || g.Datagrams < 2*g.Messages || g.Datagrams > s.MessagesSent) {
		t.Errorf("udp_gso %+v of %d messages sent", *g, s.MessagesSent)
	} else if g == nil && netio.GSOAvailable() {
		t.Errorf("no udp_gso in the summary, with GSO available")
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
	o.Groups[0].NAP.Transport = sipwire.TCP
	o.PerNAP = true
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Summary; s.Registered != 500 || s.Timeouts != 0 || s.Unregistered != 500 || s.Transport != "tcp" || s.Connects != 500 {
		t.Fatalf("registered %d, timeouts %d, unregistered %d, connects %d", s.Registered, s.Timeouts, s.Unregistered, s.Connects)
	}
	checkSums(t, res)
}

func TestTCPShared(t *testing.T) {
	srv := startRegistrar(t, registrar.Config{})
	o := baseOptions(srv.Addr, 800)
	o.Groups[0].NAP.Transport = sipwire.TCP
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	checkCycle(t, res, 800)
	checkSums(t, res)
}

// scaled returns the seed's timers at 1/50: T1 10 ms, T2 80 ms, Timer F
// 640 ms, retry 100 ms (a 740 ms no-answer cycle).
func scaled(o Options) Options {
	o.Groups[0].NAP.T1, o.Groups[0].NAP.T2, o.Groups[0].NAP.TimerF, o.Groups[0].NAP.Retry = 10*time.Millisecond, 80*time.Millisecond, 640*time.Millisecond, 100*time.Millisecond
	return o
}

// With the registrar silent, NAPs follow the (scaled) 32+5 s cycle; once it
// answers again, all register.
func TestSilentThenRestored(t *testing.T) {
	srv := startRegistrar(t, registrar.Config{Silent: true}, "udp")
	o := scaled(baseOptions(srv.Addr, 300))
	o.Duration = 3 * time.Second
	go func() {
		time.Sleep(1600 * time.Millisecond) // two full cycles: REGISTERs at 0, 0.74, 1.48 s
		srv.Reg.SetSilent(false)
	}()
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summary
	if s.Registered != 300 {
		t.Fatalf("registered %d of 300 after the registrar came back", s.Registered)
	}
	// Each NAP timed out twice (at 0.64 and 1.38 s) and retransmitted 10
	// times per silent cycle (10, 30, 70, 150, 230 … 630 ms: see the nap tests).
	if s.Timeouts != 600 {
		t.Errorf("timeouts %d, want 600 (two cycles × 300 NAPs)", s.Timeouts)
	}
	if s.Retransmissions < 6000 {
		t.Errorf("retransmissions %d, want >= 6000", s.Retransmissions)
	}
	checkSums(t, res)
}

// With 10 % and 30 % of requests dropped (issue 8), every NAP still
// registers through retransmissions, and each is counted once.
func TestDropTenAndThirtyPercent(t *testing.T) {
	for _, drop := range []float64{0.1, 0.3} {
		t.Run(strconv.FormatFloat(drop, 'f', -1, 64), func(t *testing.T) {
			srv := startRegistrar(t, registrar.Config{Drop: drop}, "udp")
			o := scaled(baseOptions(srv.Addr, 1000))
			o.Duration = 1500 * time.Millisecond
			o.Drain = time.Second
			res, err := Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			s := res.Summary
			// About drop × (requests + retransmissions) copies vanish; the
			// first REGISTERs alone lose ~drop × 1000.
			if s.Registered != 1000 || s.Timeouts != 0 || float64(s.Retransmissions) < drop*1000*0.7 {
				t.Fatalf("registered %d, timeouts %d, retransmissions %d", s.Registered, s.Timeouts, s.Retransmissions)
			}
			t.Logf("drop %v: requests %d, retransmissions %d, timeouts %d", drop, s.Requests, s.Retransmissions, s.Timeouts)
			if s.Unregistered != 1000 {
				t.Errorf("unregistered %d of 1000 in the drain", s.Unregistered)
			}
			checkSums(t, res)
		})
	}
}

// A registrar answering after 2.5 × T1 (issue 8): the NAP retransmits once
// before the answer, the registrar answers both copies, and the second
// 200 arrives for a finished transaction. It is counted as stale, never as
// a second registration or a second transaction.
func TestDelayAboveT1DuplicatesAbsorbed(t *testing.T) {
	srv := startRegistrar(t, registrar.Config{Delay: 25 * time.Millisecond}, "udp")
	o := scaled(baseOptions(srv.Addr, 500)) // T1 10 ms: copies at 0 and 10 ms, answers at 25 and 35 ms
	o.Rate = 2000
	o.Duration = time.Second
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summary
	checkCycle(t, res, 500)
	// 500 REGISTERs and 500 un-REGISTERs, each retransmitted at 10 ms.
	if s.Requests != 1000 || s.Retransmissions < 1000 {
		t.Fatalf("requests %d (want 1000), retransmissions %d (want >= 1000)", s.Requests, s.Retransmissions)
	}
	if s.Responses["200"] != 1000 {
		t.Errorf("200s counted %d, want 1000: one per transaction", s.Responses["200"])
	}
	t.Logf("requests %d, retransmissions %d, 200s %d, stale %d", s.Requests, s.Retransmissions, s.Responses["200"], s.StaleResponses)
	// The duplicates of the REGISTER phase all arrive during the load; those
	// of the drain may arrive after the sockets close.
	if s.StaleResponses < 500 || s.StaleResponses > s.Retransmissions {
		t.Errorf("stale %d, want between 500 and the %d retransmissions", s.StaleResponses, s.Retransmissions)
	}
	if s.RegistrationMS.Count != 500 || s.LatencyMS.Count != 500 || s.DrainLatencyMS.Count != 500 {
		t.Errorf("registration samples %d, transaction samples %d, drain samples %d (want 500 each)", s.RegistrationMS.Count, s.LatencyMS.Count, s.DrainLatencyMS.Count)
	}
	checkSums(t, res)
}

// --local-ip with a CIDR and per-nap sockets: NAPs register from many
// loopback source addresses.
func TestLocalIPCIDRPerNAP(t *testing.T) {
	srv := startRegistrar(t, registrar.Config{}, "udp")
	o := baseOptions(srv.Addr, 200)
	o.PerNAP = true
	pool, err := netio.ParseAddrPool("127.0.0.0/25")
	if err != nil {
		t.Fatal(err)
	}
	o.Groups[0].LocalIPs = pool
	o.Duration = 1500 * time.Millisecond
	hosts := map[string]bool{}
	seen := make(chan struct{})
	go func() {
		defer close(seen)
		time.Sleep(time.Second) // all registered, not yet drained
		for _, b := range srv.Reg.Loc.All(time.Now()) {
			u, _ := strings.CutPrefix(b.Contact, "sip:")
			_, hp, _ := strings.Cut(u, "@")
			h, _, _ := net.SplitHostPort(strings.Split(hp, ";")[0])
			hosts[h] = true
		}
	}()
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	<-seen
	if res.Summary.Registered != 200 {
		t.Fatalf("registered %d", res.Summary.Registered)
	}
	// 200 NAPs over the 128 addresses of 127.0.0.0/25.
	if len(hosts) != 128 {
		t.Errorf("contacts came from %d distinct hosts, want 128", len(hosts))
	}
}

// The registrar goes away (listener and connections closed) and comes back
// on the same port: over TCP every NAP sees its connection lost, retries
// the connection every --retry while it is refused, and re-registers once
// the registrar is back.
func TestTCPRegistrarRestart(t *testing.T) {
	first, err := registrar.Listen(registrar.New(registrar.Config{}), "127.0.0.1", 0, []string{"tcp"})
	if err != nil {
		t.Fatal(err)
	}
	_, portS, _ := net.SplitHostPort(first.Addr)
	port, _ := strconv.Atoi(portS)
	o := scaled(baseOptions(first.Addr, 200))
	o.Groups[0].NAP.Transport = sipwire.TCP
	o.Duration = 3 * time.Second
	restarted := make(chan *registrar.Server, 1)
	go func() {
		defer close(restarted)
		time.Sleep(800 * time.Millisecond)
		first.Close() // the outage: connections reset, connects refused
		time.Sleep(800 * time.Millisecond)
		s, err := registrar.Listen(registrar.New(registrar.Config{}), "127.0.0.1", port, []string{"tcp"})
		if err != nil {
			t.Errorf("restart on port %d: %v", port, err)
			return
		}
		restarted <- s
	}()
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	second := <-restarted
	if second != nil {
		defer second.Close()
	}
	s := res.Summary
	if s.ConnectionsLost < 1 || s.ConnectFailures < 1 {
		t.Errorf("connections lost %d, connect failures %d: the outage was not seen", s.ConnectionsLost, s.ConnectFailures)
	}
	if s.Registered != 200 {
		t.Fatalf("registered %d of 200 after the registrar came back; connects %d, failures %d, lost %d, timeouts %d, in flight %d, requests %d", s.Registered, s.Connects, s.ConnectFailures, s.ConnectionsLost, s.Timeouts, res.InFlight, s.Requests)
	}
	if second == nil {
		t.Fatal("registrar did not restart")
	}
	if n, _ := second.Reg.Loc.Count(time.Now()); n != 0 {
		t.Errorf("%d bindings left after the drain", n)
	}
}

// A peer that accepts every TCP connection and resets it at once: the
// reset can arrive before the engine has stored the new connection. Every
// NAP must see each attempt fail or the connection lost, and try again;
// none may send into a dead connection and sit there timing out.
func TestTCPPeerResettingEveryConnection(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
	for _, perNAP := range []bool{false, true} {
		o := scaled(baseOptions(l.Addr().String(), 40))
		o.Groups[0].NAP.Transport = sipwire.TCP
		o.PerNAP = perNAP
		o.Duration = 1500 * time.Millisecond
		o.Drain = 200 * time.Millisecond
		res, err := Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		s := res.Summary
		attempts := s.ConnectFailures + s.ConnectionsLost
		t.Logf("per-nap %v: connects %d, failures %d, lost %d, timeouts %d, requests %d", perNAP, s.Connects, s.ConnectFailures, s.ConnectionsLost, s.Timeouts, s.Requests)
		if s.Timeouts != 0 || s.Registered != 0 {
			t.Errorf("per-nap %v: %d timeouts, %d registered: a NAP used a connection that was already reset", perNAP, s.Timeouts, s.Registered)
		}
		// Retry 100 ms over 1.5 s: about 14 attempts a NAP; ask for half.
		if attempts < 40*7 {
			t.Errorf("per-nap %v: %d failed or lost connections for 40 NAPs over 1.5 s, want >= %d", perNAP, attempts, 40*7)
		}
	}
}

// With a coarse --tick, responses wait in the socket for up to a tick,
// but latency counts from the kernel's arrival time: it must stay at the
// loopback round trip, not grow by half a tick on average.
func TestTickDoesNotInflateLatency(t *testing.T) {
	srv := startRegistrar(t, registrar.Config{}, "udp")
	o := baseOptions(srv.Addr, 500)
	o.Tick = 40 * time.Millisecond
	o.Rate = 1000
	o.Duration = 1500 * time.Millisecond
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summary
	checkCycle(t, res, 500)
	checkSums(t, res)
	// Uncorrected, the median would be about 20 ms (uniform over a tick).
	if s.LatencyMS.P50 > 5 {
		t.Errorf("latency p50 %.2f ms with a 40 ms tick: the wait in the socket was counted", s.LatencyMS.P50)
	}
}
