// Package netio carries SIP messages between regstorm's NAPs and a target:
// UDP sockets (bound, sending to the target, taking answers from any
// address) and TCP connections, from chosen local addresses. TCP runs
// on gnet/v2 event loops, framed into whole messages; UDP runs on one
// epoll loop thread with recvmmsg and sendmmsg (udp.go says why not
// gnet). Sends are safe from any goroutine: a UDP datagram or a small
// TCP write goes straight to the socket; a TCP write the kernel cannot
// take at once is queued on the connection's event loop.
package netio

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
	"golang.org/x/sys/unix"

	"github.com/regstorm/regstorm/sipwire"
)

// Loops is the network of a run: one epoll loop thread for the UDP
// sockets, which also runs the owner's step (SetStep), and gnet client
// event loops for TCP, started with the first TCP connection.
type Loops struct {
	recv   Receiver
	udp    *udpLoop // UDP sockets, read outside gnet (see udp.go)
	tcpN   int      // gnet event loops to start
	tcpMu  sync.Mutex
	logf   Logf          // gnet's errors (SetLogger)
	cli    *gnet.Client  // nil until a TCP connection is dialled
	dials  chan struct{} // bounds the DialAsync dials in progress
	events gnetEvents

	streamMu       sync.Mutex // guards the fields below
	streamOpts     StreamOptions
	streamCfgs     map[string]*tls.Config // per host, for dials without a session cache
	streams        map[*socket]struct{}   // open tls, ws and wss connections
	streamsStopped bool
	readers        sync.WaitGroup // the tracked streams' reading goroutines
}

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

// QuietLogger is GnetLogger writing to stderr as "regstorm: gnet: ...".
//
// Deprecated: the registrar's, until it passes a Logf of its own to
// GnetLogger; the last of netio that writes to stderr.
func QuietLogger() gnet.Option {
	return GnetLogger(func(f string, a ...any) { fmt.Fprintf(os.Stderr, "regstorm: "+f+"\n", a...) })
}

// SetLogger says where gnet's errors go (GnetLogger); set before the first
// TCP dial. Without it they are dropped.
func (l *Loops) SetLogger(logf Logf) {
	l.tcpMu.Lock()
	l.logf = logf
	l.tcpMu.Unlock()
}

// Start makes the network delivering to recv: the UDP loop thread now,
// and tcpLoops gnet event loops (0: one per core) once TCP is used.
func Start(recv Receiver, tcpLoops int) (*Loops, error) {
	l := &Loops{recv: recv, tcpN: tcpLoops, dials: make(chan struct{}, 64)}
	l.events.l = l
	if err := l.startUDP(); err != nil {
		return nil, err
	}
	return l, nil
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

// Stop closes every connection as a well-behaved client does, and stops
// the loops: a WebSocket says Close (1000) and TLS close_notify, each then
// waits a little for the peer to close first (stopStreams); TCP ends with
// a FIN, written after anything still queued (gnet closes what it still
// holds when it stops). close.go says why a FIN and not a reset.
func (l *Loops) Stop() error {
	l.stopUDP()
	l.stopStreams()
	l.tcpMu.Lock()
	defer l.tcpMu.Unlock()
	if l.cli == nil {
		return nil
	}
	return l.cli.Stop()
}

// socket is one socket or connection to the target: a Conn of any transport.
type socket struct {
	gc     gnet.Conn // TCP
	st     *stream   // TLS, WS, WSS
	hs     Handshake // how a tls, ws or wss connection was made
	recv   Receiver  // streams: told of pongs
	fd     int
	tcp    bool
	tag    any
	local  netip.AddrPort
	remote netip.AddrPort // TCP: the peer
	queued atomic.Int32   // TCP writes handed to the loop and not yet done
	// UDP: the target, for sendto (the socket is not connected).
	peer    unix.RawSockaddrInet6
	peerLen uint32
	gso     bool       // its batches may segment (SetGSO, and the kernel can)
	mu      sync.Mutex // orders direct and queued TCP writes
	closed  atomic.Bool
	abort   atomic.Bool // TCP: close with a reset (Abort), set in OnClose
}

// connState is what a gnet connection carries as its context.
type connState struct {
	c *socket
}

// Dial opens a socket of transport t from local (port 0: any) to remote.
func (l *Loops) Dial(t sipwire.Transport, local netip.AddrPort, remote string, tag any) (Conn, error) {
	c, err := l.dial(t, local, remote, tag)
	if err != nil {
		return nil, err // not a typed nil in an interface
	}
	return c, nil
}

// DialAsync dials on a goroutine of its own (a connect blocks), at most 64
// at a time, and hands the outcome to done there.
func (l *Loops) DialAsync(t sipwire.Transport, local netip.AddrPort, remote string, tag any, done func(Conn, error)) {
	go func() {
		l.dials <- struct{}{}
		c, err := l.Dial(t, local, remote, tag)
		<-l.dials
		done(c, err)
	}()
}

func (l *Loops) dial(t sipwire.Transport, local netip.AddrPort, remote string, tag any) (*socket, error) {
	var nc net.Conn
	var err error
	switch t {
	case sipwire.UDP:
		return l.dialUDP(local, remote, tag)
	case sipwire.TLS, sipwire.WS, sipwire.WSS:
		return l.dialStream(t, local, remote, tag)
	case sipwire.TCP:
		// No SO_LINGER: Close ends with a FIN, Abort with a reset (close.go).
		nc, err = dialTCP(context.Background(), local, remote)
	default:
		return nil, fmt.Errorf("netio: unknown transport %d", t)
	}
	if err != nil {
		return nil, err
	}
	laddr, _ := netip.ParseAddrPort(nc.LocalAddr().String())
	raddr, _ := netip.ParseAddrPort(nc.RemoteAddr().String())
	c := &socket{tcp: true, tag: tag, local: laddr, remote: raddr, recv: l.recv}
	cli, err := l.tcp()
	if err != nil {
		nc.Close()
		return nil, err
	}
	gc, err := cli.EnrollContext(nc, &connState{c: c})
	if err != nil {
		return nil, err
	}
	c.gc, c.fd = gc, gc.Fd()
	return c, nil
}

// reuseAddr lets a reconnect bind the port its closed connection had
// (the peer may still hold that one in TIME-WAIT, or regstorm: a port
// bound explicitly may take over a TIME-WAIT 4-tuple), and dialTCP bind
// the ports it picks. It also sets IP_BIND_ADDRESS_NO_PORT, so that a
// bind to port 0 (dialTCP's last resort) leaves the choice of the port to
// connect(): bind(0) looks for a port no socket is bound to, a search
// that grows with the sockets already bound (10^4 per-nap connections
// spent 30 % of the tester's CPU in it, bench/RESULTS.md), while
// connect() only needs the 4-tuple to be unique. An explicit port is
// unaffected; a kernel without the option (before 4.2) binds as before.
func reuseAddr(_, _ string, rc syscall.RawConn) error {
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	}); err != nil {
		return err
	}
	return serr
}

