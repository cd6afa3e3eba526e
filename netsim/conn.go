package netsim

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/regstorm/regstorm/netio"
	"github.com/regstorm/regstorm/registrar"
	"github.com/regstorm/regstorm/sipwire"
)

// Conn is one simulated socket (UDP) or connection (the streams): a
// netio.Conn.
type Conn struct {
	n         *Network
	target    string
	transport sipwire.Transport
	tag       any
	local     netip.AddrPort
	closed    bool
}

var _ netio.Conn = (*Conn)(nil)

// Target is where the connection goes (its socket's target for UDP).
func (c *Conn) Target() string { return c.target }

// Send sends one message to the connection's target.
func (c *Conn) Send(b []byte) error { return c.sendTo(b, c.target) }

// SendTo is a datagram to another target from the same socket.
func (c *Conn) SendTo(b []byte, to netip.AddrPort) error { return c.sendTo(b, to.String()) }

// sendTo carries a request to target's registrar, and its answer back;
// a response (to a request DeliverRequest gave) is kept as an Answer.
func (c *Conn) sendTo(b []byte, target string) error {
	n := c.n
	raw := append([]byte(nil), b...)
	var m sipwire.Msg
	if err := m.Parse(raw); err != nil {
		if n.err == nil {
			n.err = fmt.Errorf("netsim: unparsable message: %v\n%s", err, raw)
		}
		return nil
	}
	if !m.IsRequest {
		n.answer = append(n.answer, Answer{At: n.clock.Now(), Conn: c, To: target, Msg: raw})
		return nil
	}
	if !n.seen[c] {
		if n.seen == nil {
			n.seen = map[*Conn]bool{}
		}
		n.seen[c] = true
		n.socks = append(n.socks, c)
	}
	s := Send{At: n.clock.Now(), Target: target, Transport: c.transport, CSeq: m.CSeq, CallID: string(m.CallID), Conn: c}
	if m.NumContacts > 0 {
		s.Expires = m.Contacts[0].Expires
	}
	_ = m.ParseAddresses()
	s.User = userOf(m.From.URI)
	n.sent = append(n.sent, s)
	r := n.regs[target]
	if r == nil || r.silent || n.dead[target] || (n.Lose != nil && n.Lose(s)) {
		return nil // nothing listens there, nothing answers, or it was lost
	}
	n.At(n.clock.Now()+n.OneWay, func() { c.serve(r, raw, target) })
	return nil
}

// serve hands a request to the registrar and sends its answer back, Delay
// later if the registrar is configured so; a registrar that closes after
// each answer closes a stream then.
func (c *Conn) serve(r *registrarAt, raw []byte, from string) {
	n := c.n
	if r.peer != nil {
		for _, out := range r.peer(raw) {
			c.answer(out, from, n.OneWay, false)
		}
		return
	}
	v := r.w.Handle(raw)
	if v == registrar.Ignore {
		return
	}
	out := append([]byte(nil), r.w.Out...)
	if r.rewrite != nil {
		out = r.rewrite(out)
	}
	back := n.OneWay
	if v == registrar.Later {
		back += r.reg.Config().Delay
	}
	c.answer(out, from, back, r.reg.Config().CloseAfterAnswer && c.transport != sipwire.UDP)
}

// answer delivers out from the target at from after d, unless the
// connection is closed by then; closeAfter closes it from the far end
// once delivered.
func (c *Conn) answer(out []byte, from string, d time.Duration, closeAfter bool) {
	n := c.n
	n.At(n.clock.Now()+d, func() {
		if c.closed {
			return
		}
		n.recv.OnMessageAt(c.tag, out, time.Time{}, netip.MustParseAddrPort(from))
		if closeAfter && !c.closed {
			c.closed = true
			n.recv.OnClosed(c.tag, ErrRefused)
		}
	})
}

// userOf is the user part of a SIP URI.
func userOf(uri []byte) string {
	s := string(uri)
	if i := len("sip:"); len(s) > i && s[:i] == "sip:" {
		s = s[i:]
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '@' {
			return s[:i]
		}
	}
	return s
}

// Close closes the connection; as a real network does, the receiver is
// told (a datagram socket's close is silent).
func (c *Conn) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	if c.transport != sipwire.UDP {
		c.n.At(c.n.clock.Now(), func() { c.n.recv.OnClosed(c.tag, ErrRefused) })
	}
	return nil
}

// Abort is Close: the simulated network has no FIN to tell from a reset.
func (c *Conn) Abort() error { return c.Close() }

// Ping is a CRLF keep-alive: the pong comes back after a round trip from
// a live target that answers pings.
func (c *Conn) Ping() error {
	n := c.n
	n.pings++
	if c.closed || c.transport == sipwire.UDP {
		return ErrRefused
	}
	if r := n.regs[c.target]; r == nil || r.silent || n.dead[c.target] || n.noPong[c.target] {
		return nil
	}
	n.At(n.clock.Now()+2*n.OneWay, func() {
		if !c.closed {
			n.recv.OnPong(c.tag)
		}
	})
	return nil
}

// Closed tells whether the connection was closed, here or by the network.
func (c *Conn) Closed() bool { return c.closed }

// Drops is 0: no kernel buffer overflows in simulated time.
func (c *Conn) Drops() int64 { return 0 }

// NewBatch is nil: the simulated socket sends one by one.
func (c *Conn) NewBatch() netio.Batcher { return nil }

// Handshake is zero: a simulated connection has no TLS.
func (c *Conn) Handshake() netio.Handshake { return netio.Handshake{} }

// LocalAddr is the socket's address: 127.0.0.1 and a port of its own.
func (c *Conn) LocalAddr() netip.AddrPort { return c.local }
