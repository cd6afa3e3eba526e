// Package nap is the registration behaviour of one simulated gateway NAP
// (docs/behaviour.md), as a pure state machine: events in (start, a parsed response, a timer, a TCP connection
// event, stop), an Action out (what to send, when to wake up, what
// happened). No sockets, no clock of its own: the caller passes the time,
// so tests drive it in simulated time and check every send to the tick.
package nap

import (
	"time"

	"github.com/regstorm/regstorm/digestfast"
	"github.com/regstorm/regstorm/sipwire"
)

// Config holds the protocol parameters; every timer is a parameter so the
// seed's 37 s cycle can run scaled down.
type Config struct {
	Transport sipwire.Transport
	Expires   uint32        // E: requested interval in Contact ;expires= (seed: 3600)
	T1, T2    time.Duration // UDP retransmission: T1, doubling, capped at T2 (500 ms, 4 s)
	TimerF    time.Duration // transaction timeout (64·T1 = 32 s)
	Retry     time.Duration // wait after a refusal, a timeout or a failed connect (5 s)
	UserAgent []byte
	// DigestChoice picks among several challenges in one 401/407: the
	// topmost usable one (First, the default) or the strongest.
	DigestChoice digestfast.Choice
	// RequireBinding: a 2xx that does not list our Contact among the
	// bindings is a failure (EvNoBinding), as a capacity search counts it;
	// by default it is a registration for the interval asked.
	RequireBinding bool
	// ExpiresJitter: each NAP asks for Expires less 0..ExpiresJitter
	// seconds, its own amount, so that NAPs registered together refresh
	// apart (0: all ask for Expires).
	ExpiresJitter uint32
}

// DefaultConfig is the seed's gateway: UDP, 3600 s, RFC 3261 timers, 5 s retry.
func DefaultConfig() Config {
	return Config{
		Transport: sipwire.UDP, Expires: 3600,
		T1: 500 * time.Millisecond, T2: 4 * time.Second, TimerF: 32 * time.Second,
		Retry: 5 * time.Second, UserAgent: []byte("regstorm"),
	}
}

// Directory supplies what a NAP is (docs/design.md) from its index, so that
// a NAP stores none of it. Implementations write into scratch buffers they
// own; the slices must stay valid until the next call.
type Directory interface {
	// Identity fills User, Domain, RequestURI (may stay empty),
	// LocalHost, LocalPort, CallID and FromTag of r for NAP i.
	Identity(i uint32, r *sipwire.Register)
	// Password of NAP i; nil when it has none (a challenge is a refusal).
	Password(i uint32) []byte
}

// State is where a NAP is in its registration cycle.
type State uint8

const (
	Idle          State = iota
	Connecting          // TCP: connect requested
	ConnectWait         // TCP: connect failed, waiting Retry
	Trying              // REGISTER sent; UDP retransmits, Timer F runs
	Proceeding          // 1xx received: UDP retransmits every T2, Timer F runs
	Registered          // 2xx: waiting for the refresh
	RetryWait           // refused or timed out: waiting Retry
	Unregistering       // un-REGISTER in flight
	Stopped
	Delayed // waiting for its first REGISTER (an initial delay)
)

var stateNames = [...]string{"idle", "connecting", "connect-wait", "trying", "proceeding", "registered", "retry-wait", "unregistering", "stopped", "delayed"}

func (s State) String() string { return stateNames[s] }

// flag bits of NAP.flags
const (
	fRegistered uint8 = 1 << iota // last REGISTER transaction ended in 2xx
	fUnreg                        // the current transaction is an un-REGISTER
	fConnected                    // TCP connection up
	fUnregAgain                   // the un-REGISTER was sent again, its first lost with its connection
	fProceeding                   // a 1xx came for the current transaction (REGISTER or un-REGISTER)
)

// maxRechallenges bounds the challenges to our credentials that are
// answered again in one attempt (stale=true, or to a reused nonce), so
// that a registrar that always says stale cannot make a NAP loop without
// pause.
const maxRechallenges = 2

