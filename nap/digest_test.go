package nap

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/digestfast"
	"github.com/regstorm/regstorm/sipwire"
)

// credentialsOf parses the Authorization value a NAP sent.
func credentialsOf(t *testing.T, s sent) digestfast.Credentials {
	t.Helper()
	var cr digestfast.Credentials
	if err := digestfast.ParseCredentials([]byte(s.auth), &cr); err != nil {
		t.Fatalf("credentials do not parse: %v\n%s", err, s.auth)
	}
	return cr
}

var hex128 = regexp.MustCompile(`^[0-9a-f]{32}$`)

// challengeLoseFirst challenges every REGISTER without credentials and
// loses the first copy of every REGISTER with them, so that each answer to
// a challenge is retransmitted once before its 200.
func challengeLoseFirst(h *harness, req *sipwire.Msg, s sent) []reply {
	if req.NumAuthorization == 0 {
		return []reply{{rtt, response(req, 401, "Unauthorized", `WWW-Authenticate: Digest realm="example.com", nonce="abc", qop="auth"`)}}
	}
	if s.kind == SendRequest {
		return nil
	}
	return ok200(req, contactOf(req, 3600))
}

// The cnonce is random (RFC 7616 §5.12, docs/design.md), not a counter: 128
// bits, different for every NAP and every challenge even when the nonce
// is the same, different from one run to the next, and repeated unchanged
// by a UDP retransmission.
func TestCNonceRandomPerNAPAndTransaction(t *testing.T) {
	run := func() map[uint32][]sent {
		h := newHarness(t, DefaultConfig(), 2, challengeLoseFirst)
		h.start(0)
		h.start(1)
		h.run(2000 * time.Second) // registration and first refresh, each 401 → REGISTER → retransmit → 200
		if !h.naps[0].Registered() || !h.naps[1].Registered() || h.counts[EvChallenged] != 4 {
			t.Fatalf("registered %v %v, challenged %d", h.naps[0].Registered(), h.naps[1].Registered(), h.counts[EvChallenged])
		}
		byNAP := map[uint32][]sent{}
		for _, s := range h.sends {
			if s.auth != "" {
				byNAP[s.nap] = append(byNAP[s.nap], s)
			}
		}
		return byNAP
	}
	first := run()
	seen := map[string]bool{}
	for i := uint32(0); i < 2; i++ {
		s := first[i]
		if len(s) != 4 {
			t.Fatalf("NAP %d sent %d requests with credentials, want 4 (2 transactions, each retransmitted once)", i, len(s))
		}
		for k := 0; k < 4; k += 2 {
			req, rt := s[k], s[k+1]
			if req.kind != SendRequest || rt.kind != SendRetransmit || !bytes.Equal(req.raw, rt.raw) {
				t.Errorf("NAP %d: the retransmission differs from its request:\n%s\n%s", i, req.raw, rt.raw)
			}
			cn := string(credentialsOf(t, req).CNonce)
			if !hex128.MatchString(cn) {
				t.Errorf("NAP %d: cnonce %q, want 32 hex digits from a random source", i, cn)
			}
			if seen[cn] {
				t.Errorf("NAP %d: cnonce %q used twice", i, cn)
			}
			seen[cn] = true
		}
	}
	// Another machine (another run) answers the same script with other
	// cnonces: nothing about them follows from the NAP or the count.
	second := run()
	for i := uint32(0); i < 2; i++ {
		if cn := string(credentialsOf(t, second[i][0]).CNonce); seen[cn] {
			t.Errorf("NAP %d: cnonce %q repeats one of the previous run", i, cn)
		}
	}
}

