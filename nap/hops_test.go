package nap

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/digestfast"
	"github.com/regstorm/regstorm/sipwire"
)

// authHop is one element on the way that authenticates REGISTERs: a proxy
// (407, Proxy-Authorization, as Kamailio's proxy_authorize) or the
// registrar (401, Authorization), with its own realm. Each challenge
// carries a new nonce (name and a count); credentials are good when they
// verify and carry a nonce the hop issued.
type authHop struct {
	proxy  bool
	realm  string
	name   string // nonces are name1, name2 …
	issued int
	valid  map[string]bool
	refuse bool // credentials are refused with a plain challenge (a wrong password here)
}

func proxyHop(realm, name string) *authHop {
	return &authHop{proxy: true, realm: realm, name: name, valid: map[string]bool{}}
}

func registrarHop(name string) *authHop {
	return &authHop{realm: "example.com", name: name, valid: map[string]bool{}}
}

// check finds the credentials for the hop's realm and verifies them.
func (p *authHop) check(t *testing.T, req *sipwire.Msg) bool {
	vs := req.Authorization[:req.NumAuthorization]
	if p.proxy {
		vs = req.ProxyAuthorization[:req.NumProxyAuthorization]
	}
	for _, v := range vs {
		var cr digestfast.Credentials
		if err := digestfast.ParseCredentials(v, &cr); err != nil {
			t.Fatalf("credentials do not parse: %v\n%s", err, v)
		}
		if string(cr.Realm) != p.realm {
			continue
		}
		ha1, _ := digestfast.ComputeHA1(cr.Algorithm, []byte("nap000001"), cr.Realm, []byte("secret"))
		if !cr.Verify([]byte("REGISTER"), ha1.Bytes()) {
			t.Errorf("credentials do not verify: %s", v)
			return false
		}
		return p.valid[string(cr.Nonce)] && !p.refuse
	}
	return false
}

func (p *authHop) nonce() string {
	p.issued++
	n := p.name + strconv.Itoa(p.issued)
	p.valid[n] = true
	return n
}

func (p *authHop) challenge(req *sipwire.Msg) []reply {
	c := `Digest realm="` + p.realm + `", nonce="` + p.nonce() + `", qop="auth"`
	if p.proxy {
		return []reply{{rtt, response(req, 407, "Proxy Authentication Required", "Proxy-Authenticate: "+c)}}
	}
	return []reply{{rtt, response(req, 401, "Unauthorized", "WWW-Authenticate: "+c)}}
}

// hops passes a REGISTER through each hop in turn: the first whose check
// fails challenges it; one that passes them all gets a 200 with extra.
func hops(t *testing.T, extra func() []string, hs ...*authHop) func(h *harness, req *sipwire.Msg, s sent) []reply {
	return func(h *harness, req *sipwire.Msg, s sent) []reply {
		for _, p := range hs {
			if !p.check(t, req) {
				return p.challenge(req)
			}
		}
		more := []string{contactOf(req, 3600)}
		if extra != nil {
			more = append(more, extra()...)
		}
		return ok200(req, more...)
	}
}

// credentialsSent sums up a request's credentials: "P" and its nonce/nc
// for each Proxy-Authorization, then "W" for each Authorization.
func credentialsSent(t *testing.T, s sent) string {
	var out []string
	for _, v := range [2]struct {
		tag  string
		vals []string
	}{{"P", s.proxy}, {"W", s.www}} {
		for _, c := range v.vals {
			var cr digestfast.Credentials
			if err := digestfast.ParseCredentials([]byte(c), &cr); err != nil {
				t.Fatalf("credentials do not parse: %v\n%s", err, c)
			}
			out = append(out, v.tag+string(cr.Nonce)+"/"+strconv.Itoa(int(cr.NC)))
		}
	}
	return strings.Join(out, " ")
}

func checkCredentials(t *testing.T, h *harness, want ...string) {
	t.Helper()
	if len(h.sends) != len(want) {
		t.Fatalf("%d requests, want %d", len(h.sends), len(want))
	}
	for k, s := range h.sends {
		if got := credentialsSent(t, s); got != want[k] {
			t.Errorf("request %d at %v carries %q, want %q", k, s.at, got, want[k])
		}
	}
}

