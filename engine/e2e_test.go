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

// stopWhen ends a real-socket run as soon as a snapshot shows what the
// test waits for, so that it takes as long as the sockets need and no
// fixed second more; o.Duration stays the bound (if the moment never
// comes, the run ends there and the test's own checks fail as before).
type stopWhen struct {
	done   func(*Snapshot) bool
	cancel context.CancelFunc
}

func (s *stopWhen) Observe(sn *Snapshot) {
	if sn.Totals != nil && s.done(sn) {
		s.cancel()
	}
}

func (s *stopWhen) Needs() Needs { return 0 } // counts only

// runUntil runs o until done says so (snapshots every 20 ms unless o
// says), or until its duration.
func runUntil(o Options, done func(*Snapshot) bool) (*Result, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o.Observers = append(o.Observers, &stopWhen{done: done, cancel: cancel})
	if o.SnapshotEvery == 0 {
		o.SnapshotEvery = 20 * time.Millisecond
	}
	return Run(ctx, o)
}

// registered: every one of n NAPs is registered.
func registered(n int64) func(*Snapshot) bool {
	return func(sn *Snapshot) bool { return sn.Totals.Registered >= n }
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
	t.Parallel() // real sockets of its own: no state shared with another test
	srv := startRegistrar(t, registrar.Config{})
	o := baseOptions(srv.Addr, 3000)
	o.SnapshotEvery = time.Second // the timeline's: a process sample each second
	res, err := runUntil(o, registered(3000))
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

func TestTCPPerNAP(t *testing.T) {
	// Not in parallel: 500 connects at once to one listener, alongside the
	// other tests' loads, left one NAP unconnected for 10 s once (-race).
	srv := startRegistrar(t, registrar.Config{})
	o := baseOptions(srv.Addr, 500)
	o.Groups[0].NAP.Transport = sipwire.TCP
	o.PerNAP = true
	o.Duration = 10 * time.Second // a bound: the load ends once all are registered
	res, err := runUntil(o, registered(500))
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Summary; s.Registered != 500 || s.Timeouts != 0 || s.Unregistered != 500 || s.Transport != "tcp" || s.Connects != 500 {
		t.Fatalf("registered %d, timeouts %d, unregistered %d, connects %d", s.Registered, s.Timeouts, s.Unregistered, s.Connects)
	}
	checkSums(t, res)
}

func TestTCPShared(t *testing.T) {
	t.Parallel() // real sockets of its own: no state shared with another test
	srv := startRegistrar(t, registrar.Config{})
	o := baseOptions(srv.Addr, 800)
	o.Groups[0].NAP.Transport = sipwire.TCP
	o.Duration = 10 * time.Second // a bound: the load ends once all are registered
	res, err := runUntil(o, registered(800))
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

// --local-ip with a CIDR and per-nap sockets: NAPs register from many
// loopback source addresses.
func TestLocalIPCIDRPerNAP(t *testing.T) {
	t.Parallel() // real sockets of its own: no state shared with another test
	srv := startRegistrar(t, registrar.Config{}, "udp")
	o := baseOptions(srv.Addr, 200)
	o.PerNAP = true
	pool, err := netio.ParseAddrPool("127.0.0.0/25")
	if err != nil {
		t.Fatal(err)
	}
	o.Groups[0].LocalIPs = pool
	o.Duration = 10 * time.Second // a bound: the load ends once the contacts are read
	hosts := map[string]bool{}
	res, err := runUntil(o, func(sn *Snapshot) bool {
		if !registered(200)(sn) {
			return false
		}
		for _, b := range srv.Reg.Loc.All(time.Now()) { // all registered, not yet drained
			u, _ := strings.CutPrefix(b.Contact, "sip:")
			_, hp, _ := strings.Cut(u, "@")
			h, _, _ := net.SplitHostPort(strings.Split(hp, ";")[0])
			hosts[h] = true
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.Registered != 200 {
		t.Fatalf("registered %d", res.Summary.Registered)
	}
	// 200 NAPs over the 128 addresses of 127.0.0.0/25.
	if len(hosts) != 128 {
		t.Errorf("contacts came from %d distinct hosts, want 128", len(hosts))
	}
}

// A peer that accepts every TCP connection and resets it at once: the
// reset can arrive before the engine has stored the new connection. Every
// NAP must see each attempt fail or the connection lost, and try again;
// none may send into a dead connection and sit there timing out.
func TestTCPPeerResettingEveryConnection(t *testing.T) {
	t.Parallel() // real sockets of its own: no state shared with another test
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
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
		t.Run("per-nap="+strconv.FormatBool(perNAP), func(t *testing.T) {
			t.Parallel()
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
		})
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
	o.Duration = 10 * time.Second // a bound: the load ends once all are registered
	res, err := runUntil(o, registered(500))
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
