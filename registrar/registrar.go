// Package registrar is regstorm's embedded SIP registrar (docs/registrar.md):
// REGISTER over UDP, TCP, TLS, WS and WSS, a location service with
// expiry, min/max expires with 423, digest authentication with expiring
// nonces and replay refusal, un-REGISTER and "Contact: *", server
// transactions that answer a retransmission as its original, and fault
// injection for tests.
//
// A Worker turns request bytes into response bytes with no I/O, one per
// event loop; Server puts workers on gnet event loops (UDP, TCP) and on
// stream connections' goroutines (TLS, WS, WSS).
package registrar

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"hash/maphash"
	"math"
	mrand "math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/regstorm/regstorm/digestfast"
	"github.com/regstorm/regstorm/sipwire"
)

// ExpiresStyle says where a 200 puts the granted interval.
type ExpiresStyle uint8

const (
	StyleContact ExpiresStyle = iota // Contact ;expires= (seed case 1)
	StyleHeader                      // Expires header only (seed case 2)
)

// Config configures a registrar.
type Config struct {
	Auth  bool
	Realm string // default: the AOR's domain
	// Password returns the password of user, or false if unknown.
	Password       func(user []byte) ([]byte, bool)
	MinExpires     uint32 // 423 below this (0: none)
	MaxExpires     uint32 // clamp above this (0: none)
	DefaultExpires uint32 // when the request gives none (3600)
	Style          ExpiresStyle
	NonceTTL       time.Duration // nonce lifetime; expired → 401 stale=true (30 s)

	Drop       float64       // fraction of requests silently ignored
	Delay      time.Duration // answer this late
	RejectCode int           // answer this code ...
	RejectProb float64       // ... to this fraction of transactions (drawn from the transaction's key)
	Silent     bool          // never answer

	// TimerJ is how long an answered transaction is kept, so that a
	// retransmission of its request gets the same answer and is not
	// handled again (RFC 3261 §17.2.2): 64*T1, 32 s, by default;
	// negative: not kept, each request is handled as it comes. It applies
	// to every transport (transactions.go says why).
	TimerJ time.Duration

	// MaxRate caps the requests a second the registrar serves (0: none),
	// as a Kamailio does that answers 503 when its ratelimit module's
	// rl_check() fails: a request over the cap is answered 503 Service
	// Unavailable with Retry-After: RetryAfter, and counted in
	// Worker.Throttled. The cap is a token bucket shared by every
	// transport and worker: MaxBurst requests (default: MaxRate, a
	// second's worth) at once, refilled at MaxRate a second. Every request
	// that arrives counts (un-REGISTERs and OPTIONS too) except those lost
	// to Drop, which never reached it, and the retransmissions of a
	// transaction answered within Config.TimerJ, which get its answer
	// again (a 503 too) and are not served again.
	MaxRate    float64
	MaxBurst   int
	RetryAfter int // seconds, in the 503 of the cap (default 1)
	// Logf gets the network library's errors (nil: dropped): the
	// registrar writes nowhere of its own accord.
	Logf func(format string, args ...any)

	// ReusePort lets Listen share a port another process already holds
	// (SO_REUSEPORT: the kernel splits the requests between them). Without
	// it Listen refuses such a port with ErrPortInUse.
	ReusePort bool

	// CloseAfterAnswer closes a stream connection (TCP, TLS, WS, WSS)
	// right after each answer is written, as some registrars do (fault
	// injection).
	CloseAfterAnswer bool

	// Cert is the certificate TLS and WSS present; nil: a self-signed
	// one made by Listen (Server.Fingerprint tells clients which).
	Cert *tls.Certificate
	// ClientCAs, if set, makes TLS and WSS require a client certificate
	// signed by one of them.
	ClientCAs *x509.CertPool
	// HandshakeTimeout bounds a stream connection's TLS handshake and
	// WebSocket upgrade (10 s).
	HandshakeTimeout time.Duration
}

