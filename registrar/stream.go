package registrar

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"

	"github.com/regstorm/regstorm/netio"
)

// TLS, WS and WSS are served outside gnet: crypto/tls needs a blocking
// net.Conn, so each connection gets a goroutine (handshake, then a read
// loop), and each transport a listener of its own with an accept loop.

const (
	// readSize is a stream connection's first read buffer: a REGISTER
	// fits, and an idle connection keeps no more than this.
	readSize = 2048
	// writeTimeout bounds a write to a client that does not read, so that
	// a delayed answer's timer never hangs on it.
	writeTimeout = 10 * time.Second
)

// streamListener is one TLS, WS or WSS listener.
type streamListener struct {
	transport string
	ln        net.Listener
	addr      string // host:port, as AddrOf gives it
}

// streamConn is one accepted TLS, WS or WSS connection.
type streamConn struct {
	s    *Server
	raw  net.Conn // the TCP connection: Server.Close closes it
	conn net.Conn // raw, or the tls.Conn over it
	ws   bool     // WS or WSS: SIP in WebSocket frames

	mu     sync.Mutex // serialises writes: delayed answers write from timers
	closed bool

	frag  []byte                 // a fragmented WebSocket message being gathered
	crlfs int                    // CRLFs since the last message: a keep-alive ping at 4
	whdr  [ws.MaxHeaderSize]byte // writeFrame's, under mu
	wout  appendWriter           // writeFrame's, under mu
}

// PortInUseError is Listen's refusal of a port another process holds; it
// matches ErrPortInUse.
type PortInUseError struct {
	Transport, Addr string
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("%s %s: %v", e.Transport, e.Addr, ErrPortInUse)
}

func (e *PortInUseError) Unwrap() error { return ErrPortInUse }

// listenStream opens the listener of one stream endpoint. Like gnet's, it
// sets SO_REUSEPORT, so that a registrar started with --reuseport can
// share the port; without reusePort a probe without it first refuses a
// port held elsewhere. A free port (0) is never shared. Go's net.Listen
// sets SO_REUSEADDR, so a restart on a port with connections left in
// TIME-WAIT binds at once.
func listenStream(host string, ep Endpoint, reusePort bool) (*streamListener, error) {
	addr := net.JoinHostPort(host, strconv.Itoa(ep.Port))
	var lc net.ListenConfig
	if ep.Port != 0 {
		if !reusePort {
			probe, err := net.Listen("tcp", addr)
			if err != nil {
				return nil, listenError(ep.Transport, addr, err)
			}
			probe.Close()
		}
		lc.Control = setReusePort
	}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, listenError(ep.Transport, addr, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	return &streamListener{transport: ep.Transport, ln: ln, addr: net.JoinHostPort(host, strconv.Itoa(port))}, nil
}

func listenError(transport, addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return &PortInUseError{Transport: transport, Addr: addr}
	}
	return fmt.Errorf("registrar: %s: %w", transport, err)
}

func setReusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return err
	}
	return serr
}

// accept runs one listener's accept loop until Close.
func (s *Server) accept(sl *streamListener) {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		raw, err := sl.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors and the like: wait, as net/http does,
			// rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-s.stop:
				return
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		c := &streamConn{s: s, raw: raw, conn: raw, ws: sl.transport != "tls"}
		if !s.track(c) {
			raw.Close()
			return
		}
		go c.serve(sl.transport)
	}
}

// track registers c for Close, and counts its goroutine; false once the
// server is closing.
func (s *Server) track(c *streamConn) bool {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c *streamConn) {
	s.connMu.Lock()
	delete(s.conns, c)
	s.connMu.Unlock()
	s.wg.Done()
}

// closeStreams stops accepting, drops every stream connection (no
// close_notify: Close is the registrar going away) and waits for their
// goroutines.
func (s *Server) closeStreams() {
	s.connMu.Lock()
	s.closing = true
	for _, sl := range s.streams {
		sl.ln.Close()
	}
	for c := range s.conns {
		c.raw.Close()
	}
	s.connMu.Unlock()
	s.wg.Wait()
}