// A proxy that challenges with 407 in front of a registrar that challenges
// with 401 (and the other way round): the NAP keeps one auth state per
// header and realm. It keeps sending the credentials a hop accepted and
// adds those the next hop asks for (RFC 3261 §22.3). A refresh, with no
// nextnonce, starts without credentials and is challenged by both again.
func TestProxyAndRegistrarChallenge(t *testing.T) {
	for _, tc := range []struct {
		name      string
		proxyLast bool
		want      []string
	}{
		{"proxy-then-registrar", false, []string{"", "Pp1/1", "Pp1/2 Ww1/1", "", "Pp2/1", "Pp2/2 Ww2/1"}},
		{"registrar-then-proxy", true, []string{"", "Ww1/1", "Pp1/1 Ww1/2", "", "Ww2/1", "Pp2/1 Ww2/2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := []*authHop{proxyHop("proxy.example.com", "p"), registrarHop("w")}
			if tc.proxyLast {
				hs[0], hs[1] = hs[1], hs[0]
			}
			h := newHarness(t, DefaultConfig(), 1, hops(t, nil, hs...))
			h.start(0)
			h.run(1900 * time.Second)
			sameTimes(t, "REGISTERs", h.sendTimes(), ms(0, 0.02, 0.04, 1800.06, 1800.08, 1800.10))
			checkCredentials(t, h, tc.want...)
			if !h.naps[0].Registered() || h.counts[EvRefused] != 0 || h.counts[EvChallenged] != 4 || h.counts[EvRegistered] != 2 {
				t.Errorf("registered %v, refused %d, challenged %d, registrations %d", h.naps[0].Registered(), h.counts[EvRefused], h.counts[EvChallenged], h.counts[EvRegistered])
			}
			h.checkCounts()
		})
	}
}

// The second hop refusing the answer to its own challenge (no stale) is a
// refusal, whichever header: retry after 5 s, from the start. (The
// refusing hop's 401 or 407 carries a nonce of its own, w2 or p2, that
// the NAP does not use.)
func TestSecondHopRefusal(t *testing.T) {
	for _, tc := range []struct {
		name      string
		proxyLast bool
		code      int
		want      []string
	}{
		{"registrar-refuses", false, 401, []string{"", "Pp1/1", "Pp1/2 Ww1/1", "", "Pp2/1", "Pp2/2 Ww3/1"}},
		{"proxy-refuses", true, 407, []string{"", "Ww1/1", "Pp1/1 Ww1/2", "", "Ww2/1", "Pp3/1 Ww2/2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := []*authHop{proxyHop("proxy.example.com", "p"), registrarHop("w")}
			if tc.proxyLast {
				hs[0], hs[1] = hs[1], hs[0]
			}
			hs[1].refuse = true
			h := newHarness(t, DefaultConfig(), 1, hops(t, nil, hs...))
			h.start(0)
			h.run(5200 * time.Millisecond)
			sameTimes(t, "REGISTERs", h.sendTimes(), ms(0, 0.02, 0.04, 5.06, 5.08, 5.10))
			checkCredentials(t, h, tc.want...)
			refusals := 0
			for _, a := range h.actions {
				if a.Event == EvRefused {
					refusals++
					if a.Code != tc.code {
						t.Errorf("refused with %d, want %d", a.Code, tc.code)
					}
				}
			}
			if refusals != 2 || h.naps[0].Registered() {
				t.Errorf("refused %d, registered %v", refusals, h.naps[0].Registered())
			}
			h.checkCounts()
		})
	}
}

// A nextnonce is the registrar's: a refresh sends Authorization with it at
// once, but no Proxy-Authorization (the proxy gave no nextnonce), so the
// proxy challenges as usual; the NAP answers and keeps the Authorization.
func TestNextNonceBehindProxy(t *testing.T) {
	w := registrarHop("w")
	next := 0
	nextnonce := func() []string {
		next++
		n := "x" + strconv.Itoa(next)
		w.valid[n] = true
		return []string{`Authentication-Info: nextnonce="` + n + `", qop=auth`}
	}
	h := newHarness(t, DefaultConfig(), 1, hops(t, nextnonce, proxyHop("proxy.example.com", "p"), w))
	h.start(0)
	h.run(3700 * time.Second)
	sameTimes(t, "REGISTERs", h.sendTimes(), ms(0, 0.02, 0.04, 1800.06, 1800.08, 3600.10, 3600.12))
	checkCredentials(t, h, "", "Pp1/1", "Pp1/2 Ww1/1", "Wx1/1", "Pp2/1 Wx1/2", "Wx2/1", "Pp3/1 Wx2/2")
	if !h.naps[0].Registered() || h.counts[EvRefused] != 0 {
		t.Errorf("registered %v, refused %d", h.naps[0].Registered(), h.counts[EvRefused])
	}
	h.checkCounts()
}