// A cnonce lives as long as its nonce: requests that reuse a nonce (nc 2,
// 3 …) keep it, so the session key of a -sess algorithm, taken from the
// first request after the challenge (RFC 7616 §3.4.2), stays the same; a
// new nonce (a challenge or a nextnonce) gets a new cnonce.
func TestCNonceKeptWhileNonceIs(t *testing.T) {
	h := newHarness(t, DefaultConfig(), 1, func(h *harness, req *sipwire.Msg, s sent) []reply {
		if req.NumAuthorization == 0 {
			return []reply{{rtt, response(req, 401, "Unauthorized", `WWW-Authenticate: Digest realm="r", nonce="n1", qop="auth", algorithm=MD5-sess`)}}
		}
		if bytes.Contains(req.Authorization[0], []byte(`nonce="n1"`)) {
			return ok200(req, contactOf(req, 3600), `Authentication-Info: nextnonce="n2", qop=auth`)
		}
		return ok200(req, contactOf(req, 3600))
	})
	h.start(0)
	h.run(3700 * time.Second)
	sameTimes(t, "nextnonce reused", h.sendTimes(), ms(0, 0.02, 1800.04, 3600.06))
	a, b, c := credentialsOf(t, h.sends[1]), credentialsOf(t, h.sends[2]), credentialsOf(t, h.sends[3])
	if string(b.Nonce) != "n2" || string(c.Nonce) != "n2" || b.NC != 1 || c.NC != 2 {
		t.Fatalf("nonces %s %s, counts %d %d", b.Nonce, c.Nonce, b.NC, c.NC)
	}
	if string(a.CNonce) == string(b.CNonce) {
		t.Errorf("new nonce, same cnonce %s", a.CNonce)
	}
	if string(b.CNonce) != string(c.CNonce) {
		t.Errorf("same nonce, cnonce changed: %s then %s", b.CNonce, c.CNonce)
	}
}

// authLoop drives NAP 0 through challenged refreshes with no allocation
// outside the machine: 401 → REGISTER with credentials → retransmission
// → 200 → refresh (without credentials, so challenged again).
type authLoop struct {
	m      *Machine
	n      NAP
	now    time.Duration
	r407   []byte // with behindProxy: a proxy's challenge before the 401
	r401   []byte
	r200   []byte
	resp   sipwire.Msg
	branch []byte
}

func newAuthLoop(cfg Config, behindProxy bool) *authLoop {
	l := &authLoop{m: NewMachine(cfg, benchDir{}), branch: make([]byte, 0, 32)}
	l.m.Start(0, &l.n, 0)
	var req sipwire.Msg
	_ = req.Parse(l.m.Out)
	l.r401 = response(&req, 401, "Unauthorized", `WWW-Authenticate: Digest realm="example.com", nonce="abc", qop="auth"`)
	if behindProxy {
		l.r407 = response(&req, 407, "Proxy Authentication Required", `Proxy-Authenticate: Digest realm="proxy.example.com", nonce="def", qop="auth"`)
	}
	l.r200 = response(&req, 200, "OK", contactOf(&req, 3600))
	return l
}

// answer delivers raw as the response to the current transaction.
func (l *authLoop) answer(raw []byte) Action {
	_ = l.resp.Parse(raw)
	l.branch = sipwire.AppendBranch(l.branch[:0], l.m.Salt, BranchID(0, l.n.Txn))
	l.resp.Via.Branch = l.branch
	l.resp.CSeq = l.n.CSeq
	l.now += rtt
	return l.m.OnResponse(0, &l.n, l.now, &l.resp)
}

func (l *authLoop) cycle() bool {
	if l.r407 != nil && l.answer(l.r407).Event != EvChallenged {
		return false
	}
	if l.answer(l.r401).Event != EvChallenged {
		return false
	}
	l.now = l.n.Due()
	if l.m.OnTimer(0, &l.n, l.now).Send != SendRetransmit {
		return false
	}
	if l.answer(l.r200).Event != EvRegistered {
		return false
	}
	l.now = l.n.Due()
	return l.m.OnTimer(0, &l.n, l.now).Send == SendRequest
}

// An authorized REGISTER (cnonce drawn, digest computed, request encoded)
// and its retransmission allocate nothing once the NAP has its authState.
// Behind a proxy that challenges too (407, then the registrar's 401, then
// both credentials), the same holds once the NAP has its two.
func TestAuthorizedRegisterAllocs(t *testing.T) {
	for _, behindProxy := range []bool{false, true} {
		l := newAuthLoop(DefaultConfig(), behindProxy)
		if !l.cycle() { // the first challenges allocate the authStates
			t.Fatal("challenged refresh cycle did not run")
		}
		ok := true
		if n := testing.AllocsPerRun(100, func() { ok = ok && l.cycle() }); n != 0 || !ok {
			t.Errorf("behind a proxy %v: challenged refresh allocates %v times (cycle ok: %v)", behindProxy, n, ok)
		}
	}
}