// DefaultTimerJ is Config.TimerJ's default: 64*T1, T1 being RFC 3261's
// 500 ms.
const DefaultTimerJ = 64 * 500 * time.Millisecond

// Registrar holds the shared state: configuration, location service and
// the nonce key.
type Registrar struct {
	cfg    Config
	Loc    *Location
	key    [32]byte
	Now    func() time.Time
	silent atomic.Bool // Config.Silent, switchable while running
	cap    *bucket     // Config.MaxRate; nil: none
	// retryAfter is the cap's 503 header line, written once, as
	// minExpires is the 423's.
	retryAfter, minExpires []byte
	realm                  []byte        // Config.Realm's
	txns                   *transactions // nil: Config.TimerJ < 0
	txSeed                 maphash.Seed  // of the transactions' keys
}

// bucket is a token bucket kept as one atomic word, the generic cell rate
// algorithm: tat is the time (Unix ns) at which the bucket is full again;
// a request at now is served when tat - now is at most tol, the time of
// burst-1 tokens, and then moves tat on by one token's time. Lock-free
// and allocation-free, so the workers of every event loop share it.
type bucket struct {
	tat      atomic.Int64
	interval int64 // ns per token: 1/MaxRate
	tol      int64 // (burst-1) tokens
}

func newBucket(rate float64, burst int) *bucket {
	iv := int64(math.Round(float64(time.Second) / rate))
	iv = max(iv, 1)
	return &bucket{interval: iv, tol: int64(max(burst, 1)-1) * iv}
}

// take spends a token at now (Unix ns); false: none left.
func (b *bucket) take(now int64) bool {
	for {
		tat := b.tat.Load()
		t := max(tat, now)
		if t-now > b.tol {
			return false
		}
		if b.tat.CompareAndSwap(tat, t+b.interval) {
			return true
		}
	}
}

// SetSilent makes the registrar stop (true) or resume (false) answering,
// as an outage would, without closing its sockets.
func (r *Registrar) SetSilent(on bool) { r.silent.Store(on) }

// New makes a registrar; zero values take the defaults above.
func New(cfg Config) *Registrar {
	if cfg.DefaultExpires == 0 {
		cfg.DefaultExpires = 3600
	}
	if cfg.NonceTTL == 0 {
		cfg.NonceTTL = 30 * time.Second
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.TimerJ == 0 {
		cfg.TimerJ = DefaultTimerJ
	}
	r := &Registrar{cfg: cfg, Loc: NewLocation(), Now: time.Now, txSeed: maphash.MakeSeed()}
	if cfg.TimerJ > 0 {
		r.txns = newTransactions(int64(cfg.TimerJ))
	}
	r.realm = []byte(cfg.Realm)
	if cfg.MinExpires > 0 {
		r.minExpires = strconv.AppendUint([]byte("Min-Expires: "), uint64(cfg.MinExpires), 10)
	}
	r.silent.Store(cfg.Silent)
	if cfg.MaxRate > 0 {
		if cfg.MaxBurst <= 0 {
			cfg.MaxBurst = max(int(math.Ceil(cfg.MaxRate)), 1)
		}
		if cfg.RetryAfter <= 0 {
			cfg.RetryAfter = 1
		}
		r.cfg = cfg
		r.cap = newBucket(cfg.MaxRate, cfg.MaxBurst)
		r.retryAfter = strconv.AppendInt([]byte("Retry-After: "), int64(cfg.RetryAfter), 10)
	}
	_, _ = rand.Read(r.key[:])
	return r
}

// Config returns the registrar's configuration.
func (r *Registrar) Config() Config { return r.cfg }

// Verdict says what the transport must do with a Worker's answer.
type Verdict uint8

const (
	Reply  Verdict = iota // send Out now
	Later                 // send Out after Config.Delay
	Ignore                // send nothing (drop, silent, not a request)
)

// Worker handles requests for one event loop; it is not goroutine-safe.
type Worker struct {
	r    *Registrar
	tag  []byte // scratch for a response's To tag
	m    sipwire.Msg
	cr   digestfast.Credentials
	cch  digestfast.HA1Cache
	Out  []byte
	rng  *mrand.Rand
	tx   maphash.Hash // txKey's
	ans  answer       // what respond last wrote
	aor  []byte
	tmp  []byte
	cont []byte

	// Counters, written by the worker and read by Stats while it runs
	// (SIGUSR1): atomic, since the two run on different goroutines.
	Requests, Malformed, Challenges, AuthFailures, Replays, Stales int64
	Registered, Unregistered, Rejected, Dropped                    int64
	// Throttled: requests answered 503 over Config.MaxRate.
	Throttled int64
	// Retransmissions: requests of a transaction already answered,
	// answered again as then (counted in Requests, and in nothing else).
	Retransmissions int64

	// TLS (and WSS) handshakes done and failed: server counters, filled
	// in by Server.Stats only.
	TLSHandshakes, TLSFailures int64
}

// NewWorker makes a worker for one event loop.
func (r *Registrar) NewWorker() *Worker {
	var seed [16]byte
	_, _ = rand.Read(seed[:])
	w := &Worker{
		r: r, Out: make([]byte, 0, 4096), aor: make([]byte, 0, 128), tmp: make([]byte, 0, 256),
		rng: mrand.New(mrand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:]))),
	}
	w.tx.SetSeed(r.txSeed)
	return w
}

