package engine

import (
	"time"

	"github.com/regstorm/regstorm/netio"
)

// The engine's one contract with every transport is netio's (netio's
// transport.go):
//   - Network: sockets that carry a lane's messages (Dial, and DialAsync
//     for streams, whose outcome comes back later), and a loop that runs
//     the engine's step: after every wake-up it calls step, which fires
//     what is due and says how long the loop may sleep; Wake cuts a sleep
//     short;
//   - Conn: one socket or connection of a lane, every ability asked of it
//     answered by every transport (SendTo, a batch, Ping, Drops,
//     Handshake);
//   - Receiver: the engine, which the network delivers to (OnMessageAt
//     for datagrams and framed stream messages, OnClosed for a stream
//     lost, OnPong for a keep-alive's answer).
//
// netio is the real network: one epoll thread runs the UDP sockets and the
// step, gnet runs TCP. Tests use a simulated one, so the whole engine runs
// in simulated time.
type (
	Network  = netio.Network
	Conn     = netio.Conn
	Receiver = netio.Receiver
	batcher  = netio.Batcher
)

func newNetio(r Receiver, tcpLoops int, tick time.Duration, gso bool, streams netio.StreamOptions, logf netio.Logf) (Network, error) {
	l, err := netio.Start(r, tcpLoops)
	if err != nil {
		return nil, err
	}
	l.SetLogger(logf)
	l.SetQuantum(tick)
	l.SetGSO(gso)
	l.SetStreamOptions(streams)
	return l, nil
}
