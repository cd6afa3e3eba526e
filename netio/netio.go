// Package netio carries SIP messages between regstorm's NAPs and a target,
// from chosen local addresses, over every transport of sipwire.Transport
// behind one contract (transport.go: Network, Conn, Receiver). One type
// of Conn and one file per transport: udpConn in udp.go (bound sockets on
// one epoll loop thread with recvmmsg and sendmmsg; it says why not
// gnet), tcpConn in tcp.go (gnet/v2 event loops), and streamConn in
// stream.go (a goroutine per connection) with the framing of tls.go or
// ws.go (ws and wss); framing.go holds the framing they share with the
// registrar. Sends are safe from any goroutine: a UDP datagram or a small
// TCP write goes straight to the socket; a TCP write the kernel cannot
// take at once is queued on the connection's event loop.
package netio

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"

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
	streamCfgs     map[string]*tls.Config   // per host, for dials without a session cache
	streams        map[*streamConn]struct{} // open tls, ws and wss connections
	streamsStopped bool
	readers        sync.WaitGroup // the tracked streams' reading goroutines
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

// conn is what a connection of every transport holds: the tag its
// deliveries carry, its local address, and whether it is gone.
type conn struct {
	tag    any
	local  netip.AddrPort
	closed atomic.Bool
}

// LocalAddr is the socket's local address and port.
func (c *conn) LocalAddr() netip.AddrPort { return c.local }

// Closed tells whether the connection is gone (closed here, or OnClosed
// already delivered): a TCP connection can be reset by the peer before
// Dial's caller has even stored it.
func (c *conn) Closed() bool { return c.closed.Load() }

// peerConn is what a connection to one peer (TCP, TLS, WS, WSS) holds
// besides: the peer, and the receiver told of its pongs. It answers the
// abilities of a datagram socket with a refusal or a zero.
type peerConn struct {
	conn
	remote netip.AddrPort
	recv   Receiver
}

// SendTo: a connection has one peer.
func (c *peerConn) SendTo([]byte, netip.AddrPort) error { return ErrNotDatagram }

// NewBatch is nil: a connection does not batch.
func (c *peerConn) NewBatch() Batcher { return nil }

// Drops is 0: a connection does not drop.
func (c *peerConn) Drops() int64 { return 0 }

// pong tells the receiver of a pong on the connection.
func (c *peerConn) pong() { c.recv.OnPong(c.tag) }

// Dial opens a socket of transport t from local (port 0: any) to remote.
func (l *Loops) Dial(t sipwire.Transport, local netip.AddrPort, remote string, tag any) (Conn, error) {
	return l.dial(t, local, remote, tag)
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

// dial is the one place a transport picks its code: udpConn (udp.go),
// tcpConn (tcp.go), and streamConn (stream.go) with the framing of tls
// (tls.go) or of ws and wss (ws.go).
func (l *Loops) dial(t sipwire.Transport, local netip.AddrPort, remote string, tag any) (Conn, error) {
	switch t {
	case sipwire.UDP:
		return asConn(l.dialUDP(local, remote, tag))
	case sipwire.TCP:
		return asConn(l.dialGnet(local, remote, tag))
	case sipwire.TLS:
		return asConn(l.dialStream(t, tlsFraming{}, local, remote, tag))
	case sipwire.WS, sipwire.WSS:
		return asConn(l.dialStream(t, wsFraming{}, local, remote, tag))
	}
	return nil, fmt.Errorf("netio: unknown transport %d", t)
}

// asConn is a dial's outcome as a Conn: nil on failure, not a typed nil
// in an interface.
func asConn[C Conn](c C, err error) (Conn, error) {
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ErrClosed is returned by Send on a closed connection.
var ErrClosed = errors.New("netio: connection closed")