// Handle processes one message and leaves the response, if any, in w.Out.
// Responses and garbage are ignored: a registrar must not answer them,
// and answering garbage would make it a reflector. A request of a
// transaction answered less than Config.TimerJ ago gets that answer
// again (transactions.go).
func (w *Worker) Handle(msg []byte) Verdict {
	cfg := &w.r.cfg
	m := &w.m
	if err := m.Parse(msg); err != nil || !m.IsRequest {
		if err != nil {
			atomic.AddInt64(&w.Malformed, 1)
		}
		return Ignore
	}
	atomic.AddInt64(&w.Requests, 1)
	if w.r.silent.Load() || (cfg.Drop > 0 && w.rng.Float64() < cfg.Drop) {
		atomic.AddInt64(&w.Dropped, 1)
		return Ignore
	}
	verdict := Reply
	if cfg.Delay > 0 {
		verdict = Later
	}
	now := w.r.Now()
	key := w.txKey(m)
	txns := w.r.txns
	if txns != nil {
		if a, at, ok := txns.find(key, now.UnixNano()); ok {
			atomic.AddInt64(&w.Retransmissions, 1)
			w.again(a, time.Unix(0, at))
			return verdict
		}
	}
	w.ans = ansNone
	w.serve(key, now)
	if txns != nil && w.ans != ansNone {
		txns.add(key, w.ans, now.UnixNano())
	}
	return verdict
}

// serve answers a request that is not a retransmission.
func (w *Worker) serve(key uint64, now time.Time) {
	cfg := &w.r.cfg
	m := &w.m
	if err := m.ParseAddresses(); err != nil {
		atomic.AddInt64(&w.Malformed, 1)
		w.respond(ansBadRequest, nil)
		return
	}
	if w.r.cap != nil && !w.r.cap.take(now.UnixNano()) {
		atomic.AddInt64(&w.Throttled, 1)
		w.respond(ansThrottled, w.r.retryAfter)
		return
	}
	if cfg.RejectCode > 0 && draw(key) < cfg.RejectProb {
		atomic.AddInt64(&w.Rejected, 1)
		w.respond(ansRejected, nil)
		return
	}
	if !sipwire.EqualFold(m.Method, "register") {
		w.respond(ansNotAllowed, allowRegister)
		return
	}
	w.register(m, now)
}

var allowRegister = []byte("Allow: REGISTER")

