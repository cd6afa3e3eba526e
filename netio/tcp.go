package netio

// TCP connections run on gnet/v2 client event loops, started with the
// first TCP dial; OnTraffic frames what arrives into messages (Messages).
// A small write goes straight to the socket from the sender's goroutine; a
// write the kernel cannot take at once is queued on the connection's loop.

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
	"golang.org/x/sys/unix"
)

// gnetEvents is what gnet calls back: kept off Loops' own methods, so
// that OnTraffic and OnClose are not part of the package's API.
type gnetEvents struct {
	gnet.BuiltinEventEngine
	l *Loops
}

// Logf is where netio reports what it cannot return as an error: gnet's
// own errors, from its event loops. The program decides where that goes;
// nil drops it.
type Logf func(format string, args ...any)

// quiet is a gnet logger that keeps stdout clean for JSON output and
// passes only errors on, to logf, as "gnet: ...".
type quiet struct{ logf Logf }

func (quiet) Debugf(string, ...any) {}
func (quiet) Infof(string, ...any)  {}
func (quiet) Warnf(string, ...any)  {}
func (q quiet) Errorf(f string, a ...any) {
	if q.logf != nil {
		q.logf("gnet: "+f, a...)
	}
}

// Fatalf is an error like any other: a library does not end the program
// (gnet calls it on kqueue systems only, and its package logger, not this).
func (q quiet) Fatalf(f string, a ...any) { q.Errorf(f, a...) }

// GnetLogger is the option every gnet engine of regstorm uses: gnet's
// errors go to logf (nil: dropped), the rest is not said.
func GnetLogger(logf Logf) gnet.Option { return gnet.WithLogger(quiet{logf}) }

// SetLogger says where gnet's errors go (GnetLogger); set before the first
// TCP dial. Without it they are dropped.
func (l *Loops) SetLogger(logf Logf) {
	l.tcpMu.Lock()
	l.logf = logf
	l.tcpMu.Unlock()
}

// tcp starts the gnet client on first use: a UDP-only run has none.
func (l *Loops) tcp() (*gnet.Client, error) {
	l.tcpMu.Lock()
	defer l.tcpMu.Unlock()
	if l.cli != nil {
		return l.cli, nil
	}
	cli, err := gnet.NewClient(&l.events, gnet.WithMulticore(true), gnet.WithNumEventLoop(l.tcpN), GnetLogger(l.logf), gnet.WithLogLevel(logging.ErrorLevel),
		gnet.WithSocketRecvBuffer(4<<20), gnet.WithSocketSendBuffer(4<<20), gnet.WithTCPNoDelay(gnet.TCPNoDelay))
	if err != nil {
		return nil, err
	}
	if err := cli.Start(); err != nil {
		return nil, err
	}
	l.cli = cli
	return cli, nil
}

// tcpConn is a TCP connection on a gnet event loop; the gnet connection
// carries it as its context.
type tcpConn struct {
	peerConn
	gc     gnet.Conn
	fd     int
	queued atomic.Int32 // writes handed to the loop and not yet done
	mu     sync.Mutex   // orders direct and queued writes
	abort  atomic.Bool  // close with a reset (Abort), done in OnClose
}

// Send writes one message. Safe from any goroutine.
func (c *tcpConn) Send(b []byte) error {
	if c.closed.Load() {
		return ErrClosed
	}
	return c.sendGnet(b)
}

// Ping sends a keep-alive ping: a double CRLF (ping.go).
func (c *tcpConn) Ping() error { return c.Send(crlfPing) }

// Handshake is zero: a TCP connection has none besides TCP's own.
func (c *tcpConn) Handshake() Handshake { return Handshake{} }

// Close ends the connection in order, as a well-behaved client does
// (close.go): a FIN, after anything queued. It returns at once: Send
// fails from now on, and OnClosed follows once the connection is gone
// (ErrClosed).
func (c *tcpConn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	return c.gc.Close()
}

// Abort drops the connection with a reset (RST), saying nothing first: a
// device that vanishes or reboots. The peer learns at once, and no
// TIME-WAIT or unsent data holds the local port, so the NAP may
// reconnect from it right away. OnClosed follows. An orderly Close under
// way becomes an abort.
func (c *tcpConn) Abort() error {
	c.abort.Store(true)
	if c.closed.Swap(true) {
		return nil // OnClose, still to run, sees c.abort
	}
	return c.gc.Close()
}

// OnTraffic frames what a TCP connection received into messages.
func (e *gnetEvents) OnTraffic(gc gnet.Conn) gnet.Action {
	l := e.l
	c, _ := gc.Context().(*tcpConn)
	if c == nil {
		return gnet.Close
	}
	buf, _ := gc.Peek(-1)
	used, err := Messages(buf, func(msg []byte) bool {
		l.recv.OnMessageAt(c.tag, msg, time.Time{}, c.remote)
		return true
	}, func(int) bool {
		c.pong() // CRLFs between messages: a keep-alive's pong
		return true
	})
	_, _ = gc.Discard(used)
	if err != nil {
		return gnet.Close // the stream cannot be resynchronised
	}
	return gnet.None
}

// OnClose reports a TCP connection gone.
func (e *gnetEvents) OnClose(gc gnet.Conn, err error) gnet.Action {
	if c, _ := gc.Context().(*tcpConn); c != nil {
		if c.abort.Load() {
			// Here, on the loop, the descriptor is still this socket's:
			// gnet closes it right after.
			_ = unix.SetsockoptLinger(gc.Fd(), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
		}
		c.closed.Store(true)
		e.l.recv.OnClosed(c.tag, err)
	}
	return gnet.None
}

// dialGnet connects a TCP connection and hands it to a gnet event loop.
func (l *Loops) dialGnet(local netip.AddrPort, remote string, tag any) (*tcpConn, error) {
	// No SO_LINGER: Close ends with a FIN, Abort with a reset (close.go).
	nc, err := dialTCP(context.Background(), local, remote)
	if err != nil {
		return nil, err
	}
	laddr, _ := netip.ParseAddrPort(nc.LocalAddr().String())
	raddr, _ := netip.ParseAddrPort(nc.RemoteAddr().String())
	c := &tcpConn{peerConn: peerConn{conn: conn{tag: tag, local: laddr}, remote: raddr, recv: l.recv}}
	cli, err := l.tcp()
	if err != nil {
		nc.Close()
		return nil, err
	}
	gc, err := cli.EnrollContext(nc, c)
	if err != nil {
		return nil, err
	}
	c.gc, c.fd = gc, gc.Fd()
	return c, nil
}

// sendGnet writes one message on a TCP connection: straight to the
// socket when nothing is queued and the kernel takes it all, else what is
// left through the connection's loop, in order.
func (c *tcpConn) sendGnet(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.queued.Load() == 0 { // nothing pending on the loop: the socket may take it now
		n, err := unix.Write(c.fd, b)
		if err == nil && n == len(b) {
			return nil
		}
		if err != nil && err != unix.EAGAIN {
			return err
		}
		if n > 0 {
			b = b[n:]
		}
	}
	// The rest goes through the loop, in order, after anything queued.
	c.queued.Add(1)
	return c.gc.AsyncWrite(append([]byte(nil), b...), func(gnet.Conn, error) error {
		c.queued.Add(-1)
		return nil
	})
}
