package engine

import (
	"context"
	"testing"
	"time"

	"github.com/regstorm/regstorm/identity"
	"github.com/regstorm/regstorm/nap"
	"github.com/regstorm/regstorm/netsim"
)

// simNet is the simulated network (netsim) as the engine's tests drive
// it: a whole run in simulated time, every send at an exact time.
type simNet struct {
	*netsim.Network
	t *testing.T
}

func newSimNet(t *testing.T, targets ...string) *simNet {
	return &simNet{Network: netsim.New(targets...), t: t}
}

// options plugs the simulated clock and network into o.
func (n *simNet) options(o Options) Options {
	o.Clock = n.Clock()
	if o.SnapshotEvery == 0 {
		o.SnapshotEvery = time.Minute // hours of simulated time: a snapshot a second costs more than the run
	}
	o.NewNetwork = n.NewNetwork
	if o.HostCPU == nil {
		o.HostCPU = netsim.HostCPU
	}
	return o
}

// run drives the engine until its run is done (or until the bound).
func (n *simNet) run(e *Engine, bound time.Duration) {
	n.t.Helper()
	if err := n.Run(e.Done(), bound); err != nil {
		n.t.Fatal(err)
	}
}

// simGroup is a group of n NAPs at target, seed timers.
func simGroup(name string, n int, target string) Group {
	up, _ := identity.ParsePattern(name + "%03d")
	pp, _ := identity.ParsePattern("secret")
	return Group{Name: name, NAPs: n, Register: true, Target: target, NAP: nap.DefaultConfig(),
		Identity: identity.Identity{UserPattern: up, UserStart: 0, PasswordPattern: pp}}
}

// startSim starts an engine on the simulated network.
func startSim(t *testing.T, n *simNet, o Options) *Engine {
	t.Helper()
	e, err := Start(context.Background(), n.options(o))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// reloadAt applies groups at simulated time at, as SIGHUP would.
func (n *simNet) reloadAt(e *Engine, at time.Duration, groups ...Group) {
	n.At(at, func() {
		e.ctrlQ <- func(now time.Duration) { e.applyReload(withDomains(groups), now) }
	})
}