// txKey is the key of the request's transaction: a hash of its top Via's
// branch and sent-by and its method (RFC 3261 §17.2.3), and its Call-ID
// and CSeq, which a retransmission repeats too: they keep apart the
// transactions of clients whose branches are not unique (one counter
// per client from 1, behind one address). A branch without RFC 3261's
// magic cookie adds what RFC 2543 matched on: Request-URI, From, To. The
// low ansBits are 0: the table keeps the answer there.
func (w *Worker) txKey(m *sipwire.Msg) uint64 {
	h := &w.tx
	h.Reset()
	var n [8]byte
	field := func(b []byte) { // length first: no two field lists hash alike
		binary.LittleEndian.PutUint32(n[:4], uint32(len(b)))
		_, _ = h.Write(n[:4])
		_, _ = h.Write(b)
	}
	field(m.Via.Branch)
	field(m.Via.Host)
	field(m.Method)
	field(m.CallID)
	binary.LittleEndian.PutUint32(n[:4], uint32(m.Via.Port))
	binary.LittleEndian.PutUint32(n[4:], m.CSeq)
	_, _ = h.Write(n[:])
	if !bytes.HasPrefix(m.Via.Branch, magicCookie) {
		field(m.RequestURI)
		field(m.FromRaw)
		field(m.ToRaw)
	}
	return h.Sum64() &^ ansMask
}

var magicCookie = []byte("z9hG4bK")

// draw is a number in [0, 1) fixed by a transaction's key, for
// Config.RejectProb: a retransmission draws what its original drew even
// once its transaction is forgotten (after Config.TimerJ, or with none).
// The key's bits are mixed first (SplitMix64's finaliser): its top ones
// also pick the table's shard. (Drop stays per datagram: it plays the
// network losing packets.)
func draw(key uint64) float64 {
	key ^= key >> 30
	key *= 0xbf58476d1ce4e5b9
	key ^= key >> 27
	key *= 0x94d049bb133111eb
	key ^= key >> 31
	return float64(key>>11) / (1 << 53)
}

// aorOf writes "user@host" of the To URI into w.aor.
func (w *Worker) aorOf(uri []byte) (user, host []byte, ok bool) {
	rest := uri
	for i, c := range rest {
		if c == ':' {
			rest = rest[i+1:]
			break
		}
	}
	for i, c := range rest {
		if c == ';' || c == '?' || c == '>' {
			rest = rest[:i]
			break
		}
	}
	at := -1
	for i, c := range rest {
		if c == '@' {
			at = i
		}
	}
	if at <= 0 {
		return nil, nil, false
	}
	user, host = rest[:at], rest[at+1:]
	for i, c := range host { // drop the port: bindings are per user@domain
		if c == ':' && host[0] != '[' {
			host = host[:i]
			break
		}
	}
	w.aor = append(append(append(w.aor[:0], user...), '@'), host...)
	return user, host, true
}

func (w *Worker) register(m *sipwire.Msg, now time.Time) {
	user, host, ok := w.aorOf(m.To.URI)
	if !ok {
		w.respond(ansBadRequest, nil)
		return
	}
	if w.r.cfg.Auth && !w.authorized(m, user, w.realm(host), now) {
		return // w.Out holds the 401/403
	}
	// Contact: * removes every binding, and only with Expires: 0.
	if m.ContactStar {
		if m.Expires != 0 || m.NumContacts > 0 {
			w.respond(ansBadRequest, nil)
			return
		}
		e := w.r.Loc.lock(w.aor)
		n := e.clear()
		e.unlock()
		atomic.AddInt64(&w.Unregistered, int64(n))
		w.respond(ansOK, nil)
		return
	}
	// Validate every contact's interval before changing anything.
	minExp := int64(w.r.cfg.MinExpires)
	for i := 0; i < m.NumContacts; i++ {
		if e := w.requested(m, &m.Contacts[i]); e != 0 && minExp > 0 && e < minExp {
			w.respond(ansTooBrief, w.r.minExpires)
			return
		}
	}
	if !w.bindAll(m, now) {
		w.respond(ansServerError, nil)
		return
	}
	w.respond(ansOK, w.expiresLine(m))
}

