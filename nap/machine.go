package nap

import (
	"strconv"
	"time"

	"github.com/regstorm/regstorm/digestfast"
	"github.com/regstorm/regstorm/sipwire"
)

// authState is what a NAP keeps between a challenge and the requests that
// answer it: the challenge's parameters (copied out of the receive buffer),
// the nonce count and the cnonce, so that retransmissions are
// byte-identical and a refresh can reuse a nextnonce; and what the
// current attempt did with them, to tell a new challenge from a refusal.
//
// A NAP keeps one per header and realm it was challenged for (RFC 3261
// §22.3), in a list: a proxy's 407 and the registrar's 401 each have
// their own nonce, count, stale and nextnonce. The first challenge
// allocates the first; a second is allocated only when another header
// or realm challenges, so a NAP behind a single challenger pays for one.
type authState struct {
	next       *authState // the NAP's next auth state (maxAuthStates at most)
	buf        []byte     // realm | opaque | nonce: the nonce last, so a nextnonce replaces it in place
	realmEnd   uint16
	opaqueEnd  uint16
	alg        digestfast.Algorithm
	qop        bool
	proxy      bool  // answer with Proxy-Authorization (407)
	preemptive bool  // the nonce came as a nextnonce: send credentials on a new attempt
	use        bool  // send credentials in every request of this attempt
	sent       bool  // the current transaction carries them
	fresh      bool  // … as the first answer to a challenge (not a reused nonce)
	again      uint8 // re-challenges in this attempt (maxRechallenges)
	nc         uint32
	cnonce     digestfast.CNonce // drawn for the first request with each nonce
	ha1        digestfast.HA1Cache
}

func (a *authState) realm() []byte  { return a.buf[:a.realmEnd] }
func (a *authState) opaque() []byte { return a.buf[a.realmEnd:a.opaqueEnd] }
func (a *authState) nonce() []byte  { return a.buf[a.opaqueEnd:] }

func (a *authState) set(c *digestfast.Challenge, proxy bool) {
	a.buf = append(a.buf[:0], c.Realm...)
	a.realmEnd = uint16(len(a.buf))
	a.buf = append(a.buf, c.Opaque...)
	a.opaqueEnd = uint16(len(a.buf))
	a.buf = append(a.buf, c.Nonce...)
	a.alg, a.qop, a.proxy = c.Algorithm, c.QopAuth, proxy
	a.nc = 0
	a.preemptive = false // a challenged nonce is used in this attempt only
}

// maxAuthStates bounds a NAP's auth states: a chain of proxies with
// realms of their own, and the registrar.
const maxAuthStates = 4

// authFor finds NAP n's auth state for a challenge in header proxy (407)
// and realm, or one of the same header not used in this attempt (the
// realm changed), or allocates one. nil: the NAP has maxAuthStates.
func authFor(n *NAP, proxy bool, realm []byte) *authState {
	var idle, last *authState
	count := 0
	for a := n.auth; a != nil; a = a.next {
		if a.proxy == proxy {
			if string(a.realm()) == string(realm) {
				return a
			}
			if !a.use && idle == nil {
				idle = a
			}
		}
		last = a
		count++
	}
	if idle != nil {
		return idle
	}
	if count >= maxAuthStates {
		return nil
	}
	a := &authState{}
	if last == nil {
		n.auth = a
	} else {
		last.next = a
	}
	return a
}

// setNonce replaces the nonce (Authentication-Info nextnonce); the count
// starts again.
func (a *authState) setNonce(nonce []byte) {
	a.buf = append(a.buf[:a.opaqueEnd], nonce...)
	a.nc = 0
}

var methodRegister = []byte("REGISTER")

// Machine runs the NAP state machine for the NAPs of one event loop. It
// owns the scratch buffers, so one Machine must not be shared between
// goroutines. After an Action with SendRequest or SendRetransmit, Out holds
// the request until the next call.
type Machine struct {
	Cfg Config
	Dir Directory
	Out []byte
	// Salt goes into every branch next to the NAP's index and transaction
	// (sipwire.AppendBranch); a response with another salt is not ours.
	Salt uint64

	reg     sipwire.Register
	authBuf []byte
	ruri    []byte
	contact []byte
	cnonce  []byte
	ch      digestfast.Challenge
	cnonces *digestfast.CNonceSource
	callID  []byte // a rebooted NAP's Call-ID and tag
	tag     []byte
}

