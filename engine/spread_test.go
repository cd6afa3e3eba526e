package engine

import (
	"testing"
	"time"

	"github.com/regstorm/regstorm/netsim"
)

// peakPerSecond is the most requests of a kind that reached target in one
// second between from and to, and how many there were.
func peakPerSecond(n *simNet, from, to time.Duration, pick func(netsim.Send) bool) (peak, total int) {
	per := map[int64]int{}
	for _, s := range n.Sent() {
		if s.At >= from && s.At < to && pick(s) {
			per[int64(s.At/time.Second)]++
			total++
		}
	}
	for _, c := range per {
		peak = max(peak, c)
	}
	return peak, total
}

// An initial delay spreads the first REGISTERs of NAPs started together
// over the delay: 1 000 NAPs over 10 s, about 100 a second; every NAP
// registered within the delay and a round trip.
func TestInitialDelaySpreadsTheFirstRegisters(t *testing.T) {
	n := newSimNet(t, simX)
	e := startSim(t, n, Options{Groups: []Group{simGroup("g", 1000, simX)}, InitialDelay: 10 * time.Second,
		Duration: 20 * time.Second, Drain: 5 * time.Second})
	var at10 int
	n.At(10*time.Second+30*time.Millisecond, func() { at10 = n.Bindings(simX) })
	n.run(e, 100*time.Second)
	res, _ := e.Wait()
	checkSums(t, res)
	peak, total := peakPerSecond(n, 0, 11*time.Second, func(s netsim.Send) bool { return s.Expires != 0 })
	if total != 1000 || peak > 150 {
		t.Errorf("first REGISTERs: %d, at most %d in one second (want 1000, about 100 a second)", total, peak)
	}
	if at10 != 1000 {
		t.Errorf("%d bound at 10.03 s, want all 1000", at10)
	}
}

// NAPs registered together refresh together (half their interval later,
// all in one second) unless their expires differ: with a jitter of 60 s on
// 600 s, the refreshes spread over 30 s.
func TestExpiresJitterSpreadsTheRefreshWave(t *testing.T) {
	for _, jitter := range []uint32{0, 60} {
		n := newSimNet(t, simX)
		g := simGroup("g", 1000, simX)
		g.NAP.Expires, g.NAP.ExpiresJitter = 600, jitter
		e := startSim(t, n, Options{Groups: []Group{g}, Window: 1000, Duration: 400 * time.Second, Drain: 5 * time.Second})
		n.run(e, 1000*time.Second)
		res, _ := e.Wait()
		checkSums(t, res)
		peak, total := peakPerSecond(n, 200*time.Second, 400*time.Second, func(s netsim.Send) bool { return s.Expires != 0 })
		switch {
		case total != 1000:
			t.Errorf("jitter %d: %d refreshes, want 1000", jitter, total)
		case jitter == 0 && peak != 1000:
			t.Errorf("no jitter: the refresh wave peaks at %d a second, want all 1000 in one", peak)
		case jitter > 0 && peak > 80:
			t.Errorf("jitter %d s: the refresh wave peaks at %d a second, want about 1000/30", jitter, peak)
		}
		t.Logf("jitter %d s: refresh peak %d/s", jitter, peak)
	}
}
