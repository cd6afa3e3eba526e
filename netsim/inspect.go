package netsim

// What a test reads of the run: the requests as the network carried
// them, the program's answers, the registrars' bindings.

// Sends lists the requests sent to target from user, in order ("": any).
func (n *Network) Sends(target, user string) []Send {
	var out []Send
	for _, s := range n.sent {
		if (target == "" || s.Target == target) && (user == "" || s.User == user) {
			out = append(out, s)
		}
	}
	return out
}

// Sent is every request sent, in order.
func (n *Network) Sent() []Send { return n.sent }

// Sockets is every socket or connection that sent a request, in the order
// of their first.
func (n *Network) Sockets() []*Conn { return n.socks }

// Answers is the program's responses to the requests DeliverRequest gave
// it, in order.
func (n *Network) Answers() []Answer { return n.answer }

// Pings is how many keep-alive pings were sent.
func (n *Network) Pings() int { return n.pings }

// Bindings counts the bindings at target's registrar now (0 behind a
// Peer).
func (n *Network) Bindings(target string) int {
	r := n.regs[target]
	if r == nil || r.reg == nil {
		return 0
	}
	c, _ := r.reg.Loc.Count(Epoch.Add(n.clock.Now()))
	return c
}