// NewMachine makes a machine with its scratch buffers.
func NewMachine(cfg Config, dir Directory) *Machine {
	return &Machine{
		Cfg: cfg, Dir: dir,
		Out: make([]byte, 0, 2048), authBuf: make([]byte, 0, 1024),
		ruri: make([]byte, 0, 256), contact: make([]byte, 0, 256), cnonce: make([]byte, 0, 32),
		cnonces: digestfast.NewCNonceSource(),
	}
}

// The entry points below record the deadline they hand back, so an event
// that changes nothing (a stale response, say) can return it unchanged.

// Start begins registering NAP i (start, or configuration applied).
func (m *Machine) Start(i uint32, n *NAP, now time.Duration) Action {
	return n.record(m.start(i, n, now))
}

// OnConnected: the TCP connection for NAP i is up.
func (m *Machine) OnConnected(i uint32, n *NAP, now time.Duration) Action {
	return n.record(m.onConnected(i, n, now))
}

// OnConnectFailed: TCP connect refused or timed out: retry after Retry.
func (m *Machine) OnConnectFailed(i uint32, n *NAP, now time.Duration) Action {
	return n.record(m.onConnectFailed(i, n, now))
}

// OnClosed: the TCP connection carrying NAP i was lost. A registered NAP
// stays registered; it reconnects and re-registers no sooner than Retry
// after its last REGISTER (a failed reconnect then waits Retry).
func (m *Machine) OnClosed(i uint32, n *NAP, now time.Duration) Action {
	return n.record(m.onClosed(i, n, now))
}

// OnFlowFailed: a keep-alive found NAP i's flow dead (UDP: streams drop
// the connection instead). A registered NAP registers again at once.
func (m *Machine) OnFlowFailed(i uint32, n *NAP, now time.Duration) Action {
	if n.State != Registered {
		return Action{Wake: n.due}
	}
	n.regStart = now
	a := m.begin(i, n, now, false, false)
	a.Event = EvRefresh
	return n.record(a)
}

// Refresh makes NAP i send now the REGISTER its timer would send later: a
// registered NAP's refresh (same Call-ID, CSeq+1), or the retry of one
// whose last REGISTER failed. ok is false, and nothing changes, for a NAP
// in any other state (a transaction in flight, stopping, stopped): a
// capacity search's refresh trial asks for refreshes at its own pace.
func (m *Machine) Refresh(i uint32, n *NAP, now time.Duration) (a Action, ok bool) {
	if n.State != Registered && (n.State != RetryWait || n.flags&fUnreg != 0) {
		return Action{Wake: n.due}, false
	}
	return n.record(m.onTimer(i, n, now)), true
}

// Stop un-registers NAP i if it is registered (Expires: 0), else stops it.
func (m *Machine) Stop(i uint32, n *NAP, now time.Duration) Action {
	return n.record(m.stop(i, n, now))
}

// OnTimer handles NAP i's timer (set from Action.Wake) firing at now.
func (m *Machine) OnTimer(i uint32, n *NAP, now time.Duration) Action {
	return n.record(m.onTimer(i, n, now))
}

// OnResponse handles a parsed response routed to NAP i by its branch.
func (m *Machine) OnResponse(i uint32, n *NAP, now time.Duration, r *sipwire.Msg) Action {
	return n.record(m.onResponse(i, n, now, r))
}

func (n *NAP) record(a Action) Action {
	n.due = a.Wake
	return a
}

// Due is the deadline of the NAP's pending timer (0: none).
func (n *NAP) Due() time.Duration { return n.due }

// StartAt begins registering NAP i at at (an initial delay); at once
// when at is not later than now.
func (m *Machine) StartAt(i uint32, n *NAP, now, at time.Duration) Action {
	if at <= now {
		return n.record(m.start(i, n, now))
	}
	n.State = Delayed
	return n.record(Action{Wake: at})
}

