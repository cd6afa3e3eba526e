//go:build integration

package integration

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/registrar"
	"github.com/regstorm/regstorm/sipwire"
)

// --proxy against Kamailio as a stateful proxy (issue 16): 1 000 NAPs send
// every REGISTER to Kamailio with a Route naming it, their Request-URI and
// AOR at the registrar's domain (registrar.test, resolved by nobody).
// Kamailio (bench/peers/kamailio.cfg with -A KPROXY) refuses a REGISTER
// whose top Route does not name it, removes that Route (RFC 3261 §16.4),
// adds a Path (RFC 3327) and relays it with tm to the embedded registrar,
// which challenges each NAP (the digest round trip goes through the
// proxy) and binds it. A tap in front of the registrar keeps what reached
// it. Checked: the registrar holds the 1 000 bindings at
// napNNNNNN@registrar.test while the load runs and none after the drain;
// every request it got has the Path and no Route; Kamailio's tm relayed
// them and its usrloc stayed empty; regstorm's counts add up.

const (
	proxyNAPs   = 1000
	proxyDomain = "registrar.test"
)

func testKamailioProxy(t *testing.T, tr sipwire.Transport) {
	reg := registrar.New(registrar.Config{Auth: true,
		Password: func([]byte) ([]byte, bool) { return []byte("secret"), true }})
	srv, err := registrar.Listen(reg, "127.0.0.1", 0, []string{"udp", "tcp"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	tp := startTap(t, srv.Addr)
	k := startKamailio(t, map[string]string{"KPROXY": "1", "KREGISTRAR": `"` + tp.addr + `"`})

	o := options(fmt.Sprintf("127.0.0.1:%d", k.port), proxyNAPs, tr)
	o.Groups[0].Identity.Domain = proxyDomain
	o.Groups[0].Identity.RequestURI = "sip:" + proxyDomain
	o.Groups[0].Identity.Route = fmt.Sprintf("<sip:127.0.0.1:%d;lr>", k.port)
	if tr == sipwire.TCP {
		o.Groups[0].Identity.Route = fmt.Sprintf("<sip:127.0.0.1:%d;transport=tcp;lr>", k.port)
	}
	o.Duration = 10 * time.Second // a bound: runUntil ends the load once all are bound
	gauge := &registeredGauge{}
	o.Observers, o.SnapshotEvery = []engine.Observer{gauge}, 200*time.Millisecond
	var bound, aors, kamContacts int
	var missing []string
	res := runUntil(t, o, func() bool {
		if bound, aors = reg.Loc.Count(time.Now()); bound < proxyNAPs || gauge.n.Load() < proxyNAPs {
			return false
		}
		kamContacts = k.contacts()
		for _, i := range []int{1, 2, 500, 999, 1000} {
			aor := fmt.Sprintf("nap%06d@%s", i, proxyDomain)
			if len(reg.Loc.Bindings(aor, time.Now())) != 1 {
				missing = append(missing, aor)
			}
		}
		return true
	})
	s := res.Summary
	left, _ := reg.Loc.Count(time.Now())
	st := srv.Stats()
	uas, relayed2xx, relayed4xx := k.stat("tmx", "UAS_transactions"), k.stat("tmx", "2xx_transactions"), k.stat("tmx", "4xx_transactions")
	kamLeft := k.contacts()
	got := tp.seen()
	t.Logf("%s: registered %d in %.2fs, requests %d, 401s %d, 200s %d, timeouts %d, retransmissions %d; registrar bound %d, then %d: requests %d, challenges %d, registered %d, unregistered %d; Kamailio tm: UAS transactions %d, 2xx %d, 4xx %d, usrloc %d then %d; at the registrar: %d requests, %d with the Path (%s), %d with a Route, %d to sip:%s",
		s.Transport, s.Registered, *orZero(s.TimeToAllRegisterS), s.Requests, s.Responses["401"], s.Responses["200"], s.Timeouts, s.Retransmissions,
		bound, left, st.Requests, st.Challenges, st.Registered, st.Unregistered, uas, relayed2xx, relayed4xx, kamContacts, kamLeft,
		got.requests, got.withPath, got.path, got.withRoute, got.toDomain, proxyDomain)

	if s.Registered != proxyNAPs || bound != proxyNAPs || aors != proxyNAPs || len(missing) > 0 {
		t.Fatalf("registered: regstorm says %d, the registrar held %d bindings at %d AORs, want %d; AORs not bound there: %v", s.Registered, bound, aors, proxyNAPs, missing)
	}
	if s.Unregistered != proxyNAPs || left != 0 || st.Unregistered != proxyNAPs {
		t.Errorf("after the drain: regstorm unregistered %d, the registrar unregistered %d and still holds %d bindings", s.Unregistered, st.Unregistered, left)
	}
	if r := refusals(s.Responses); r != 0 || s.Timeouts != 0 || s.ConnectFailures != 0 || s.ConnectionsLost != 0 || s.SendFailures != 0 {
		t.Errorf("refusals %d (%v), timeouts %d, connect failures %d, connections lost %d, send failures %d: want none",
			r, s.Responses, s.Timeouts, s.ConnectFailures, s.ConnectionsLost, s.SendFailures)
	}
	// The digest round trip went through the proxy: the registrar
	// challenged every NAP and regstorm saw the 401s.
	if st.Challenges < proxyNAPs || s.AuthChallenges < proxyNAPs || st.AuthFailures != 0 {
		t.Errorf("registrar challenges %d (auth failures %d), regstorm's auth challenges %d: want every NAP challenged", st.Challenges, st.AuthFailures, s.AuthChallenges)
	}
	// What reached the registrar came through Kamailio: the Route naming
	// Kamailio consumed, its Path added, the Request-URI untouched.
	if got.requests != int(st.Requests) || got.requests < 2*proxyNAPs+proxyNAPs { // REGISTER+401+REGISTER, un-REGISTER
		t.Errorf("the tap passed %d requests, the registrar counted %d, want at least %d", got.requests, st.Requests, 3*proxyNAPs)
	}
	wantPath := fmt.Sprintf("<sip:127.0.0.1:%d", k.port)
	if got.withPath != got.requests || !strings.HasPrefix(got.path, wantPath) || !strings.Contains(got.path, ";lr") {
		t.Errorf("%d of %d requests at the registrar with a Path naming Kamailio (%q), want all: %s", got.withPath, got.requests, wantPath, got.path)
	}
	if got.withRoute != 0 || got.toDomain != got.requests {
		t.Errorf("at the registrar: %d requests still with a Route, %d of %d to sip:%s", got.withRoute, got.toDomain, got.requests, proxyDomain)
	}
	// Kamailio relayed them statefully and saved nothing itself.
	if uas < got.requests || relayed2xx < 2*proxyNAPs || relayed4xx < proxyNAPs {
		t.Errorf("Kamailio's tm: %d UAS transactions, %d 2xx, %d 4xx; want at least %d, %d, %d", uas, relayed2xx, relayed4xx, got.requests, 2*proxyNAPs, proxyNAPs)
	}
	if kamContacts != 0 || kamLeft != 0 {
		t.Errorf("Kamailio's usrloc held %d contacts during the run, %d after: a proxy saves none", kamContacts, kamLeft)
	}
	checkCounts(t, res)
}

func TestKamailioProxyUDP1k(t *testing.T) { testKamailioProxy(t, sipwire.UDP) }
func TestKamailioProxyTCP1k(t *testing.T) { testKamailioProxy(t, sipwire.TCP) }

// The proxy only serves REGISTERs routed to it: without a Route, or with
// one naming another hop, Kamailio refuses them (403) and the registrar
// gets nothing. So every 200 above came through a Route naming Kamailio.
func TestKamailioProxyWantsItsRoute(t *testing.T) {
	reg := registrar.New(registrar.Config{})
	srv, err := registrar.Listen(reg, "127.0.0.1", 0, []string{"udp", "tcp"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	tp := startTap(t, srv.Addr)
	k := startKamailio(t, map[string]string{"KPROXY": "1", "KREGISTRAR": `"` + tp.addr + `"`})
	const n = 20
	for _, route := range []string{"", "<sip:127.0.0.1:9;lr>"} {
		o := options(fmt.Sprintf("127.0.0.1:%d", k.port), n, sipwire.UDP)
		o.Groups[0].Identity.Domain, o.Groups[0].Identity.RequestURI, o.Groups[0].Identity.Route = proxyDomain, "sip:"+proxyDomain, route
		o.Duration, o.Drain = time.Second, time.Second
		res, err := engine.Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if s := res.Summary; s.Registered != 0 || s.Responses["403"] != n {
			t.Errorf("Route %q: registered %d, responses %v; want %d 403s", route, s.Registered, s.Responses, n)
		}
	}
	if got, st := tp.seen(), srv.Stats(); got.requests != 0 || st.Requests != 0 {
		t.Errorf("the registrar got %d requests (the tap passed %d), want none", st.Requests, got.requests)
	}
}

// registeredGauge keeps regstorm's count of registered NAPs.
type registeredGauge struct{ n atomic.Int64 }

func (g *registeredGauge) Observe(s *engine.Snapshot) { g.n.Store(s.Totals.Registered) }
func (g *registeredGauge) Needs() engine.Needs        { return 0 }

// tap relays SIP between Kamailio and the registrar, UDP and TCP on one
// port, and keeps what each request that reached the registrar carried.
type tap struct {
	addr string
	mu   sync.Mutex
	got  tapSeen
}

type tapSeen struct {
	requests, withPath, withRoute, toDomain int
	path                                    string // one Path value
}

func (p *tap) seen() tapSeen {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.got
}

// note records one request on its way to the registrar.
func (p *tap) note(msg []byte) {
	head, _, _ := strings.Cut(string(msg), "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	if strings.HasPrefix(lines[0], "SIP/2.0 ") {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got.requests++
	if lines[0] == "REGISTER sip:"+proxyDomain+" SIP/2.0" {
		p.got.toDomain++
	}
	for _, l := range lines[1:] {
		name, v, _ := strings.Cut(l, ":")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "path":
			p.got.withPath++
			p.got.path = strings.TrimSpace(v)
		case "route":
			p.got.withRoute++
		}
	}
}

// startTap listens on a free loopback port (UDP and TCP) and relays to
// upstream (the registrar's host:port).
func startTap(t *testing.T, upstream string) *tap {
	t.Helper()
	port := freePort(t)
	p := &tap{addr: "127.0.0.1:" + strconv.Itoa(port)}
	ctx, cancel := context.WithCancel(context.Background())
	var closers []func() error
	var mu sync.Mutex
	closing := func(c interface{ Close() error }) {
		mu.Lock()
		closers = append(closers, c.Close)
		mu.Unlock()
	}
	t.Cleanup(func() {
		cancel()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range closers {
			_ = c()
		}
	})

	// UDP: one peer (Kamailio's socket), one upstream socket.
	pc, err := net.ListenPacket("udp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	closing(pc)
	up, err := net.Dial("udp", upstream)
	if err != nil {
		t.Fatal(err)
	}
	closing(up)
	for _, c := range []interface{ SetReadBuffer(int) error }{pc.(*net.UDPConn), up.(*net.UDPConn)} {
		_ = c.SetReadBuffer(4 << 20)
	}
	var peer sync.Map // "kamailio" → net.Addr
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			peer.Store("kamailio", from)
			p.note(buf[:n])
			_, _ = up.Write(buf[:n])
		}
	}()
	go func() {
		buf := make([]byte, 65535)
		for {
			n, err := up.Read(buf)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				continue // ICMP refusals while the registrar is not reading
			}
			if to, ok := peer.Load("kamailio"); ok {
				_, _ = pc.WriteTo(buf[:n], to.(net.Addr))
			}
		}
	}()

	// TCP: an upstream connection per connection Kamailio opens.
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	closing(ln)
	go func() {
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			closing(down)
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				down.Close()
				continue
			}
			closing(up)
			go func() { // answers: byte for byte
				_, _ = bufio.NewReader(up).WriteTo(down)
				down.Close()
			}()
			go func() { // requests: message by message
				sc := bufio.NewScanner(down)
				sc.Buffer(make([]byte, 64<<10), sipwire.MaxMessageSize)
				sc.Split(sipwire.SplitMessage)
				for sc.Scan() {
					p.note(sc.Bytes())
					if _, err := up.Write(sc.Bytes()); err != nil {
						break
					}
				}
				up.Close()
			}()
		}
	}()
	return p
}
