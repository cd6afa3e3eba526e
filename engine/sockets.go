package engine

import (
	"errors"
	"net/netip"

	"github.com/regstorm/regstorm/netio"
	"github.com/regstorm/regstorm/sipwire"
	"golang.org/x/sys/unix"
)

// laneSockets is a lane's socket set: its shared socket (UDP: one for
// every target; streams: a connection per target) or a socket per NAP,
// the targets and each NAP's current one, and the TLS sessions its
// reconnects resume. network, target, udp and localIPs are fixed for the
// cohort's life (a change is a move to a new cohort), so goroutines may
// read them without the lock.
type laneSockets struct {
	network  sipwire.Transport
	target   string
	udp      bool
	localIPs *netio.AddrPool

	sh      []*sharedConn // --sockets shared; sh[0] is the first target's
	conns   []Conn        // --sockets per-nap; a closed one stays: its port is the NAP's
	batch   batcher       // shared UDP: the loop's sends of one step to the first target
	hostBuf []byte
	// ts: the group's targets when it has several (RFC 3263), and tgt each
	// NAP's current one (an index into ts); nil with one target.
	ts    *targetSet
	tgt   []uint8
	dialT int // the target the shared UDP socket was dialled to (its batch's), or -1
	// batching: the loop holds the lock and sends go to batch.
	batching bool
	// TLS sessions resumed by reconnects, per NAP (allocated on a NAP's
	// first dial; see stream.go); a shared connection has its own.
	sessions []*session
}

func (s *laneSockets) connFor(i uint32) Conn {
	if s.conns != nil {
		return s.conns[i]
	}
	if s.udp {
		return s.sh[0].conn
	}
	return s.sh[s.targetOf(i)].conn
}

// Send is nap.Link: during the loop's step into the batch, else straight
// to the socket. A send that fails is a lost datagram or a dead
// connection: retransmissions, Timer F and OnClosed deal with those.
func (l *lane) Send(i uint32, msg []byte) {
	l.rec.MessagesSent++
	if l.tap != nil {
		l.traceMessage(true, int64(l.co.groupIndex(l.idx, i)), l.localOf(i), l.remote, msg)
	}
	if t := l.targetOf(i); l.ts != nil && l.udp && int(t) != l.dialT {
		if c := l.connFor(i); c == nil || l.sendTo(c, msg, t) != nil {
			l.rec.SendFailures++
		}
		return
	}
	if l.batching {
		l.batch.Add(msg) // copied: msg is the machine's scratch; its losses are counted at the end
		return
	}
	if c := l.connFor(i); c == nil || c.Send(msg) != nil {
		l.rec.SendFailures++
	}
}

// Connect is nap.Link: dial for NAP i without holding the lock (a dial
// waits on the network); the outcome comes back through connected.
func (l *lane) Connect(i uint32) {
	e := l.e
	if l.conns == nil { // shared: one connection for the lane, per target
		sc := l.sh[l.targetOf(i)]
		if c := sc.conn; c != nil && !c.Closed() {
			l.d.Connected(i)
			return
		}
		sc.waiting = append(sc.waiting, i)
		if sc.dialing {
			return
		}
		sc.dialing = true
		l.dial(sc.local, sc.t, sc, func(c Conn, err error) {
			l.mu.Lock()
			defer l.mu.Unlock()
			sc.dialing = false
			if err == nil && c.Closed() {
				// Reset before it was stored: its OnClosed found the NAPs
				// still connecting and changed nothing, so this attempt failed.
				err = errClosed
			}
			if err == nil {
				sc.conn, sc.local = c, c.LocalAddr() // reconnects reuse the port: the Contact stays
				l.connMade(c)
			}
			waiting := sc.waiting
			sc.waiting = nil
			failures := l.rec.ConnectFailures
			for _, w := range waiting {
				if err == nil {
					l.d.Connected(w)
				} else {
					l.d.ConnectFailed(w)
				}
			}
			if err != nil && l.rec.ConnectFailures > failures {
				l.dialFailed(err)
			}
			l.wakeLoop()
		})
		return
	}
	from := netip.AddrPortFrom(e.localAddr(l.localIPs, l.co.groupIndex(l.idx, i)), 0)
	if old := l.conns[i]; old != nil {
		from = old.LocalAddr() // reconnect from the same port: the Contact stays
	}
	l.dial(from, l.targetOf(i), &napTag{l: l, i: i}, func(c Conn, err error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if err == nil && c.Closed() { // reset before it was stored (see above)
			err = errClosed
		}
		if err == nil {
			l.conns[i] = c
			l.connMade(c)
			l.d.Connected(i)
		} else {
			failures := l.rec.ConnectFailures
			l.d.ConnectFailed(i)
			if l.rec.ConnectFailures > failures {
				l.dialFailed(err)
			}
		}
		l.wakeLoop()
	})
}