// NAP is the state of one gateway NAP: 80 bytes, plus an auth state
// allocated on its first challenge, and one more for each other header
// (a proxy's 407 and the registrar's 401) or realm that challenges it.
type NAP struct {
	State    State
	flags    uint8
	Boots    uint8  // reboots so far: a new Call-ID and tag each time
	lastCode uint16 // an un-REGISTER waiting to be sent again: why the last failed (0: Timer F)
	CSeq     uint32 // CSeq of the current (or last) transaction
	Txn      uint32 // transaction number: low half of the branch id
	Expires  uint32 // current E; 423 raises it
	Granted  uint32 // last granted interval (s)
	sentAt   time.Duration
	regStart time.Duration // first REGISTER of this registration attempt
	timerF   time.Duration
	nextRT   time.Duration
	rtEvery  time.Duration
	due      time.Duration // the pending timer's deadline (Action.Wake); 0: none
	auth     *authState
}

// Registered reports whether the NAP's last REGISTER ended in 2xx (and no
// refusal, timeout or lost connection since).
func (n *NAP) Registered() bool { return n.flags&fRegistered != 0 }

// UnregisterFailedWith is, for a NAP whose un-REGISTER failed and waits
// to be sent again, the status code that refused it (0: Timer F ended
// it); ok is false for any other NAP.
func (n *NAP) UnregisterFailedWith() (code int, ok bool) {
	if n.State != RetryWait || n.flags&fUnreg == 0 {
		return 0, false
	}
	return int(n.lastCode), true
}

// Stopping reports whether the NAP's un-REGISTER is under way (sent, or
// waiting for its connection): a second Stop must not cut it short.
func (n *NAP) Stopping() bool { return n.flags&fUnreg != 0 }

// Send says what the caller must put on the wire.
type Send uint8

const (
	SendNone       Send = iota
	SendRequest         // a new transaction: Machine.Out holds it
	SendRetransmit      // the same request again (UDP): Machine.Out holds it
	SendConnect         // TCP: open the connection, then OnConnected/OnConnectFailed
)

// Event says what happened, for counters and histograms.
type Event uint8

const (
	EvNone          Event = iota
	EvStarted             // first REGISTER of a start or restart
	EvRetransmit          // UDP retransmission
	EvProvisional         // 1xx
	EvRegistered          // 2xx to a REGISTER
	EvChallenged          // 401/407 answered with credentials
	EvMinExpires          // 423 adopted, re-sent at once
	EvRefused             // final failure: retry after Retry
	EvTimeout             // Timer F
	EvUnregistered        // 2xx to an un-REGISTER
	EvStale               // response to no current transaction: ignored
	EvConnectFailed       // TCP connect failed: retry after Retry
	EvConnLost            // TCP connection lost: reconnecting
	EvRefresh             // refresh or retry: a new REGISTER
	EvStopped             // stopped without (or after failing) an un-REGISTER
	EvUnregRefused        // un-REGISTER refused: sent again after Retry-After or Retry
	EvNoBinding           // a 2xx without our binding (RequireBinding): retry after Retry
)

var eventNames = [...]string{"none", "started", "retransmit", "provisional", "registered", "challenged", "min-expires", "refused", "timeout", "unregistered", "stale", "connect-failed", "connection-lost", "refresh", "stopped", "unregister-refused", "no-binding"}

func (e Event) String() string { return eventNames[e] }

// Action is the result of one event.
type Action struct {
	Send Send
	// Wake is the absolute time of the NAP's next timer; 0: none (cancel
	// any). Events that change nothing return the pending deadline again.
	Wake  time.Duration
	Event Event
	Code  int // status code of the response handled, if any
	// Latency is first transmission → final response of the transaction
	// that just ended; RegLatency is first REGISTER → 2xx of the whole
	// registration (auth round trips included), with EvRegistered.
	Latency, RegLatency time.Duration
	// RegisteredDelta is +1 or -1 when Registered() changed, for a gauge.
	RegisteredDelta int8
	// Abandoned: the transaction that was open ended with neither a final
	// response nor a timeout (replaced by an un-REGISTER at stop, its
	// connection lost), so that every request is accounted for.
	Abandoned bool
	// Unregister: the transaction that just ended (Latency, a timeout) was
	// an un-REGISTER.
	Unregister bool
}

// BranchID is the id written in a transaction's Via branch (with the
// Machine's Salt).
func BranchID(i uint32, txn uint32) uint64 { return uint64(i)<<32 | uint64(txn) }

// SplitBranchID undoes BranchID.
func SplitBranchID(id uint64) (i, txn uint32) { return uint32(id >> 32), uint32(id) }
