package netio

import (
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

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

// streamConn is a tls, ws or wss connection: a TCP connection under TLS
// (tls, wss) and the WebSocket upgrade (ws, wss), read by a goroutine of
// its own (readStream). The transports differ only in their framing.
type streamConn struct {
	peerConn
	hs      Handshake
	framing framing
	nc      net.Conn // *tls.Conn, or the TCP connection (ws)
	buf     []byte   // what arrived and is not yet a whole message or frame
	pooled  *[]byte  // buf's first array, when it came from readPool
	frame   []byte   // ws: a fragmented message being put together
	cutter  FrameCutter
	idle    [idleRead]byte // what an idle connection waits with
	// closing is how far the connection is in closing (close.go):
	// streamOpen, closeAsked, closeSaid, peerClosed or aborted.
	closing atomic.Int32
}

// framing is what tells a tls connection from a ws or wss one: tlsFraming
// (tls.go) carries SIP messages on the byte stream, wsFraming (ws.go) in
// WebSocket frames.
type framing interface {
	// handshake makes the connection ready to carry SIP once TCP (and
	// TLS) is: the WebSocket upgrade.
	handshake(c *streamConn, t sipwire.Transport, remote string, o StreamOptions) error
	// cut takes what whole messages c.buf holds out of it, delivers them,
	// and says how many bytes they took.
	cut(c *streamConn, deliver func([]byte)) (int, error)
	send(c *streamConn, b []byte) error // one SIP message
	ping(c *streamConn) error           // a keep-alive ping (ping.go)
	goodbye(c *streamConn)              // the closing word (close.go)
}

// dialStream connects, secures (tls, wss) and hands the connection to its
// framing's handshake; on success the connection's reading goroutine is
// running.
func (l *Loops) dialStream(t sipwire.Transport, fr framing, local netip.AddrPort, remote string, tag any) (*streamConn, error) {
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
	c := &streamConn{nc: raw, framing: fr}
	host, _, _ := net.SplitHostPort(remote)
	if t.Secure() {
		tc := tls.Client(raw, l.tlsConfig(o, host, tag))
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, err
		}
		cs := tc.ConnectionState()
		c.hs.TLS, c.hs.Resumed, c.hs.Version = true, cs.DidResume, cs.Version
		c.nc = tc
	}
	if err := fr.handshake(c, t, remote, o); err != nil {
		c.nc.Close()
		return nil, err
	}
	c.hs.Took = time.Since(start)
	_ = raw.SetDeadline(time.Time{})
	laddr, _ := netip.ParseAddrPort(raw.LocalAddr().String())
	raddr, _ := netip.ParseAddrPort(raw.RemoteAddr().String())
	c.peerConn = peerConn{conn: conn{tag: tag, local: laddr}, remote: raddr, recv: l.recv}
	if !l.track(c) {
		c.nc.Close()
		return nil, ErrClosed
	}
	go l.readStream(c)
	return c, nil
}

// Handshake says how the connection was made.
func (c *streamConn) Handshake() Handshake { return c.hs }

// Send writes one SIP message (one WebSocket frame) in one Write.
func (c *streamConn) Send(b []byte) error {
	if c.closed.Load() {
		return ErrClosed
	}
	return c.framing.send(c, b)
}

// Ping sends a keep-alive ping (ping.go).
func (c *streamConn) Ping() error {
	if c.closed.Load() {
		return ErrClosed
	}
	return c.framing.ping(c)
}

// Close ends the connection in order, as a well-behaved client does
// (close.go): TLS with close_notify, WS and WSS with a Close frame
// (1000), each then waiting a little for the peer to close first. It
// returns at once: Send fails from now on, and OnClosed follows once the
// connection is gone (ErrClosed).
func (c *streamConn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.requestClose() // the reader says goodbye, ends and reports it
	return nil
}

// Abort drops the connection with a reset, saying nothing first
// (tcpConn.Abort says why). OnClosed follows. An orderly Close under way
// becomes an abort.
func (c *streamConn) Abort() error {
	c.closed.Store(true)
	c.reset()
	return nil
}

// track adds c to the connections Stop closes; false once stopped.
func (l *Loops) track(c *streamConn) bool {
	l.streamMu.Lock()
	defer l.streamMu.Unlock()
	if l.streamsStopped {
		return false
	}
	if l.streams == nil {
		l.streams = make(map[*streamConn]struct{})
	}
	l.streams[c] = struct{}{}
	l.readers.Add(1) // done when its reader has ended and reported it
	return true
}

func (l *Loops) untrack(c *streamConn) {
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
	cs := make([]*streamConn, 0, len(l.streams))
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
		c.hangUp()
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
func (c *streamConn) grow() {
	if c.pooled == nil && len(c.buf) < readChunk {
		p := readPool.Get().(*[]byte)
		c.pooled = p
		c.buf = append((*p)[:0], c.buf...)
		return
	}
	c.buf = append(c.buf, 0)[:len(c.buf)]
}

// release goes back to waiting with the idle array: all was delivered.
func (c *streamConn) release() {
	if c.pooled != nil {
		readPool.Put(c.pooled)
		c.pooled = nil
	}
	c.buf = c.idle[:0]
}

// readStream delivers what a connection receives until it ends, and
// carries out its closing (close.go).
func (l *Loops) readStream(c *streamConn) {
	defer l.readers.Done()
	deliver := func(msg []byte) {
		if c.closing.Load() != streamOpen {
			return // a goodbye was said or heard: nothing more is delivered
		}
		l.recv.OnMessageAt(c.tag, msg, time.Time{}, c.remote)
	}
	var err error
	for {
		// First what is buffered (an upgrade may have left bytes), then
		// what a read brought, even with its error.
		used, ferr := c.framing.cut(c, deliver)
		rest := copy(c.buf, c.buf[used:])
		c.buf = c.buf[:rest]
		if rest == 0 {
			c.release()
		}
		if ferr != nil {
			err = ferr
		}
		if err == errWSClosed {
			// The peer said Close and heard it back: it closes the TCP
			// connection next (RFC 6455 §7.1.1).
			c.closed.Store(true)
			_ = c.nc.SetReadDeadline(time.Now().Add(closeWait))
			err = nil
		}
		if err != nil {
			break
		}
		if len(c.buf) == cap(c.buf) {
			c.grow()
		}
		var n int
		n, err = c.nc.Read(c.buf[len(c.buf):cap(c.buf)])
		c.buf = c.buf[:len(c.buf)+n]
		if err != nil {
			err = c.readEnded(err)
		}
	}
	c.closed.Store(true)
	err = c.finish(err)
	c.release()
	l.untrack(c)
	l.recv.OnClosed(c.tag, err)
}

// writeTimeout bounds a send to a peer that stopped reading: the
// connection is then given up (its NAPs reconnect) rather than holding up
// the engine's loop.
const writeTimeout = time.Second

// write writes b whole, in one Write, so that a pong from the reader and
// a send never interleave.
func (c *streamConn) write(b []byte) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.nc.Write(b)
	if err != nil {
		// Given up: a FIN would wait behind what the peer does not take.
		_ = c.Abort()
	}
	return err
}
