package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/registrar"
)

// The avalanche restart: half of 10 000 NAPs reboot at once against a
// registrar that loses 10 % of what it receives: the recovery is measured
// (to 99 % and 100 % registered again, retransmissions meanwhile) and
// every NAP is registered again.
func TestRebootHalfRecovers(t *testing.T) {
	srv, err := registrar.Listen(registrar.New(registrar.Config{Drop: 0.1}), "127.0.0.1", 0, []string{"udp"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var out, errb bytes.Buffer
	code := run([]string{"regstorm", "--target", "sip:" + srv.Addr, "--naps", "10000", "--t1", "100ms", "--duration", "6s",
		"--reboot-at", "2s", "--reboot-fraction", "0.5", "--summary", "-"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var s metrics.Summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Events) != 1 {
		t.Fatalf("events %v", s.Events)
	}
	ev := s.Events[0]
	if ev.NAPs != 5000 || ev.Back != 5000 || ev.To99S == nil || ev.To100S == nil || *ev.To99S > *ev.To100S || ev.Retransmissions == 0 || ev.PeakRatePerS <= 0 {
		t.Fatalf("event %+v", ev)
	}
	t.Logf("5 000 rebooted at %.1f s: 99 %% in %.2f s, 100 %% in %.2f s, peak %.0f/s, %d retransmissions",
		ev.AtS, *ev.To99S, *ev.To100S, ev.PeakRatePerS, ev.Retransmissions)
	if s.Registered != 10000 {
		t.Errorf("registered %d at the end", s.Registered)
	}
	if !strings.Contains(errb.String(), "--reboot-at 2s: 5000 NAPs rebooted") || !strings.Contains(errb.String(), "reboot at 2.") {
		t.Errorf("stderr: %s", errb.String())
	}
}
