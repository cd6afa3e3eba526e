package engine

import (
	"testing"
	"time"

	"github.com/regstorm/regstorm/netsim"
	"github.com/regstorm/regstorm/registrar"
	"github.com/regstorm/regstorm/sipwire"
)

// branchKeyedRegistrar is a registrar that keys its transactions on the
// Via branch alone, as pjsip (Asterisk) does: a request whose branch it
// has seen is taken as a retransmission and gets the first one's answer
// again. now is its clock.
func branchKeyedRegistrar(now func() time.Time) (*registrar.Registrar, func(req []byte) [][]byte) {
	reg := registrar.New(registrar.Config{})
	reg.Now = now
	w := reg.NewWorker()
	seen := map[string][]byte{}
	var m sipwire.Msg
	return reg, func(req []byte) [][]byte {
		if m.Parse(req) != nil {
			return nil
		}
		key := string(m.Via.Branch)
		if ans, ok := seen[key]; ok {
			return [][]byte{ans} // "a retransmission"
		}
		if w.Handle(req) != registrar.Reply {
			return nil
		}
		seen[key] = append([]byte(nil), w.Out...)
		return [][]byte{seen[key]}
	}
}

// Branches unique across NAPs, sockets and runs (RFC 3261 §8.1.1.7): with
// four sockets and two runs back to back against a registrar keyed on the
// branch alone, every NAP of each run is bound in the registrar's own
// view. With the branch made of the NAP's index in its socket and a
// counter, NAP 0 of each socket sent the same branch, and the second run
// repeated the first's: the registrar answered them as retransmissions.
func TestBranchKeyedRegistrar(t *testing.T) {
	var n *simNet // the run's network: the registrar lives across both
	reg, peer := branchKeyedRegistrar(func() time.Time { return netsim.Epoch.Add(n.Now()) })
	var from time.Duration // the second run begins where the first ended
	for run := 1; run <= 2; run++ {
		n = newSimNet(t)
		n.Clock().Set(from)
		n.Peer(simX, peer)
		o := baseOptions(simX, 40)
		o.Duration, o.Drain = 1200*time.Millisecond, time.Second
		bound := -1
		n.At(from+time.Second, func() { bound, _ = reg.Loc.Count(netsim.Epoch.Add(n.Now())) })
		e := startSim(t, n, o)
		n.run(e, from+time.Minute)
		res, _ := e.Wait()
		if bound != 40 {
			t.Errorf("run %d: %d bindings at the registrar after 1 s, want 40", run, bound)
		}
		checkCycle(t, res, 40)
		from = n.Now() + time.Second
	}
}