// Reboot makes NAP i lose everything and register from scratch at once,
// as a device that restarts does: no un-REGISTER first, a new Call-ID and
// tag, CSeq from 1, no credentials; its binding at the registrar stays
// until it expires or the new one replaces it. A transaction in flight is
// abandoned.
func (m *Machine) Reboot(i uint32, n *NAP, now time.Duration) Action {
	inFlight := n.State == Trying || n.State == Proceeding || n.State == Unregistering
	delta := m.clearRegistered(n)
	n.flags &= fConnected // a stream's owner drops the connection first
	n.auth, n.CSeq, n.Expires = nil, 0, 0
	n.Boots++
	a := m.start(i, n, now)
	a.RegisteredDelta += delta
	a.Abandoned = inFlight
	return n.record(a)
}

// Vanish takes NAP i off the network without a word (churn: a device
// unplugged): no un-REGISTER; its binding stays until it expires. A
// transaction in flight is abandoned.
func (m *Machine) Vanish(i uint32, n *NAP, now time.Duration) Action {
	inFlight := n.State == Trying || n.State == Proceeding || n.State == Unregistering
	a := Action{Event: EvStopped, RegisteredDelta: m.clearRegistered(n), Abandoned: inFlight}
	n.State = Stopped
	n.flags &^= fUnreg
	return n.record(a)
}

// SetConfig applies a new configuration (a reload) to the NAPs of this
// machine: each asks for the new Expires, less its own jitter, at its next
// REGISTER (a 423 may raise it again); new timers apply to the next
// transaction.
func (m *Machine) SetConfig(cfg Config, naps []NAP) {
	m.Cfg = cfg
	for i := range naps {
		naps[i].Expires = m.expires(uint32(i))
	}
}

// expires is what NAP i asks for first: Expires, less its jitter.
func (m *Machine) expires(i uint32) uint32 {
	e := m.Cfg.Expires
	if j := m.Cfg.ExpiresJitter; j > 0 {
		h := (uint64(i) + m.Salt) * 0x9E3779B97F4A7C15 // the NAP's own, fixed for the run
		e -= min(uint32(h>>32)%(j+1), e-1)
	}
	return e
}

func (m *Machine) start(i uint32, n *NAP, now time.Duration) Action {
	if n.Expires == 0 {
		n.Expires = m.expires(i)
	}
	n.regStart = now
	if m.Cfg.Transport.Stream() && n.flags&fConnected == 0 {
		n.State = Connecting
		return Action{Send: SendConnect, Event: EvStarted}
	}
	a := m.begin(i, n, now, false, false)
	a.Event = EvStarted
	return a
}

func (m *Machine) onConnected(i uint32, n *NAP, now time.Duration) Action {
	n.flags |= fConnected
	if n.State != Connecting {
		return Action{Wake: n.due}
	}
	a := m.begin(i, n, now, n.flags&fUnreg != 0, false)
	a.Event = EvRefresh
	return a
}

func (m *Machine) onConnectFailed(i uint32, n *NAP, now time.Duration) Action {
	n.flags &^= fConnected
	if n.State == Stopped || n.flags&fUnreg != 0 {
		return m.halt(n)
	}
	a := Action{Event: EvConnectFailed, RegisteredDelta: m.clearRegistered(n)}
	n.State = ConnectWait
	a.Wake = now + m.Cfg.Retry
	return a
}

func (m *Machine) onClosed(i uint32, n *NAP, now time.Duration) Action {
	n.flags &^= fConnected
	switch n.State {
	case Stopped, Idle, ConnectWait, Connecting, Delayed:
		return Action{Wake: n.due}
	case Unregistering:
		// The un-REGISTER was lost with its connection, as one sent behind
		// a REGISTER still open at the stop is at a registrar that closes
		// after each answer: connect again and send it once more, so that
		// the stop leaves no binding behind. Lost again, the NAP stops.
		if n.flags&fUnregAgain == 0 {
			n.flags |= fUnregAgain
			n.State = Connecting
			return Action{Event: EvConnLost, Abandoned: true, Send: SendConnect}
		}
		a := m.halt(n)
		a.Abandoned = true
		return a
	case RetryWait:
		// Waiting anyway: the timer reconnects when the wait is over.
		return Action{Event: EvConnLost, Wake: n.due}
	}
	// Registered, or a REGISTER in flight (lost with the connection). The
	// binding outlives its connection: a registered NAP stays registered,
	// reconnects and re-registers, but never sooner than Retry after its
	// last REGISTER, so a registrar that closes after every answer sees one
	// REGISTER per Retry, not a reconnect storm.
	a := Action{Event: EvConnLost, Abandoned: n.State == Trying || n.State == Proceeding}
	at := max(now, n.sentAt+m.Cfg.Retry)
	if n.State == Registered {
		at = min(at, n.due) // the refresh was due sooner anyway
	}
	if at > now {
		n.State = RetryWait
		if n.flags&fRegistered != 0 {
			n.State = Registered
		}
		a.Wake = at
		return a
	}
	a.Send = SendConnect
	n.State = Connecting
	n.regStart = now
	return a
}

