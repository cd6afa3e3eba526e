package netio

import (
	"errors"
	"net/netip"
	"time"

	"github.com/regstorm/regstorm/sipwire"
)

// The contract between netio and its user (the engine; tests put a
// simulated network in its place): a Network dials Conns of any transport,
// keyed by sipwire.Transport, and delivers what arrives to a Receiver.
// Every Conn answers every method: what a transport cannot do it says
// with an error or a zero (SendTo and NewBatch on a stream, Ping on a
// datagram socket, Drops on a connection), so the user needs no type
// assertion to find out.

// Network is a run's network: sockets that carry SIP messages (Dial, and
// DialAsync for streams, whose outcome comes back later); deliveries
// back through the Receiver it was made with; and a loop that runs its
// user's step: after every wake-up it calls step, which fires what is due
// and says how long the loop may sleep; Wake cuts a sleep short.
type Network interface {
	Dial(t sipwire.Transport, local netip.AddrPort, remote string, tag any) (Conn, error)
	DialAsync(t sipwire.Transport, local netip.AddrPort, remote string, tag any, done func(Conn, error))
	SetStep(step func() time.Duration)
	Wake()
	Stop() error
}

// Conn is one socket (UDP) or connection (TCP, TLS, WS, WSS). Send is
// safe from any goroutine. Close ends a stream in order (a FIN, a TLS
// close_notify, a WebSocket Close); Abort drops it with a reset and no
// goodbye, as a device that vanishes or reboots does.
type Conn interface {
	// Send writes one message: a datagram, or one message on the stream
	// (one WebSocket frame).
	Send(b []byte) error
	// SendTo writes one datagram to another address than the socket's
	// target (a NAP that failed over keeps its socket, and so its
	// Contact); ErrNotDatagram on a stream.
	SendTo(b []byte, to netip.AddrPort) error
	// NewBatch makes a batch for the socket's sends of one step; nil for
	// a transport that does not batch (streams).
	NewBatch() Batcher
	// Ping sends a keep-alive ping (RFC 5626: a CRLF, a WebSocket ping);
	// the pong comes to Receiver.OnPong. ErrNotStream on a datagram socket.
	Ping() error
	// Drops is how many datagrams the kernel dropped for the socket, its
	// receive buffer full; 0 for a connection and where unknown.
	Drops() int64
	// Handshake says how a tls, ws or wss connection was made; zero for
	// the others.
	Handshake() Handshake
	Close() error
	Abort() error
	// Closed tells whether the connection is gone (closed here, or
	// OnClosed already delivered).
	Closed() bool
	LocalAddr() netip.AddrPort
}

// Receiver is what a Network delivers to, on a gnet event loop (TCP), a
// stream's reading goroutine (TLS, WS, WSS) or the UDP loop's thread:
// calls for different connections may run at the same time. msg is valid
// only during the call.
type Receiver interface {
	// OnMessageAt delivers one datagram (UDP) or one framed message
	// (streams) that arrived on the connection opened with tag, with its
	// arrival time (zero: unknown, count it as arriving now; with a
	// quantum (SetQuantum) a datagram may wait in the socket, and latency
	// must not include that wait) and where it came from (a datagram's
	// source, a connection's peer).
	OnMessageAt(tag any, msg []byte, arrived time.Time, from netip.AddrPort)
	// OnClosed reports a connection lost (or closed because its stream
	// could not be framed), or closed here once it is gone.
	OnClosed(tag any, err error)
	// OnPong: a CRLF (TCP, TLS) or a pong frame (WS, WSS) arrived on the
	// connection opened with tag.
	OnPong(tag any)
}

// Batcher gathers the datagrams a socket sends during one step into few
// system calls.
type Batcher interface {
	Add(b []byte)
	Flush()
	Losses() int64 // datagrams the kernel did not take, so far
	// GSO: segmented messages sent, the datagrams they carried, and
	// segmented messages the kernel refused (sent again one by one).
	GSO() (sends, datagrams, refused int64)
}

var (
	// ErrNotDatagram is SendTo on a stream connection.
	ErrNotDatagram = errors.New("netio: SendTo on a stream connection")
	// ErrNotStream is a keep-alive Ping on a datagram socket.
	ErrNotStream = errors.New("netio: a keep-alive ping on a datagram socket")
)

var _ Network = (*Loops)(nil)
var (
	_ Conn = (*udpConn)(nil)
	_ Conn = (*tcpConn)(nil)
	_ Conn = (*streamConn)(nil)
)
