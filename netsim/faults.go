package netsim

import (
	"net/netip"
	"time"

	"github.com/regstorm/regstorm/registrar"
)

// What a test does to the targets and the network: outages, silences,
// odd answers, requests from the far end. The methods without a time act
// at once (from an At callback, or before Run); those with one schedule
// it.

// Kill ends target's process at simulated time at: its connections drop
// (the program sees them closed), later connects are refused, requests go
// unanswered.
func (n *Network) Kill(at time.Duration, target string) {
	n.At(at, func() {
		n.dead[target] = true
		n.closeConns(target)
	})
}

// Restart brings target's process back at simulated time at (after
// Kill), with a new registrar of cfg: no bindings, connects taken again.
func (n *Network) Restart(at time.Duration, target string, cfg registrar.Config) {
	n.At(at, func() {
		delete(n.dead, target)
		n.Configure(target, cfg)
	})
}

// DropConns closes target's end of every connection to it at simulated
// time at (a registrar restarting, a NAT forgetting): the program sees
// them closed, and may connect again at once.
func (n *Network) DropConns(at time.Duration, target string) {
	n.At(at, func() { n.closeConns(target) })
}

func (n *Network) closeConns(target string) {
	for _, c := range n.conns {
		if c.target == target && !c.closed {
			c.closed = true
			n.recv.OnClosed(c.tag, ErrRefused)
		}
	}
}

// Silence makes target stop answering at simulated time at (its process
// alive: connections stay up).
func (n *Network) Silence(at time.Duration, target string) {
	n.At(at, func() { n.SetSilent(target, true) })
}

// SetSilent makes target stop answering (true) or answer again.
func (n *Network) SetSilent(target string, on bool) { n.regs[target].silent = on }

// SetNoPong makes target answer requests but not keep-alive pings (true),
// or pings again.
func (n *Network) SetNoPong(target string, on bool) { n.noPong[target] = on }

// Rewrite changes each of target's answers on its way back (a registrar
// that answers oddly); nil: as the registrar wrote them.
func (n *Network) Rewrite(target string, fn func(out []byte) []byte) { n.regs[target].rewrite = fn }

// DeliverRequest delivers a request from the target at from to the
// program on c, now, as a registrar that pings its contacts does; the
// program's responses are in Answers.
func (n *Network) DeliverRequest(c *Conn, from string, req []byte) {
	n.recv.OnMessageAt(c.tag, req, time.Time{}, netip.MustParseAddrPort(from))
}