func (m *Machine) stop(i uint32, n *NAP, now time.Duration) Action {
	// A REGISTER still in flight may yet create a binding: un-REGISTER then
	// too (harmless when none exists), so a stop leaves nothing behind.
	inFlight := (n.State == Trying || n.State == Proceeding) && n.flags&fUnreg == 0
	if (n.flags&fRegistered == 0 && !inFlight) || n.State == Stopped {
		return m.halt(n)
	}
	n.regStart = now
	if m.Cfg.Transport.Stream() && n.flags&fConnected == 0 {
		n.flags |= fUnreg
		if n.State == Connecting {
			// A connect is under way: un-REGISTER on it (onConnected), or
			// stop if it fails. A second one would race it from another
			// port, and its Contact is not the one bound.
			return Action{Wake: n.due}
		}
		n.State = Connecting
		return Action{Send: SendConnect}
	}
	a := m.begin(i, n, now, true, false)
	a.Abandoned = inFlight // the REGISTER's answer will be stale
	return a
}

func (m *Machine) halt(n *NAP) Action {
	a := Action{Event: EvStopped, RegisteredDelta: m.clearRegistered(n)}
	n.State = Stopped
	n.flags &^= fUnreg | fUnregAgain
	return a
}

func (m *Machine) clearRegistered(n *NAP) int8 {
	if n.flags&fRegistered != 0 {
		n.flags &^= fRegistered
		return -1
	}
	return 0
}

func (m *Machine) onTimer(i uint32, n *NAP, now time.Duration) Action {
	switch n.State {
	case Trying, Proceeding, Unregistering:
		if now >= n.timerF {
			return m.timeout(n, now)
		}
		if m.Cfg.Transport == sipwire.UDP && now >= n.nextRT {
			m.encode(i, n, n.flags&fUnreg != 0)
			// From the due time, not from now: a timer that fires late must
			// not push every later retransmission (and Timer F's race
			// with the last one) by its lateness. Timer E doubles up to T2
			// in Trying; once a 1xx came (Proceeding) it is reset to T2
			// each time it fires (RFC 3261 §17.1.2.2).
			if n.flags&fProceeding != 0 {
				n.rtEvery = m.Cfg.T2
			} else {
				n.rtEvery = min(2*n.rtEvery, m.Cfg.T2)
			}
			n.nextRT += n.rtEvery
			return Action{Send: SendRetransmit, Event: EvRetransmit, Wake: m.wake(n)}
		}
		return Action{Wake: m.wake(n)}
	case Registered, RetryWait:
		unreg := n.flags&fUnreg != 0 // an un-REGISTER that failed, sent again
		if !unreg {
			n.regStart = now // a refresh or retry is a new attempt for the registration histogram
		}
		if m.Cfg.Transport.Stream() && n.flags&fConnected == 0 {
			n.State = Connecting
			return Action{Send: SendConnect, Event: EvRefresh}
		}
		a := m.begin(i, n, now, unreg, false)
		a.Event = EvRefresh
		return a
	case ConnectWait:
		n.State = Connecting
		return Action{Send: SendConnect}
	case Delayed:
		return m.start(i, n, now)
	}
	return Action{}
}

func (m *Machine) timeout(n *NAP, now time.Duration) Action {
	if n.flags&fUnreg != 0 {
		if at := n.timerF + m.Cfg.Retry; m.unregAgain(n, 0, at) {
			return Action{Event: EvTimeout, Unregister: true, Wake: at}
		}
		a := m.halt(n)
		a.Event, a.Unregister = EvTimeout, true
		return a
	}
	n.State = RetryWait
	// Timer F's due time + Retry: the seed's 32 + 5 s cycle, however late
	// the timer fired.
	return Action{Event: EvTimeout, Wake: n.timerF + m.Cfg.Retry, RegisteredDelta: m.clearRegistered(n)}
}