// BenchmarkChallengedRefresh is the machine's CPU per challenged refresh:
// 401 handled, REGISTER with credentials, one retransmission, 200, refresh.
func BenchmarkChallengedRefresh(b *testing.B) {
	l := newAuthLoop(DefaultConfig(), false)
	b.ReportAllocs()
	for b.Loop() {
		if !l.cycle() {
			b.Fatal("cycle")
		}
	}
}

// BenchmarkChallengedRefreshBehindProxy adds a proxy's 407 before the
// 401: three REGISTERs per refresh, the last with both credentials.
func BenchmarkChallengedRefreshBehindProxy(b *testing.B) {
	l := newAuthLoop(DefaultConfig(), true)
	b.ReportAllocs()
	for b.Loop() {
		if !l.cycle() {
			b.Fatal("cycle")
		}
	}
}

// Given several challenges, the NAP answers the topmost one it supports
// (RFC 8760 §2.4), or the strongest under Config.DigestChoice Strongest;
// the registrar verifies the answer against the challenge it names.
func TestChallengeChoice(t *testing.T) {
	const (
		md5     = `WWW-Authenticate: Digest realm="example.com", nonce="m", qop="auth", algorithm=MD5`
		sha     = `WWW-Authenticate: Digest realm="example.com", nonce="s", qop="auth", algorithm=SHA-256`
		sha512  = `WWW-Authenticate: Digest realm="example.com", nonce="x", qop="auth", algorithm=SHA-512-256`
		authInt = `WWW-Authenticate: Digest realm="example.com", nonce="i", qop="auth-int", algorithm=SHA-256`
	)
	if DefaultConfig().DigestChoice != digestfast.First {
		t.Errorf("default choice %v, want first", DefaultConfig().DigestChoice)
	}
	for _, tc := range []struct {
		by         digestfast.Choice
		challenges []string
		alg        digestfast.Algorithm
		nonce      string
	}{
		{digestfast.First, []string{md5, sha}, digestfast.MD5, "m"},
		{digestfast.Strongest, []string{md5, sha}, digestfast.SHA256, "s"},
		{digestfast.First, []string{sha512, md5, sha}, digestfast.MD5, "m"},     // an unsupported topmost one is skipped
		{digestfast.First, []string{authInt, sha, md5}, digestfast.SHA256, "s"}, // so is one offering only auth-int
		{digestfast.Strongest, []string{sha512, md5}, digestfast.MD5, "m"},
	} {
		cfg := DefaultConfig()
		cfg.DigestChoice = tc.by
		var answered string
		h := newHarness(t, cfg, 1, func(h *harness, req *sipwire.Msg, s sent) []reply {
			if req.NumAuthorization == 0 {
				return []reply{{rtt, response(req, 401, "Unauthorized", tc.challenges...)}}
			}
			answered = s.auth
			cr := credentialsOf(t, s)
			ha1, _ := digestfast.ComputeHA1(cr.Algorithm, []byte("nap000001"), []byte("example.com"), []byte("secret"))
			if cr.Algorithm != tc.alg || string(cr.Nonce) != tc.nonce || !cr.Verify([]byte("REGISTER"), ha1.Bytes()) {
				return []reply{{rtt, response(req, 403, "Forbidden")}}
			}
			return ok200(req, contactOf(req, 3600))
		})
		h.start(0)
		h.run(time.Second)
		if !h.naps[0].Registered() {
			t.Errorf("%v of %d challenges: answered %s, want %v with nonce %q", tc.by, len(tc.challenges), answered, tc.alg, tc.nonce)
		}
	}
}