// realm is Config.Realm, or the AOR's host.
func (w *Worker) realm(host []byte) []byte {
	if len(w.r.realm) > 0 {
		return w.r.realm
	}
	return host
}

// expiresLine is a 200's Expires header line for Config.Style
// StyleHeader: the first contact's granted interval (nil: none).
func (w *Worker) expiresLine(m *sipwire.Msg) []byte {
	if w.r.cfg.Style != StyleHeader || m.NumContacts == 0 {
		return nil
	}
	w.tmp = strconv.AppendInt(append(w.tmp[:0], "Expires: "...), w.granted(m, &m.Contacts[0]), 10)
	return w.tmp
}

// granted is the interval a contact gets: the one it asks for, at most
// Config.MaxExpires.
func (w *Worker) granted(m *sipwire.Msg, c *sipwire.Contact) int64 {
	ex := w.requested(m, c)
	if mx := int64(w.r.cfg.MaxExpires); mx > 0 && ex > mx {
		ex = mx
	}
	return ex
}

// requested is the interval a contact asks for: its ;expires, else the
// Expires header, else the default.
func (w *Worker) requested(m *sipwire.Msg, c *sipwire.Contact) int64 {
	switch {
	case c.Expires >= 0:
		return c.Expires
	case m.Expires >= 0:
		return m.Expires
	}
	return int64(w.r.cfg.DefaultExpires)
}

// bindAll applies the request's contacts to the AOR's bindings and
// gathers the live ones into w.cont; false when it refuses (an older CSeq
// for the same Call-ID, RFC 3261 §10.3 step 7, or no memory left): a 500.
func (w *Worker) bindAll(m *sipwire.Msg, now time.Time) bool {
	e := w.r.Loc.lock(w.aor)
	defer e.unlock()
	for i := 0; i < m.NumContacts; i++ {
		c := &m.Contacts[i]
		ex := w.granted(m, c)
		switch e.bind(c.URI, m.CallID, m.CSeq, now.Add(time.Duration(ex)*time.Second).UnixNano(), ex == 0) {
		case bindAdded, bindRefreshed:
			atomic.AddInt64(&w.Registered, 1)
		case bindRemoved:
			atomic.AddInt64(&w.Unregistered, 1)
		case bindOld, bindFull:
			return false
		}
	}
	w.gather(&e, now.UnixNano())
	return true
}

// gather writes the Contact lines of the AOR's bindings live at t (Unix
// ns) into w.cont, with the seconds left as of t.
func (w *Worker) gather(e *aorEntry, t int64) {
	style := w.r.cfg.Style
	w.cont = w.cont[:0]
	e.each(func(contact []byte, exp int64) {
		left := int64(time.Duration(exp-t).Round(time.Second) / time.Second)
		if left <= 0 {
			return
		}
		w.cont = append(w.cont, "Contact: <"...)
		w.cont = append(w.cont, contact...)
		w.cont = append(w.cont, '>')
		if style == StyleContact {
			w.cont = strconv.AppendInt(append(w.cont, ";expires="...), left, 10)
		}
		w.cont = append(w.cont, "\r\n"...)
	})
}