// unregAgain: an un-REGISTER refused (code) or ended by Timer F (0) is
// sent again at at, as long as the binding it is to remove may still live
// then (it was granted at most Expires before the stop began): a stop
// leaves nothing behind that it can remove. The run's end (--drain)
// bounds it too. It reports false when the binding is gone by then.
func (m *Machine) unregAgain(n *NAP, code int, at time.Duration) bool {
	if at >= n.regStart+time.Duration(n.Expires)*time.Second {
		return false
	}
	n.State = RetryWait
	n.lastCode = uint16(code)
	return true
}

// refuse ends an attempt with a final failure: retry after Retry, forever.
func (m *Machine) refuse(n *NAP, now time.Duration, code int) Action {
	return m.refuseAfter(n, now, code, 0)
}

// refuseAfter is refuse for an answer that said when to come back
// (Retry-After, 0: none), which an un-REGISTER heeds; a REGISTER retries
// after Retry whatever it says, as the gateway does.
func (m *Machine) refuseAfter(n *NAP, now time.Duration, code int, retryAfter time.Duration) Action {
	a := Action{Event: EvRefused, Code: code, Latency: now - n.sentAt}
	if n.flags&fUnreg != 0 {
		at := now + m.Cfg.Retry
		if retryAfter > 0 {
			at = now + retryAfter
		}
		if m.unregAgain(n, code, at) {
			a.Event, a.Wake = EvUnregRefused, at
			return a
		}
		s := m.halt(n)
		a.Event, a.RegisteredDelta = EvStopped, s.RegisteredDelta
		return a
	}
	a.RegisteredDelta = m.clearRegistered(n)
	n.State = RetryWait
	a.Wake = now + m.Cfg.Retry
	return a
}

func (m *Machine) onResponse(i uint32, n *NAP, now time.Duration, r *sipwire.Msg) Action {
	salt, id, ok := sipwire.ParseBranch(r.Via.Branch)
	ri, txn := SplitBranchID(id)
	if !ok || salt != m.Salt || ri != i {
		return Action{Event: EvStale, Code: r.StatusCode, Wake: n.due}
	}
	return m.onResponseTxn(i, txn, n, now, r)
}

// onResponseTxn handles a response whose branch named NAP i's
// transaction txn (already parsed and checked for the salt).
func (m *Machine) onResponseTxn(i, txn uint32, n *NAP, now time.Duration, r *sipwire.Msg) Action {
	if txn != n.Txn || r.CSeq != n.CSeq || !sipwire.EqualFold(r.CSeqMethod, "register") ||
		(n.State != Trying && n.State != Proceeding && n.State != Unregistering) {
		return Action{Event: EvStale, Code: r.StatusCode, Wake: n.due}
	}
	unreg := n.flags&fUnreg != 0
	a := m.final(i, n, now, r)
	a.Unregister = unreg
	return a
}

// final handles a response to the NAP's current transaction.
func (m *Machine) final(i uint32, n *NAP, now time.Duration, r *sipwire.Msg) Action {
	code := r.StatusCode
	switch {
	case code < 200:
		// Proceeding, for a REGISTER and an un-REGISTER alike: the
		// retransmissions go on at T2 (UDP) and Timer F runs. Timer E
		// keeps its due time: the 1xx does not reset it.
		n.flags |= fProceeding
		if n.State == Trying {
			n.State = Proceeding
		}
		return Action{Event: EvProvisional, Code: code, Wake: m.wake(n)}
	case code < 300:
		return m.success(i, n, now, r)
	case code == 401 || code == 407:
		return m.challenged(i, n, now, r)
	case code == 423:
		if r.MinExpires > int64(n.Expires) && n.flags&fUnreg == 0 {
			lat := now - n.sentAt
			n.Expires = uint32(r.MinExpires)
			a := m.begin(i, n, now, false, false) // a new attempt, as far as credentials go
			a.Event, a.Code, a.Latency = EvMinExpires, code, lat
			return a
		}
	}
	var retryAfter time.Duration
	if r.RetryAfter > 0 {
		retryAfter = time.Duration(r.RetryAfter) * time.Second
	}
	return m.refuseAfter(n, now, code, retryAfter)
}

