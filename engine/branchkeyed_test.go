package engine

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/regstorm/regstorm/registrar"
	"github.com/regstorm/regstorm/sipwire"
)

// branchKeyedRegistrar is a registrar that keys its transactions on the
// Via branch alone, as pjsip (Asterisk) does: a request whose branch it
// has seen is taken as a retransmission and gets the first one's answer
// again. It returns its address and registrar.
func branchKeyedRegistrar(t *testing.T) (string, *registrar.Registrar) {
	t.Helper()
	reg := registrar.New(registrar.Config{})
	w := reg.NewWorker()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	go func() {
		defer wg.Done()
		seen := map[string][]byte{}
		buf := make([]byte, 65536)
		var m sipwire.Msg
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if m.Parse(buf[:n]) != nil {
				continue
			}
			key := string(m.Via.Branch)
			if ans, ok := seen[key]; ok {
				_, _ = pc.WriteTo(ans, from) // "a retransmission"
				continue
			}
			if w.Handle(buf[:n]) == registrar.Reply {
				seen[key] = append([]byte(nil), w.Out...)
				_, _ = pc.WriteTo(w.Out, from)
			}
		}
	}()
	return pc.LocalAddr().String(), reg
}

// bindingsAt is an observer that counts the registrar's bindings at the
// first snapshot (1 s into the run).
type bindingsAt struct {
	reg  *registrar.Registrar
	once sync.Once
	n    int
}

func (b *bindingsAt) Observe(*Snapshot) {
	b.once.Do(func() { b.n, _ = b.reg.Loc.Count(time.Now()) })
}

// Branches unique across NAPs, sockets and runs (RFC 3261 §8.1.1.7): with
// four sockets and two runs back to back against a registrar keyed on the
// branch alone, every NAP of each run is bound in the registrar's own
// view. With the branch made of the NAP's index in its socket and a
// counter, NAP 0 of each socket sent the same branch, and the second run
// repeated the first's: the registrar answered them as retransmissions.
func TestBranchKeyedRegistrar(t *testing.T) {
	addr, reg := branchKeyedRegistrar(t)
	for run := 1; run <= 2; run++ {
		o := baseOptions(addr, 40)
		o.Duration, o.Drain = 1200*time.Millisecond, time.Second
		obs := &bindingsAt{reg: reg}
		o.Observers = []Observer{obs}
		res, err := Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if obs.n != 40 {
			t.Errorf("run %d: %d bindings at the registrar after 1 s, want 40", run, obs.n)
		}
		checkCycle(t, res, 40)
	}
}