// authorized checks the request's credentials; when they are missing or
// wrong it leaves the 401 or 403 in w.Out and returns false.
func (w *Worker) authorized(m *sipwire.Msg, user, realm []byte, now time.Time) bool {
	cfg := &w.r.cfg
	if m.NumAuthorization == 0 {
		w.challenge(realm, now, false)
		return false
	}
	cr := &w.cr
	if digestfast.ParseCredentials(m.Authorization[0], cr) != nil {
		atomic.AddInt64(&w.AuthFailures, 1)
		w.respond(ansBadRequest, nil)
		return false
	}
	// The credentials must be for this AOR's user: user B cannot touch A.
	if string(cr.Username) != string(user) || string(cr.Realm) != string(realm) {
		atomic.AddInt64(&w.AuthFailures, 1)
		w.respond(ansForbidden, nil)
		return false
	}
	check, ts := w.r.checkNonce(cr.Nonce, now)
	switch check {
	case nonceBad:
		w.challenge(realm, now, false)
		return false
	case nonceExpired:
		atomic.AddInt64(&w.Stales, 1)
		w.challenge(realm, now, true)
		return false
	}
	pass, ok := cfg.Password(user)
	if !ok {
		atomic.AddInt64(&w.AuthFailures, 1)
		w.respond(ansForbidden, nil)
		return false
	}
	ha1, err := w.cch.Get(cr.Algorithm, cr.Username, realm, pass)
	if err != nil || !cr.Verify(m.Method, ha1.Bytes()) {
		atomic.AddInt64(&w.AuthFailures, 1)
		w.respond(ansForbidden, nil)
		return false
	}
	// Replay: the same nonce with a count not above the last one seen.
	e := w.r.Loc.lock(w.aor)
	replay, stored := e.replay(ts, cr.HasNC, cr.NC)
	e.unlock()
	if !stored {
		w.respond(ansServerError, nil)
		return false
	}
	if replay {
		atomic.AddInt64(&w.Replays, 1)
		w.challenge(realm, now, false)
		return false
	}
	return true
}

func (w *Worker) challenge(realm []byte, now time.Time, stale bool) {
	atomic.AddInt64(&w.Challenges, 1)
	w.writeChallenge(realm, now, stale)
}

// writeChallenge writes a 401 with a nonce made at now: the same one for
// the same now (a retransmission's).
func (w *Worker) writeChallenge(realm []byte, now time.Time, stale bool) {
	var nonce [nonceLen]byte
	w.r.makeNonce(&nonce, now)
	h := append(w.tmp[:0], `WWW-Authenticate: Digest realm="`...)
	h = append(h, realm...)
	h = append(h, `", nonce="`...)
	h = append(h, nonce[:]...)
	h = append(h, `", qop="auth", algorithm=MD5`...)
	a := ansChallenge
	if stale {
		h = append(h, ", stale=true"...)
		a = ansStale
	}
	w.tmp = h
	w.respond(a, h)
}

// Nonces are stateless: hex(expiry) + hex(SHA-256(key, expiry)[:16]).
const nonceLen = 16 + 32

type nonceCheck uint8

const (
	nonceOK nonceCheck = iota
	nonceBad
	nonceExpired
)

func (r *Registrar) makeNonce(dst *[nonceLen]byte, now time.Time) {
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(now.Add(r.cfg.NonceTTL).UnixNano()))
	mac := r.mac(ts)
	hex.Encode(dst[:16], ts[:])
	hex.Encode(dst[16:], mac[:16])
}

func (r *Registrar) mac(ts [8]byte) [32]byte {
	var in [40]byte
	copy(in[:32], r.key[:])
	copy(in[32:], ts[:])
	return sha256.Sum256(in[:])
}

// checkNonce says whether n is one of ours and still valid, and its
// timestamp (its expiry, Unix ns): a nonce of ours is a function of it.
func (r *Registrar) checkNonce(n []byte, now time.Time) (nonceCheck, int64) {
	if len(n) != nonceLen {
		return nonceBad, 0
	}
	var ts [8]byte
	var got [16]byte
	if _, err := hex.Decode(ts[:], n[:16]); err != nil {
		return nonceBad, 0
	}
	if _, err := hex.Decode(got[:], n[16:]); err != nil {
		return nonceBad, 0
	}
	mac := r.mac(ts)
	if subtle.ConstantTimeCompare(got[:], mac[:16]) != 1 {
		return nonceBad, 0
	}
	t := int64(binary.BigEndian.Uint64(ts[:]))
	if t < now.UnixNano() {
		return nonceExpired, t
	}
	return nonceOK, t
}