func (m *Machine) success(i uint32, n *NAP, now time.Duration, r *sipwire.Msg) Action {
	a := Action{Code: r.StatusCode, Latency: now - n.sentAt}
	if n.flags&fUnreg != 0 {
		s := m.halt(n)
		a.Event, a.RegisteredDelta = EvUnregistered, s.RegisteredDelta
		return a
	}
	m.Dir.Identity(i, &m.reg)
	m.reg.Transport = m.Cfg.Transport
	m.contact = sipwire.AppendContactURI(m.contact[:0], &m.reg, false)
	granted, src := r.GrantedExpires(m.contact)
	if src == sipwire.ExpiresNone || granted > int64(n.Expires) {
		granted = int64(n.Expires) // half of the minimum negotiated
	}
	if granted == 0 {
		return m.refuse(n, now, r.StatusCode) // a binding granted for 0 s is no registration
	}
	if m.Cfg.RequireBinding && !r.HasBinding(m.contact) {
		a := m.refuse(n, now, r.StatusCode)
		a.Event = EvNoBinding
		return a
	}
	if r.AuthenticationInfo != nil {
		m.nextNonce(n, r.AuthenticationInfo)
	}
	n.Granted = uint32(granted)
	n.State = Registered
	a.Event = EvRegistered
	a.RegLatency = now - n.regStart
	if n.flags&fRegistered == 0 {
		n.flags |= fRegistered
		a.RegisteredDelta = 1
	}
	a.Wake = now + time.Duration(granted)*time.Second/2
	return a
}

// nextNonce takes the nextnonce of an Authentication-Info for the next
// attempt's credentials. The header is the registrar's: it goes to the
// Authorization the request carried (the last one, if several realms),
// else to a Proxy-Authorization (a registrar that challenges with 407).
func (m *Machine) nextNonce(n *NAP, v []byte) {
	var to *authState
	for a := n.auth; a != nil; a = a.next {
		if a.sent && (to == nil || to.proxy || !a.proxy) {
			to = a
		}
	}
	var ai digestfast.AuthInfo
	if to != nil && digestfast.ParseAuthInfo(v, &ai) == nil && len(ai.NextNonce) > 0 {
		to.setNonce(ai.NextNonce)
		to.preemptive = true
	}
}

func (m *Machine) challenged(i uint32, n *NAP, now time.Duration, r *sipwire.Msg) Action {
	code := r.StatusCode
	m.Dir.Identity(i, &m.reg)
	if m.Dir.Password(i) == nil {
		return m.refuse(n, now, code)
	}
	vs := r.WWWAuthenticate[:r.NumWWWAuthenticate]
	if code == 407 {
		vs = r.ProxyAuthenticate[:r.NumProxyAuthenticate]
	}
	if digestfast.SelectChallenge(vs, m.Cfg.DigestChoice, &m.ch) != nil {
		return m.refuse(n, now, code) // unknown algorithm, auth-int only, malformed
	}
	// The challenge is for one header and realm: the credentials sent
	// for others (a proxy's that let the request through) go on.
	st := authFor(n, code == 407, m.ch.Realm)
	if st == nil {
		return m.refuse(n, now, code)
	}
	if st.sent {
		// Our credentials were challenged. An answer to a challenge of
		// this attempt is refused, unless its nonce was stale. Credentials
		// that reused a nonce (a nextnonce sent preemptively, or the
		// proxy's sent again next to the answer to the registrar's
		// challenge) met a server that no longer takes it (restarted, or
		// the nonce expired, which it need not tell): a new challenge,
		// answered once with its own nonce.
		if st.fresh && !m.ch.Stale || st.again >= maxRechallenges {
			return m.refuse(n, now, code)
		}
		st.again++
	}
	st.set(&m.ch, code == 407)
	st.use = true
	lat := now - n.sentAt
	a := m.begin(i, n, now, n.flags&fUnreg != 0, true)
	a.Event, a.Code, a.Latency = EvChallenged, code, lat
	return a
}

