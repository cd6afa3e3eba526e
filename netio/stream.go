package netio

import (
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/regstorm/regstorm/sipwire"
)

// TLS, WS and WSS connections. gnet has no TLS and Go's crypto/tls needs a
// blocking net.Conn, so each of these connections has one goroutine of its
// own, blocked in Read until something arrives (bench/RESULTS.md has the
// memory this costs per connection). Sends write one whole message (one
// WebSocket frame) per Write call from the sender's goroutine.

// StreamOptions says how tls, ws and wss connections are made.
type StreamOptions struct {
	// TLS is the client configuration of tls and wss connections; dials
	// use a copy with ServerName set to the target's host (SNI and the
	// name verified) unless TLS.ServerName is set: one per dial with
	// Sessions, one per host without. It must not change once used.
	TLS *tls.Config
	// Sessions gives the session cache of the connection dialled with
	// tag: a NAP that reconnects resumes its own TLS session. nil: every
	// handshake is a full one.
	Sessions func(tag any) tls.ClientSessionCache
	// WSPath and WSHost make the WebSocket URI (ws://host/path); WSHost ""
	// is the dialled host:port.
	WSPath, WSHost string
	// HandshakeTimeout bounds connect, TLS handshake and WebSocket upgrade
	// together (default 32 s, SIP's Timer F).
	HandshakeTimeout time.Duration
}

// SetStreamOptions sets how later tls, ws and wss dials are made.
func (l *Loops) SetStreamOptions(o StreamOptions) {
	if o.WSPath == "" {
		o.WSPath = "/"
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 32 * time.Second
	}
	l.streamMu.Lock()
	l.streamOpts = o
	l.streamCfgs = nil
	l.streamMu.Unlock()
}

// Handshake is how a tls, ws or wss connection was made.
type Handshake struct {
	Took    time.Duration // from the TCP connection up to ready to carry SIP
	TLS     bool
	Resumed bool // the TLS session was resumed (an abbreviated handshake)
	Version uint16
}

// stream is the state of a tls, ws or wss connection.
type stream struct {
	nc     net.Conn // *tls.Conn, or the TCP connection (ws)
	ws     bool
	buf    []byte  // what arrived and is not yet a whole message or frame
	pooled *[]byte // buf's first array, when it came from readPool
	frame  []byte  // ws: a fragmented message being put together
	cutter FrameCutter
	idle   [idleRead]byte // what an idle connection waits with
	// closing is how far the connection is in closing (close.go):
	// streamOpen, closeAsked, closeSaid, peerClosed or aborted.
	closing atomic.Int32
}

// dialStream connects, secures and upgrades; on success the connection's
// reading goroutine is running.
func (l *Loops) dialStream(t sipwire.Transport, local netip.AddrPort, remote string, tag any) (*socket, error) {
	l.streamMu.Lock()
	o := l.streamOpts
	l.streamMu.Unlock()
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = 32 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.HandshakeTimeout)
	defer cancel()
	raw, err := dialTCP(ctx, local, remote)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	deadline, _ := ctx.Deadline()
	_ = raw.SetDeadline(deadline)
	st := &stream{nc: raw, ws: t == sipwire.WS || t == sipwire.WSS}
	var hs Handshake
	host, _, _ := net.SplitHostPort(remote)
	if t.Secure() {
		tc := tls.Client(raw, l.tlsConfig(o, host, tag))
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, err
		}
		cs := tc.ConnectionState()
		hs.TLS, hs.Resumed, hs.Version = true, cs.DidResume, cs.Version
		st.nc = tc
	}
	if st.ws {
		if err := st.upgrade(t, remote, o); err != nil {
			st.nc.Close()
			return nil, err
		}
	}
	hs.Took = time.Since(start)
	_ = raw.SetDeadline(time.Time{})
	laddr, _ := netip.ParseAddrPort(raw.LocalAddr().String())
	raddr, _ := netip.ParseAddrPort(raw.RemoteAddr().String())
	c := &socket{peerConn: peerConn{conn: conn{tag: tag, local: laddr}, remote: raddr, recv: l.recv}, st: st, hs: hs}
	if !l.track(c) {
		st.nc.Close()
		return nil, ErrClosed
	}
	go l.readStream(c)
	return c, nil
}

// track adds c to the connections Stop closes; false once stopped.
func (l *Loops) track(c *socket) bool {
	l.streamMu.Lock()
	defer l.streamMu.Unlock()
	if l.streamsStopped {
		return false
	}
	if l.streams == nil {
		l.streams = make(map[*socket]struct{})
	}
	l.streams[c] = struct{}{}
	l.readers.Add(1) // done when its reader has ended and reported it
	return true
}

