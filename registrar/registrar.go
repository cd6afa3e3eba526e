// Package registrar is regstorm's embedded SIP registrar (DESIGN.md §6):
// REGISTER over UDP, TCP, TLS, WS and WSS, a location service with
// expiry, min/max expires with 423, digest authentication with expiring
// nonces and replay refusal, un-REGISTER and "Contact: *", and fault
// injection for tests.
//
// A Worker turns request bytes into response bytes with no I/O, one per
// event loop; Server puts workers on gnet event loops (UDP, TCP) and on
// stream connections' goroutines (TLS, WS, WSS).
package registrar

import (
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
	RejectProb float64       // ... to this fraction of transactions (a retransmission gets its original's answer)
	Silent     bool          // never answer

	// MaxRate caps the requests a second the registrar serves (0: none),
	// as a Kamailio does that answers 503 when its ratelimit module's
	// rl_check() fails: a request over the cap is answered 503 Service
	// Unavailable with Retry-After: RetryAfter, and counted in
	// Worker.Throttled. The cap is a token bucket shared by every
	// transport and worker: MaxBurst requests (default: MaxRate, a
	// second's worth) at once, refilled at MaxRate a second. Every request
	// that arrives counts (retransmissions, un-REGISTERs and OPTIONS too)
	// except those lost to Drop, which never reached it.
	MaxRate    float64
	MaxBurst   int
	RetryAfter int // seconds, in the 503 of the cap (default 1)

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

// Registrar holds the shared state: configuration, location service and
// the nonce key.
type Registrar struct {
	cfg    Config
	Loc    *Location
	key    [32]byte
	Now    func() time.Time
	silent atomic.Bool // Config.Silent, switchable while running
	cap    *bucket     // Config.MaxRate; nil: none
	// retryAfter is the cap's 503 header line, written once.
	retryAfter []byte
	txSeed     maphash.Seed // Config.RejectProb's draw per transaction
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
	r := &Registrar{cfg: cfg, Loc: NewLocation(), Now: time.Now, txSeed: maphash.MakeSeed()}
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
	m    sipwire.Msg
	cr   digestfast.Credentials
	cch  digestfast.HA1Cache
	Out  []byte
	rng  *mrand.Rand
	tx   maphash.Hash // transactionDraw's
	aor  []byte
	tmp  []byte
	cont []byte

	// Counters, written by the worker and read by Stats while it runs
	// (SIGUSR1): atomic, since the two run on different goroutines.
	Requests, Malformed, Challenges, AuthFailures, Replays, Stales int64
	Registered, Unregistered, Rejected, Dropped                    int64
	// Throttled: requests answered 503 over Config.MaxRate.
	Throttled int64

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
// and answering garbage would make it a reflector.
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
	if err := m.ParseAddresses(); err != nil {
		atomic.AddInt64(&w.Malformed, 1)
		w.respond(400, "Bad Request", nil)
		return verdict
	}
	if w.r.cap != nil && !w.r.cap.take(w.r.Now().UnixNano()) {
		atomic.AddInt64(&w.Throttled, 1)
		w.respond(503, "Service Unavailable", w.r.retryAfter)
		return verdict
	}
	if cfg.RejectCode > 0 && w.transactionDraw(m) < cfg.RejectProb {
		atomic.AddInt64(&w.Rejected, 1)
		w.respond(cfg.RejectCode, reason(cfg.RejectCode), nil)
		return verdict
	}
	if !sipwire.EqualFold(m.Method, "register") {
		w.respond(405, "Method Not Allowed", allowRegister)
		return verdict
	}
	w.register(m)
	return verdict
}

var allowRegister = []byte("Allow: REGISTER")

// transactionDraw is a number in [0, 1) fixed by the request's transaction
// (Via branch, Call-ID, CSeq): a retransmission draws what its original
// drew, so it gets the same answer, as a registrar's transaction layer
// gives it. A fresh draw per datagram answered a REGISTER retransmitted
// under load once 200 and once 403. (Drop stays per datagram: it plays
// the network losing packets.)
func (w *Worker) transactionDraw(m *sipwire.Msg) float64 {
	w.tx.Reset()
	_, _ = w.tx.Write(m.Via.Branch)
	_, _ = w.tx.Write(m.CallID)
	var cseq [4]byte
	binary.LittleEndian.PutUint32(cseq[:], m.CSeq)
	_, _ = w.tx.Write(cseq[:])
	return float64(w.tx.Sum64()>>11) / (1 << 53)
}

func reason(code int) string {
	switch code {
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 408:
		return "Request Timeout"
	case 480:
		return "Temporarily Unavailable"
	case 486:
		return "Busy Here"
	case 500:
		return "Server Internal Error"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Server Time-out"
	}
	return "Rejected"
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

func (w *Worker) register(m *sipwire.Msg) {
	cfg := &w.r.cfg
	now := w.r.Now()
	user, host, ok := w.aorOf(m.To.URI)
	if !ok {
		w.respond(400, "Bad Request", nil)
		return
	}
	realm := []byte(cfg.Realm)
	if len(realm) == 0 {
		realm = host
	}
	if cfg.Auth && !w.authorized(m, user, realm, now) {
		return // w.Out holds the 401/403
	}
	// Contact: * removes every binding, and only with Expires: 0.
	if m.ContactStar {
		if m.Expires != 0 || m.NumContacts > 0 {
			w.respond(400, "Bad Request", nil)
			return
		}
		e := w.r.Loc.lock(w.aor)
		n := e.clear()
		e.unlock()
		atomic.AddInt64(&w.Unregistered, int64(n))
		w.respond(200, "OK", nil)
		return
	}
	// Validate every contact's interval before changing anything.
	for i := 0; i < m.NumContacts; i++ {
		e := w.requested(m, &m.Contacts[i])
		if e != 0 && cfg.MinExpires > 0 && e < int64(cfg.MinExpires) {
			w.tmp = strconv.AppendUint(append(w.tmp[:0], "Min-Expires: "...), uint64(cfg.MinExpires), 10)
			w.respond(423, "Interval Too Brief", w.tmp)
			return
		}
	}
	status, granted := w.bindAll(m, now)
	if status != 200 {
		w.respond(500, "Server Internal Error", nil)
		return
	}
	var extra []byte
	if cfg.Style == StyleHeader && granted >= 0 {
		extra = strconv.AppendInt(append(w.tmp[:0], "Expires: "...), granted, 10)
		w.tmp = extra
	}
	w.respond(200, "OK", extra)
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
// gathers the live ones into w.cont: status 200, or 500 (an older CSeq
// for the same Call-ID, RFC 3261 §10.3 step 7, or no memory left), and
// the first contact's granted interval.
func (w *Worker) bindAll(m *sipwire.Msg, now time.Time) (status int, granted int64) {
	cfg := &w.r.cfg
	status, granted = 200, -1
	e := w.r.Loc.lock(w.aor)
	defer e.unlock()
	for i := 0; i < m.NumContacts; i++ {
		c := &m.Contacts[i]
		ex := w.requested(m, c)
		if cfg.MaxExpires > 0 && ex > int64(cfg.MaxExpires) {
			ex = int64(cfg.MaxExpires)
		}
		if granted < 0 {
			granted = ex
		}
		switch e.bind(c.URI, m.CallID, m.CSeq, now.Add(time.Duration(ex)*time.Second).UnixNano(), ex == 0) {
		case bindAdded, bindRefreshed:
			atomic.AddInt64(&w.Registered, 1)
		case bindRemoved:
			atomic.AddInt64(&w.Unregistered, 1)
		case bindOld, bindFull:
			return 500, granted
		}
	}
	w.cont = w.cont[:0]
	t := now.UnixNano()
	e.each(func(contact []byte, exp int64) {
		left := int64(time.Duration(exp-t).Round(time.Second) / time.Second)
		if left <= 0 {
			return
		}
		w.cont = append(w.cont, "Contact: <"...)
		w.cont = append(w.cont, contact...)
		w.cont = append(w.cont, '>')
		if cfg.Style == StyleContact {
			w.cont = strconv.AppendInt(append(w.cont, ";expires="...), left, 10)
		}
		w.cont = append(w.cont, "\r\n"...)
	})
	return status, granted
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
		w.respond(400, "Bad Request", nil)
		return false
	}
	// The credentials must be for this AOR's user: user B cannot touch A.
	if string(cr.Username) != string(user) || string(cr.Realm) != string(realm) {
		atomic.AddInt64(&w.AuthFailures, 1)
		w.respond(403, "Forbidden", nil)
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
		w.respond(403, "Forbidden", nil)
		return false
	}
	ha1, err := w.cch.Get(cr.Algorithm, cr.Username, realm, pass)
	if err != nil || !cr.Verify(m.Method, ha1.Bytes()) {
		atomic.AddInt64(&w.AuthFailures, 1)
		w.respond(403, "Forbidden", nil)
		return false
	}
	// Replay: the same nonce with a count not above the last one seen.
	e := w.r.Loc.lock(w.aor)
	replay, stored := e.replay(ts, cr.HasNC, cr.NC)
	e.unlock()
	if !stored {
		w.respond(500, "Server Internal Error", nil)
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
	var nonce [nonceLen]byte
	w.r.makeNonce(&nonce, now)
	h := append(w.tmp[:0], `WWW-Authenticate: Digest realm="`...)
	h = append(h, realm...)
	h = append(h, `", nonce="`...)
	h = append(h, nonce[:]...)
	h = append(h, `", qop="auth", algorithm=MD5`...)
	if stale {
		h = append(h, ", stale=true"...)
	}
	w.tmp = h
	w.respond(401, "Unauthorized", h)
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

// respond writes a response to w.m into w.Out: the Vias (the top one with
// received and rport filled in by the transport later if needed), From,
// To with a tag, Call-ID, CSeq, the bindings gathered in w.cont for a 200,
// and extra header lines.
// respond writes a response to w.m into w.Out, with one optional extra
// header line (nil: none); bytes, not strings, so answering allocates
// nothing.
func (w *Worker) respond(code int, reason string, extra []byte) {
	m := &w.m
	o := append(w.Out[:0], "SIP/2.0 "...)
	o = strconv.AppendInt(o, int64(code), 10)
	o = append(o, ' ')
	o = append(o, reason...)
	o = append(o, "\r\n"...)
	for i := 0; i < m.NumVia; i++ {
		o = append(o, "Via: "...)
		o = append(o, m.ViaHeaders[i]...)
		o = append(o, "\r\n"...)
	}
	o = append(o, "From: "...)
	o = append(o, m.FromRaw...)
	o = append(o, "\r\nTo: "...)
	o = append(o, m.ToRaw...)
	if m.To.Tag == nil {
		// A stable tag per Call-ID: FNV-1a, so retransmissions agree.
		h := uint64(14695981039346656037)
		for _, c := range m.CallID {
			h = (h ^ uint64(c)) * 1099511628211
		}
		o = append(o, ";tag=rs"...)
		o = strconv.AppendUint(o, h, 36)
	}
	o = append(o, "\r\nCall-ID: "...)
	o = append(o, m.CallID...)
	o = append(o, "\r\nCSeq: "...)
	o = strconv.AppendUint(o, uint64(m.CSeq), 10)
	o = append(o, ' ')
	o = append(o, m.CSeqMethod...)
	o = append(o, "\r\n"...)
	if code == 200 {
		o = append(o, w.cont...)
	}
	if len(extra) > 0 {
		o = append(o, extra...)
		o = append(o, "\r\n"...)
	}
	o = append(o, "Server: regstorm\r\nContent-Length: 0\r\n\r\n"...)
	w.Out = o
	w.cont = w.cont[:0]
}
