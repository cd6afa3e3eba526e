package engine

import (
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/regstorm/regstorm/netio"
	"github.com/regstorm/regstorm/sipwire"
)

// Network is the engine's one contract with every transport:
//   - sockets that carry a lane's messages (Dial, and DialAsync for
//     streams, whose outcome comes back later);
//   - deliveries back through the Receiver the network was made with
//     (OnMessageAt for datagrams and framed stream messages, OnClosed for
//     a stream lost);
//   - a loop that runs the engine's step: after every wake-up it calls
//     step, which fires what is due and says how long the loop may sleep;
//     Wake cuts a sleep short.
//
// netio is the real network: one epoll thread runs the UDP sockets and the
// step, gnet runs TCP. Tests use a simulated one, so the whole engine runs
// in simulated time.
type Network interface {
	Dial(t sipwire.Transport, local netip.AddrPort, remote string, tag any) (Conn, error)
	DialAsync(t sipwire.Transport, local netip.AddrPort, remote string, tag any, done func(Conn, error))
	SetStep(step func() time.Duration)
	Wake()
	Stop() error
}

// Conn is one socket or connection of a lane. Close ends a stream in
// order (a FIN, a TLS close_notify, a WebSocket Close); Abort drops it with
// a reset and no goodbye, as a device that vanishes or reboots does.
type Conn interface {
	Send(b []byte) error
	Close() error
	Abort() error
	Closed() bool
	LocalAddr() netip.AddrPort
}

// Receiver is what a network delivers to: the engine.
type Receiver interface {
	// OnMessageAt delivers a message with its arrival time (zero:
	// unknown, count it as arriving now) and where it came from.
	OnMessageAt(tag any, msg []byte, arrived time.Time, from netip.AddrPort)
	OnClosed(tag any, err error)
}

// batcher gathers datagrams sent during one step into few system calls.
type batcher interface {
	Add(b []byte)
	Flush()
	Losses() int64 // datagrams the kernel did not take, so far
	// GSO: segmented messages sent, the datagrams they carried, and
	// segmented messages the kernel refused (sent again one by one).
	GSO() (sends, datagrams, refused int64)
}

// batching is what a network that can batch a socket's sends offers.
type batching interface {
	newBatch(c Conn) batcher
}

// netioNetwork adapts netio to Network.
type netioNetwork struct {
	l     *netio.Loops
	dials chan struct{} // bounds the TCP dials in progress
}

// receiverAdapter lets the engine's Receiver take netio's deliveries.
type receiverAdapter struct{ r Receiver }

func (a receiverAdapter) OnMessage(tag any, msg []byte) {
	a.r.OnMessageAt(tag, msg, time.Time{}, netip.AddrPort{})
}
func (a receiverAdapter) OnMessageAt(tag any, msg []byte, arrived time.Time, from netip.AddrPort) {
	a.r.OnMessageAt(tag, msg, arrived, from)
}
func (a receiverAdapter) OnClosed(tag any, err error) { a.r.OnClosed(tag, err) }
func (a receiverAdapter) OnPong(tag any) {
	if p, ok := a.r.(netio.PongReceiver); ok {
		p.OnPong(tag)
	}
}

func newNetio(r Receiver, tcpLoops int, tick time.Duration, gso bool, streams netio.StreamOptions) (Network, error) {
	l, err := netio.Start(receiverAdapter{r}, tcpLoops)
	if err != nil {
		return nil, err
	}
	l.SetLogger(stderrLog)
	l.SetQuantum(tick)
	l.SetGSO(gso)
	l.SetStreamOptions(streams)
	return &netioNetwork{l: l, dials: make(chan struct{}, 64)}, nil
}

func (n *netioNetwork) Dial(t sipwire.Transport, local netip.AddrPort, remote string, tag any) (Conn, error) {
	c, err := n.l.Dial(t, local, remote, tag)
	if err != nil {
		return nil, err // not a typed nil in an interface
	}
	return c, nil
}

// DialAsync dials on a goroutine of its own (a connect blocks), at most 64
// at a time.
func (n *netioNetwork) DialAsync(t sipwire.Transport, local netip.AddrPort, remote string, tag any, done func(Conn, error)) {
	go func() {
		n.dials <- struct{}{}
		c, err := n.Dial(t, local, remote, tag)
		<-n.dials
		done(c, err)
	}()
}

func (n *netioNetwork) SetStep(step func() time.Duration) { n.l.SetStep(step) }
func (n *netioNetwork) Wake()                             { n.l.Wake() }
func (n *netioNetwork) Stop() error                       { return n.l.Stop() }
func (n *netioNetwork) newBatch(c Conn) batcher           { return netio.NewBatch(c.(*netio.Conn)) }

// stderrLog is where netio's errors (gnet's) go: stderr, as
// "regstorm: gnet: ...".
func stderrLog(f string, a ...any) { fmt.Fprintf(os.Stderr, "regstorm: "+f+"\n", a...) }
