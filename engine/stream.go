package engine

import (
	"crypto/tls"
	"errors"
	"sync/atomic"
	"time"

	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/netio"
)

// What the engine adds to tls, ws and wss connections: the options the
// network dials them with, a TLS session per NAP (or per shared
// connection) so that a reconnect resumes it, and the counts of how they
// were made or why not.

func (e *Engine) streamOptions() netio.StreamOptions {
	o := netio.StreamOptions{TLS: e.o.TLS, WSPath: e.o.WSPath, HandshakeTimeout: handshakeBound(e.o.Groups)}
	if !e.o.NoResume {
		o.Sessions = e.sessionFor
	}
	return o
}

// handshakeBound bounds a stream's connect and handshake by the longest
// Timer F of the groups at the start: the network is one for every group,
// and no group's REGISTER should see its connection cut before its own
// transaction would time out.
func handshakeBound(gs []Group) time.Duration {
	var f time.Duration
	for i := range gs {
		f = max(f, gs[i].NAP.TimerF)
	}
	return f
}

// session is one TLS client's session cache: the one session it resumes.
type session struct {
	p atomic.Pointer[tls.ClientSessionState]
}

func (s *session) Get(string) (*tls.ClientSessionState, bool) {
	st := s.p.Load()
	return st, st != nil
}

func (s *session) Put(_ string, st *tls.ClientSessionState) { s.p.Store(st) }

// sessionFor is the cache of the connection dialled with tag: a NAP's own
// (per-nap sockets) or its shared connection's. It runs on the dialling
// goroutine.
func (e *Engine) sessionFor(tag any) tls.ClientSessionCache {
	switch t := tag.(type) {
	case *sharedConn:
		return &t.session
	case *napTag:
		l := t.l
		l.mu.Lock()
		defer l.mu.Unlock()
		if len(l.sessions) <= int(t.i) {
			l.sessions = append(l.sessions, make([]*session, len(l.conns)-len(l.sessions))...)
		}
		if l.sessions[t.i] == nil {
			l.sessions[t.i] = &session{}
		}
		return l.sessions[t.i]
	}
	return nil
}

// connMade counts a connection made, with its handshake.
func (l *lane) connMade(c Conn) {
	l.rec.Connects++
	if hs := c.Handshake(); hs.Took > 0 {
		l.rec.HandshakeDone(hs.Took, hs.TLS, hs.Resumed)
	}
}

// dialFailed counts a failed dial by its reason, once a NAP took it as
// a connect failure: a dial that ends after its NAPs stopped fails no
// NAP, and counted under its reason alone it would make the reasons
// outnumber connect_failures.
func (l *lane) dialFailed(err error) {
	r := netio.ReasonOf(err)
	if errors.Is(err, errClosed) {
		r = metrics.ReasonClosed
	}
	l.rec.Failed[r]++
}

// closedBy counts a connection that a TLS alert closed under tls-alert,
// as a failed dial: under TLS 1.3 a server refuses a client certificate
// after the client's side of the handshake is done, so the refusal
// arrives as the first read's error, not the dial's.
func (l *lane) closedBy(err error) {
	if err != nil && netio.ReasonOf(err) == metrics.ReasonTLSAlert {
		l.rec.Failed[metrics.ReasonTLSAlert]++
	}
}
