package engine

import (
	"testing"
	"time"

	"github.com/regstorm/regstorm/sipwire"
)

// A dial still under way when its NAPs stop fails no NAP: its reason is
// not counted either, so connect_failure_reasons never outnumber
// connect_failures (a dial refused after the stop was counted under its
// reason alone). Per-NAP connections and a shared one alike.
func TestDialEndingAfterTheStopFailsNoNAP(t *testing.T) {
	for _, perNAP := range []bool{true, false} {
		name := map[bool]string{true: "per-nap", false: "shared"}[perNAP]
		t.Run(name, func(t *testing.T) {
			n := newSimNet(t, simX)
			n.Kill(0, simX) // every connect refused, a round trip after the dial (20 ms)
			o := baseOptions(simX, 50)
			o.Groups[0].NAP.Transport = sipwire.TCP
			o.PerNAP = perNAP
			o.Duration, o.Drain = 100*time.Millisecond, time.Second
			o.Groups[0].NAP.Retry = 70 * time.Millisecond // the second dials are under way at the stop (90–110 ms)
			e := startSim(t, n, o)
			n.run(e, time.Minute)
			res, _ := e.Wait()
			s := res.Summary
			var reasons int64
			for _, c := range s.ConnectFailureReasons {
				reasons += c
			}
			if s.ConnectFailures == 0 || reasons == 0 {
				t.Fatalf("connect failures %d, reasons %v: the test needs refused dials", s.ConnectFailures, s.ConnectFailureReasons)
			}
			if perNAP && reasons != s.ConnectFailures {
				t.Errorf("%d dials failed by reason, %d connect failures: every reason must be a NAP's failure", reasons, s.ConnectFailures)
			}
			if reasons > s.ConnectFailures {
				t.Errorf("%d reasons outnumber %d connect failures", reasons, s.ConnectFailures)
			}
			checkSums(t, res)
		})
	}
}