// restartingRegistrar challenges with nonce n1 and answers credentials
// with it by a 200 carrying nextnonce n2, until it restarts at 1000 s.
// Then it knows only its new nonce n3: credentials with another nonce get
// a plain 401 (no stale=true: it cannot tell an old nonce of its own from
// a forged one); with refuseAll, every credentials do (a password changed).
func restartingRegistrar(t *testing.T, refuseAll bool) func(h *harness, req *sipwire.Msg, s sent) []reply {
	return func(h *harness, req *sipwire.Msg, s sent) []reply {
		nonces := []string{"n1", "n2"}
		if h.now() > 1000*time.Second {
			nonces = []string{"n3"}
		}
		challenge := []reply{{rtt, response(req, 401, "Unauthorized", `WWW-Authenticate: Digest realm="example.com", nonce="`+nonces[0]+`", qop="auth"`)}}
		if req.NumAuthorization == 0 || refuseAll && nonces[0] == "n3" {
			return challenge
		}
		cr := credentialsOf(t, s)
		ha1, _ := digestfast.ComputeHA1(cr.Algorithm, []byte("nap000001"), []byte("example.com"), []byte("secret"))
		if !cr.Verify([]byte("REGISTER"), ha1.Bytes()) {
			t.Errorf("credentials do not verify: %s", s.auth)
		}
		for _, n := range nonces {
			if string(cr.Nonce) == n {
				if n == "n1" {
					return ok200(req, contactOf(req, 3600), `Authentication-Info: nextnonce="n2", qop=auth`)
				}
				return ok200(req, contactOf(req, 3600))
			}
		}
		return challenge
	}
}

// nonceOf is the nonce of the credentials a request carried, "" for none.
func nonceOf(t *testing.T, s sent) string {
	if s.auth == "" {
		return ""
	}
	return string(credentialsOf(t, s).Nonce)
}

func sentNonces(t *testing.T, h *harness) []string {
	var out []string
	for _, s := range h.sends {
		out = append(out, nonceOf(t, s))
	}
	return out
}

// A 401 to credentials sent preemptively with a nextnonce (the registrar
// restarted, or let the nonce expire, and says so without stale=true) is
// a new challenge: the NAP answers it once, with its nonce. The next
// refresh, with no nextnonce to use, goes without credentials and is
// challenged as usual.
func TestRefusedNextNonceIsNewChallenge(t *testing.T) {
	h := newHarness(t, DefaultConfig(), 1, restartingRegistrar(t, false))
	h.start(0)
	h.run(3700 * time.Second)
	sameTimes(t, "nextnonce refused", h.sendTimes(), ms(0, 0.02, 1800.04, 1800.06, 3600.08, 3600.10))
	if got, want := strings.Join(sentNonces(t, h), ","), ",n1,n2,n3,,n3"; got != want {
		t.Errorf("nonces sent %s, want %s", got, want)
	}
	if h.counts[EvRefused] != 0 || h.counts[EvRegistered] != 3 || !h.naps[0].Registered() {
		t.Errorf("refused %d, registered %d times, registered %v", h.counts[EvRefused], h.counts[EvRegistered], h.naps[0].Registered())
	}
	if cr := credentialsOf(t, h.sends[3]); cr.NC != 1 {
		t.Errorf("answer to the new challenge with nc %d, want 1", cr.NC)
	}
	h.checkCounts()
}

// Only a 401 to the answer of that new challenge is a refusal. The retry
// after it starts without credentials: the refused nonce is never sent
// again.
func TestRefusedNextNonceNotResent(t *testing.T) {
	h := newHarness(t, DefaultConfig(), 1, restartingRegistrar(t, true))
	h.start(0)
	h.run(1811 * time.Second)
	sameTimes(t, "credentials refused after a restart", h.sendTimes(), ms(0, 0.02, 1800.04, 1800.06, 1805.08, 1805.10, 1810.12, 1810.14))
	if got, want := strings.Join(sentNonces(t, h), ","), ",n1,n2,n3,,n3,,n3"; got != want {
		t.Errorf("nonces sent %s, want %s", got, want)
	}
	if h.counts[EvRefused] != 3 || h.naps[0].Registered() {
		t.Errorf("refused %d, registered %v", h.counts[EvRefused], h.naps[0].Registered())
	}
	h.checkCounts()
}