// begin starts a new transaction (CSeq+1, new branch) and encodes it.
// With cont it goes on with the attempt (it answers a challenge), and
// carries the credentials the attempt answered with; otherwise it starts
// a new attempt, which carries credentials only where a nextnonce allows
// a preemptive answer.
func (m *Machine) begin(i uint32, n *NAP, now time.Duration, unreg, cont bool) Action {
	n.CSeq++
	n.Txn++
	n.flags &^= fProceeding
	if unreg {
		n.flags |= fUnreg
		n.State = Unregistering
	} else {
		n.flags &^= fUnreg
		n.State = Trying
	}
	for a := n.auth; a != nil; a = a.next {
		if !cont {
			a.use, a.again = a.preemptive, 0
		}
		a.sent = a.use
		a.fresh = a.use && a.nc == 0 && !a.preemptive
		if a.sent {
			// A new cnonce with each new nonce, kept while the nonce is
			// reused (nc 2, 3 …): a -sess session key is bound to the
			// cnonce of the first request after the challenge (RFC 7616
			// §3.4.2).
			if a.nc == 0 {
				a.cnonce = m.cnonces.Draw()
			}
			a.nc++
		}
	}
	n.sentAt = now
	n.timerF = now + m.Cfg.TimerF
	n.rtEvery = m.Cfg.T1
	n.nextRT = now + m.Cfg.T1
	m.encode(i, n, unreg)
	return Action{Send: SendRequest, Wake: m.wake(n)}
}

// wake is the NAP's next deadline in its current state.
func (m *Machine) wake(n *NAP) time.Duration {
	switch n.State {
	case Trying, Proceeding, Unregistering:
		if m.Cfg.Transport == sipwire.UDP && n.nextRT < n.timerF {
			return n.nextRT
		}
		return n.timerF
	}
	return 0
}

// encode writes the current transaction's request into m.Out. It is a
// pure function of the NAP's state, so a retransmission is byte-identical.
func (m *Machine) encode(i uint32, n *NAP, unreg bool) {
	r := &m.reg
	*r = sipwire.Register{}
	m.Dir.Identity(i, r)
	m.rebooted(n, r)
	r.Transport = m.Cfg.Transport
	r.BranchSalt, r.Branch = m.Salt, BranchID(i, n.Txn)
	r.CSeq = n.CSeq
	r.Expires = int64(n.Expires)
	if unreg {
		r.Expires = 0
	}
	r.UserAgent = m.Cfg.UserAgent
	m.authBuf = m.authBuf[:0]
	if n.auth != nil {
		m.ruri = sipwire.AppendRequestURI(m.ruri[:0], r)
	}
	for a := n.auth; a != nil; a = a.next {
		if !a.sent {
			continue
		}
		m.ch = digestfast.Challenge{Realm: a.realm(), Nonce: a.nonce(), Opaque: a.opaque(), Algorithm: a.alg, QopAuth: a.qop}
		ha1, err := a.ha1.Get(a.alg, r.User, m.ch.Realm, m.Dir.Password(i))
		if err != nil {
			continue
		}
		mark := len(m.authBuf)
		if mark > 0 {
			m.authBuf = append(m.authBuf, "\r\n"...) // one field per header and realm
		}
		m.cnonce = a.cnonce.Append(m.cnonce[:0])
		hdr := "Authorization"
		if a.proxy {
			hdr = "Proxy-Authorization"
		}
		m.authBuf, err = digestfast.AppendAuthorization(m.authBuf, hdr, &m.ch, r.User, ha1,
			&digestfast.Request{Method: methodRegister, URI: m.ruri, CNonce: m.cnonce, NC: a.nc})
		if err != nil {
			m.authBuf = m.authBuf[:mark]
		}
	}
	if len(m.authBuf) > 0 {
		r.Auth = m.authBuf
	}
	m.Out = sipwire.AppendRegister(m.Out[:0], r)
}

// rebooted gives a NAP that rebooted a Call-ID and From tag of its own
// boot: a restarted device starts a new registration (RFC 3261 §10.2.4).
func (m *Machine) rebooted(n *NAP, r *sipwire.Register) {
	if n.Boots == 0 {
		return
	}
	m.callID = append(append(m.callID[:0], r.CallID...), "-b"...)
	m.callID = strconv.AppendUint(m.callID, uint64(n.Boots), 10)
	m.tag = strconv.AppendUint(append(append(m.tag[:0], r.FromTag...), 'b'), uint64(n.Boots), 10)
	r.CallID, r.FromTag = m.callID, m.tag
}