// Handshake says how a tls, ws or wss connection was made.
func (c *socket) Handshake() Handshake { return c.hs }

// LocalAddr is the socket's local address and port.
func (c *socket) LocalAddr() netip.AddrPort { return c.local }

// ErrClosed is returned by Send on a closed connection.
var ErrClosed = errors.New("netio: connection closed")

// Send writes one message. Safe from any goroutine.
func (c *socket) Send(b []byte) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if !c.tcp {
		return c.sendTo(b) // one datagram; EAGAIN drops it, as a lossy network would
	}
	if c.st != nil {
		return c.sendStream(b)
	}
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

// Closed tells whether the connection is gone (closed here, or OnClosed
// already delivered): a TCP connection can be reset by the peer before
// Dial's caller has even stored it.
func (c *socket) Closed() bool { return c.closed.Load() }

// Close ends a TCP, TLS, WS or WSS connection in order, as a
// well-behaved client does (close.go): TCP with a FIN after anything
// queued; TLS with close_notify, WS and WSS with a Close frame (1000),
// each then waiting a little for the peer to close first. It returns at
// once: Send fails from now on, and OnClosed follows once the connection
// is gone (ErrClosed). UDP sockets close with Loops.Stop, after the loop
// reading them has ended.
func (c *socket) Close() error {
	if !c.tcp {
		return errUDPClose // UDP sockets live as long as their Loops
	}
	if c.closed.Swap(true) {
		return nil
	}
	if c.st != nil {
		c.st.requestClose() // the reader says goodbye, ends and reports it
		return nil
	}
	return c.gc.Close()
}

// Abort drops the connection with a reset (RST), saying nothing first: a
// device that vanishes or reboots. The peer learns at once, and no
// TIME-WAIT or unsent data holds the local port, so the NAP may
// reconnect from it right away. OnClosed follows. An orderly Close under
// way becomes an abort.
func (c *socket) Abort() error {
	if !c.tcp {
		return errUDPClose
	}
	c.abort.Store(true)
	if c.st != nil {
		c.closed.Store(true)
		c.st.abort()
		return nil
	}
	if c.closed.Swap(true) {
		return nil // OnClose, still to run, sees c.abort
	}
	return c.gc.Close()
}

// OnTraffic frames what a TCP connection received into messages.
func (e *gnetEvents) OnTraffic(gc gnet.Conn) gnet.Action {
	l := e.l
	st, _ := gc.Context().(*connState)
	if st == nil {
		return gnet.Close
	}
	buf, _ := gc.Peek(-1)
	used, err := Messages(buf, func(msg []byte) bool {
		l.recv.OnMessageAt(st.c.tag, msg, time.Time{}, st.c.remote)
		return true
	}, func(int) bool {
		st.c.pong() // CRLFs between messages: a keep-alive's pong
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
	st, _ := gc.Context().(*connState)
	if st != nil {
		if st.c.abort.Load() {
			// Here, on the loop, the descriptor is still this socket's:
			// gnet closes it right after.
			_ = unix.SetsockoptLinger(gc.Fd(), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
		}
		st.c.closed.Store(true)
		e.l.recv.OnClosed(st.c.tag, err)
	}
	return gnet.None
}