// serve handshakes (TLS, then the WebSocket upgrade), both within the
// handshake timeout, then reads until the connection ends.
func (c *streamConn) serve(transport string) {
	defer c.s.untrack(c)
	defer c.close(0)
	_ = c.raw.SetDeadline(time.Now().Add(c.s.Reg.cfg.HandshakeTimeout))
	if transport != "ws" {
		tc := tls.Server(c.raw, c.s.tls)
		if err := tc.Handshake(); err != nil {
			c.s.tlsFailed.Add(1)
			return
		}
		c.s.tlsDone.Add(1)
		c.conn = tc
	}
	if c.ws && !c.upgrade() {
		return
	}
	_ = c.raw.SetDeadline(time.Time{}) // a SIP flow may idle for hours
	if c.ws {
		c.readFrames()
	} else {
		c.readStream()
	}
}

// readStream cuts the TLS byte stream into SIP messages as the gnet TCP
// path does; a stream that cannot be framed is closed.
func (c *streamConn) readStream() {
	buf := make([]byte, 0, readSize)
	for {
		if len(buf) == cap(buf) { // a message larger than the buffer: grow
			buf = append(buf, make([]byte, cap(buf))...)[:len(buf)]
		}
		n, rerr := c.conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		done := false
		start, err := netio.Messages(buf, func(msg []byte) bool {
			c.crlfs = 0
			done = !c.handle(msg)
			return !done
		}, func(n int) bool {
			done = c.s.pingSeen(&c.crlfs, n) && !c.send(crlfPong, false)
			return !done
		})
		if err != nil || done {
			return // the stream cannot be resynchronised, or the connection is done
		}
		buf = buf[:copy(buf, buf[start:])]
		if len(buf) == 0 && cap(buf) > readSize {
			buf = make([]byte, 0, readSize) // an idle connection keeps a small buffer
		}
		if rerr != nil {
			return
		}
	}
}

// handle answers one message as Handle decides: now, later, or not. It
// returns false when the connection is done (closed after the answer, or
// broken). The worker goes back to the pool before any write, so a client
// that does not read holds a copy of the answer, never a worker.
func (c *streamConn) handle(msg []byte) bool {
	s := c.s
	w := s.pool.get()
	v := w.Handle(msg)
	var out *[]byte
	if v != Ignore {
		out = outPool.Get().(*[]byte)
		*out = append((*out)[:0], w.Out...)
	}
	s.pool.put(w)
	closeAfter := s.Reg.cfg.CloseAfterAnswer
	switch v {
	case Reply:
		ok := c.send(*out, closeAfter)
		outPool.Put(out)
		return ok && !closeAfter
	case Later:
		time.AfterFunc(s.Reg.cfg.Delay, func() {
			c.send(*out, closeAfter)
			outPool.Put(out)
		})
	}
	return true
}

// outPool holds copies of answers on their way out.
var outPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// send writes one SIP message (in a text frame on WS), then closes the
// connection if asked; false when the connection is closed.
func (c *streamConn) send(msg []byte, closeAfter bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	var err error
	if c.ws {
		err = c.writeFrame(ws.OpText, msg)
	} else {
		_, err = c.conn.Write(msg)
	}
	if err != nil || closeAfter {
		c.closeLocked(ws.StatusNormalClosure)
		return false
	}
	return true
}

// close ends the connection; status, if not 0, goes in a WebSocket close
// frame first.
func (c *streamConn) close(status ws.StatusCode) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(status)
}

func (c *streamConn) closeLocked(status ws.StatusCode) {
	if c.closed {
		return
	}
	c.closed = true
	if c.ws && status != 0 {
		_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second))
		_ = c.writeFrame(ws.OpClose, closeBody(status))
	}
	_ = c.conn.Close() // TLS: close_notify first, bounded by Go (5 s)
}