var errClosed = errors.New("engine: connection closed before it was stored")

// dial connects from the given local address. A NAP reconnects from the
// port it had, as a gateway with a fixed SIP port does, so its Contact
// stays one binding at the registrar instead of a new one per connection;
// if that port is taken meanwhile, any port will do.
func (l *lane) dial(from netip.AddrPort, t uint8, tag any, done func(Conn, error)) {
	target := l.addrOf(t)
	l.e.net.DialAsync(l.network, from, target, tag, func(c Conn, err error) {
		if err != nil && from.Port() != 0 && (errors.Is(err, unix.EADDRINUSE) || errors.Is(err, unix.EADDRNOTAVAIL)) {
			l.e.net.DialAsync(l.network, netip.AddrPortFrom(from.Addr(), 0), target, tag, done)
			return
		}
		done(c, err)
	})
}

// wakeLoop makes the loop look at this lane's timers soon, from outside
// the loop (a finished dial armed a timer).
func (l *lane) wakeLoop() { l.e.armed(0, false) }

// socketDrops is what the kernel dropped in the lane's UDP sockets, their
// receive buffers full.
func (s *laneSockets) socketDrops() (n int64) {
	if !s.udp {
		return 0
	}
	add := func(c Conn) {
		n += c.Drops()
	}
	for _, sc := range s.sh {
		if sc.conn != nil {
			add(sc.conn)
		}
	}
	for _, c := range s.conns {
		if c != nil {
			add(c)
		}
	}
	return n
}

// localOfConn is a connection's local address, for the trace.
func (s *laneSockets) localOfConn(c Conn) netip.AddrPort {
	if c == nil {
		return s.sh0Local()
	}
	return c.LocalAddr()
}

// onClosed: a stream connection of this lane was lost.
func (l *lane) onClosed(tag any, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closedBy(err)
	if t, ok := tag.(*napTag); ok {
		if c := l.conns[t.i]; c != nil && !c.Closed() {
			return // an older connection of the NAP, already replaced
		}
		if l.rebooting[t.i] { // a reboot closed it: the NAP starts over
			delete(l.rebooting, t.i)
			l.flowGone(t.i)
			l.d.Reboot(t.i)
			return
		}
		l.d.Closed(t.i)
		l.flowGone(t.i)
		return
	}
	sc, _ := tag.(*sharedConn)
	if sc == nil || (sc.conn != nil && !sc.conn.Closed()) {
		return // an older connection of the lane, already replaced
	}
	for i := range l.d.NAPs {
		if l.targetOf(uint32(i)) == sc.t {
			l.d.Closed(uint32(i))
			l.flowGone(uint32(i))
		}
	}
}

// localOf is NAP i's socket address: its own socket's in per-nap mode,
// else the lane's.
func (s *laneSockets) localOf(i uint32) netip.AddrPort {
	if c := s.connFor(i); c != nil {
		return c.LocalAddr()
	}
	if s.conns == nil && !s.udp {
		return s.sh[s.targetOf(i)].local
	}
	return s.sh0Local()
}

// sh0Local is the lane's first shared socket's address (none per-nap).
func (s *laneSockets) sh0Local() netip.AddrPort {
	if len(s.sh) == 0 {
		return netip.AddrPort{}
	}
	return s.sh[0].local
}

// localHostPort is a NAP's Contact address: its socket's local address
// (its own socket in per-nap mode). Called under the lock.
func (l *lane) localHostPort(i uint32) ([]byte, int) {
	ap := l.localOf(i)
	l.hostBuf = ap.Addr().Unmap().AppendTo(l.hostBuf[:0])
	return l.hostBuf, int(ap.Port())
}

// udpLosses is what the kernel refused of the lane's UDP sends (the
// lane's lock held): regstorm sent faster than it could. A stream's
// refused send is a dead connection, not counted here.
func (l *lane) udpLosses() (n int64) {
	if !l.udp {
		return 0
	}
	n = l.rec.SendFailures
	if l.batch != nil {
		n += l.batch.Losses()
	}
	return n
}