func (l *Loops) untrack(c *socket) {
	l.streamMu.Lock()
	delete(l.streams, c)
	l.streamMu.Unlock()
}

// stopStreams closes every tls, ws and wss connection in order (Close),
// all at once, and waits for them to be gone and reported: stopWait at
// most, then what is left is closed outright (a FIN; TLS without
// close_notify).
func (l *Loops) stopStreams() {
	l.streamMu.Lock()
	l.streamsStopped = true
	cs := make([]*socket, 0, len(l.streams))
	for c := range l.streams {
		cs = append(cs, c)
	}
	l.streamMu.Unlock()
	for _, c := range cs {
		_ = c.Close()
	}
	if waitGroup(&l.readers, stopWait) {
		return
	}
	for _, c := range cs {
		c.st.hangUp()
	}
	waitGroup(&l.readers, time.Second)
}

// An idle connection waits in Read with the stream's own idle array, and
// holds no buffer besides: an answer that fits (the registrar's 200 is
// about 400 bytes) is framed and delivered right there. What does not fit
// (a longer message, the start of the next one) moves to a readChunk
// buffer from readPool, which grows if it must, for as long as it takes,
// and goes back once all of it has been delivered. A buffer per
// connection cost 1 KiB per idle NAP (bench/RESULTS.md, issue 15).
const (
	idleRead  = 512
	readChunk = 2048
)

var readPool = sync.Pool{New: func() any { b := make([]byte, 0, readChunk); return &b }}

// grow makes room in a full buffer: the idle array's bytes move to a
// pooled buffer, a full pooled buffer grows.
func (st *stream) grow() {
	if st.pooled == nil && len(st.buf) < readChunk {
		p := readPool.Get().(*[]byte)
		st.pooled = p
		st.buf = append((*p)[:0], st.buf...)
		return
	}
	st.buf = append(st.buf, 0)[:len(st.buf)]
}

// release goes back to waiting with the idle array: all was delivered.
func (st *stream) release() {
	if st.pooled != nil {
		readPool.Put(st.pooled)
		st.pooled = nil
	}
	st.buf = st.idle[:0]
}

// readStream delivers what a connection receives until it ends, and
// carries out its closing (close.go).
func (l *Loops) readStream(c *socket) {
	defer l.readers.Done()
	st := c.st
	deliver := func(msg []byte) {
		if st.closing.Load() != streamOpen {
			return // a goodbye was said or heard: nothing more is delivered
		}
		l.recv.OnMessageAt(c.tag, msg, time.Time{}, c.remote)
	}
	var err error
	for {
		// First what is buffered (an upgrade may have left bytes), then
		// what a read brought, even with its error.
		var used int
		var ferr error
		if st.ws {
			used, ferr = st.frames(c, deliver)
		} else {
			used, ferr = st.messages(c, deliver)
		}
		rest := copy(st.buf, st.buf[used:])
		st.buf = st.buf[:rest]
		if rest == 0 {
			st.release()
		}
		if ferr != nil {
			err = ferr
		}
		if err == errWSClosed {
			// The peer said Close and heard it back: it closes the TCP
			// connection next (RFC 6455 §7.1.1).
			c.closed.Store(true)
			_ = st.nc.SetReadDeadline(time.Now().Add(closeWait))
			err = nil
		}
		if err != nil {
			break
		}
		if len(st.buf) == cap(st.buf) {
			st.grow()
		}
		var n int
		n, err = st.nc.Read(st.buf[len(st.buf):cap(st.buf)])
		st.buf = st.buf[:len(st.buf)+n]
		if err != nil {
			err = st.readEnded(c, err)
		}
	}
	c.closed.Store(true)
	err = st.finish(err)
	st.release()
	l.untrack(c)
	l.recv.OnClosed(c.tag, err)
}

// messages frames a TLS byte stream into SIP messages, as TCP's is.
func (st *stream) messages(c *socket, deliver func([]byte)) (int, error) {
	return Messages(st.buf, func(msg []byte) bool {
		deliver(msg)
		return true
	}, func(int) bool {
		c.pong()
		return true
	})
}

// writeTimeout bounds a send to a peer that stopped reading: the
// connection is then given up (its NAPs reconnect) rather than holding up
// the engine's loop.
const writeTimeout = time.Second

func (c *socket) writeStream(b []byte) error {
	_ = c.st.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.st.nc.Write(b)
	if err != nil {
		// Given up: a FIN would wait behind what the peer does not take.
		_ = c.Abort()
	}
	return err
}

// sendStream writes one SIP message.
func (c *socket) sendStream(b []byte) error {
	if c.st.ws {
		return c.writeFrame(ws.OpText, b)
	}
	return c.writeStream(b)
}