// Two proxies with realms of their own, then the registrar: one
// Proxy-Authorization per realm (RFC 3261 §22.3), and the Authorization.
func TestTwoProxyRealms(t *testing.T) {
	h := newHarness(t, DefaultConfig(), 1, hops(t, nil, proxyHop("proxy1.example.com", "p"), proxyHop("proxy2.example.com", "q"), registrarHop("w")))
	h.start(0)
	h.run(time.Second)
	sameTimes(t, "REGISTERs", h.sendTimes(), ms(0, 0.02, 0.04, 0.06))
	checkCredentials(t, h, "", "Pp1/1", "Pp1/2 Pq1/1", "Pp1/3 Pq1/2 Ww1/1")
	if !h.naps[0].Registered() || h.counts[EvRefused] != 0 {
		t.Errorf("registered %v, refused %d", h.naps[0].Registered(), h.counts[EvRefused])
	}
	h.checkCounts()
}

// Challenges to reused nonces are answered at most twice per auth state
// in one attempt: a proxy and a registrar that each challenge any nonce
// count above 1 (without stale=true) cannot make a NAP loop without pause.
func TestRechallengesBounded(t *testing.T) {
	issued := 0
	nc := func(vals []string) uint32 {
		if len(vals) == 0 {
			return 0
		}
		var cr digestfast.Credentials
		if err := digestfast.ParseCredentials([]byte(vals[0]), &cr); err != nil {
			t.Fatal(err)
		}
		return cr.NC
	}
	h := newHarness(t, DefaultConfig(), 1, func(h *harness, req *sipwire.Msg, s sent) []reply {
		issued++
		c := `Digest realm="r", qop="auth", nonce="n` + strconv.Itoa(issued) + `"`
		if nc(s.proxy) != 1 {
			return []reply{{rtt, response(req, 407, "Proxy Authentication Required", "Proxy-Authenticate: "+c)}}
		}
		if nc(s.www) != 1 {
			return []reply{{rtt, response(req, 401, "Unauthorized", "WWW-Authenticate: "+c)}}
		}
		return ok200(req, contactOf(req, 3600))
	})
	h.start(0)
	h.run(5150 * time.Millisecond)
	// 407, 401, then each challenges the other's reused nonce: 407 at
	// 0.06, 401 at 0.08, 407 at 0.10, 401 at 0.12, and the third 407 to
	// a reused proxy nonce at 0.14 is a refusal.
	sameTimes(t, "REGISTERs", h.sendTimes(), ms(0, 0.02, 0.04, 0.06, 0.08, 0.10, 0.12, 5.14))
	checkCredentials(t, h, "", "Pn1/1", "Pn1/2 Wn2/1", "Pn3/1 Wn2/2", "Pn3/2 Wn4/1", "Pn5/1 Wn4/2", "Pn5/2 Wn6/1", "")
	if h.counts[EvRefused] != 1 || h.counts[EvRegistered] != 0 {
		t.Errorf("refused %d, registered %d", h.counts[EvRefused], h.counts[EvRegistered])
	}
	h.checkCounts()
}

// A registrar whose realm changed (reconfigured between refreshes): the
// new realm takes the auth state of the old one, which this attempt does
// not use; the NAP does not collect states, nor send stale realms.
func TestRealmChangeTakesOldState(t *testing.T) {
	w := registrarHop("w")
	through := hops(t, nil, w)
	h := newHarness(t, DefaultConfig(), 1, func(h *harness, req *sipwire.Msg, s sent) []reply {
		if h.now() > 1000*time.Second {
			w.realm = "example.org"
		}
		return through(h, req, s)
	})
	h.start(0)
	h.run(1900 * time.Second)
	sameTimes(t, "REGISTERs", h.sendTimes(), ms(0, 0.02, 1800.04, 1800.06))
	checkCredentials(t, h, "", "Ww1/1", "", "Ww2/1")
	states := 0
	for a := h.naps[0].auth; a != nil; a = a.next {
		states++
	}
	if cr := credentialsOf(t, h.sends[3]); string(cr.Realm) != "example.org" || states != 1 || !h.naps[0].Registered() {
		t.Errorf("realm %s, %d auth states, registered %v", cr.Realm, states, h.naps[0].Registered())
	}
}
