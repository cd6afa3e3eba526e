package engine

import (
	"testing"
	"time"
)

// Churn at 10 NAPs a second, each off for 5 s: over 30 s of load about
// 300 go offline and all but the last 5 s' come back. Un-REGISTERing,
// they leave the registrar with their bindings gone while off (about 50
// fewer); vanishing, their bindings stay until they expire.
func TestChurnAtARate(t *testing.T) {
	for _, silent := range []bool{false, true} {
		n := newSimNet(t, simX)
		e := startSim(t, n, Options{Groups: []Group{simGroup("g", 1000, simX)}, Churn: Churn{Rate: 10, Offline: 5 * time.Second, Silent: silent},
			Duration: 30 * time.Second, Drain: 5 * time.Second})
		var mid int
		n.At(20*time.Second, func() { mid = n.Bindings(simX) })
		n.run(e, 200*time.Second)
		res, _ := e.Wait()
		checkSums(t, res)
		c := res.Summary.Churn
		if c == nil || c.Offline < 295 || c.Offline > 305 || c.Online != c.Offline-50 || c.Silent != silent {
			t.Fatalf("silent %v: churn %+v: want about 300 offline, 50 fewer online", silent, c)
		}
		if want := 950; !silent && (mid < want-2 || mid > want+2) {
			t.Errorf("un-REGISTERing: %d bindings at 20 s, want about %d", mid, want)
		}
		if silent && mid != 1000 {
			t.Errorf("vanishing: %d bindings at 20 s, want all 1000 (left to expire)", mid)
		}
	}
}
