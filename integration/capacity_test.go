//go:build integration

package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// capacitySearch runs regstorm capacity against 127.0.0.1:port with the
// search's defaults (and args), and returns its result.
func capacitySearch(t *testing.T, port int, args ...string) map[string]any {
	t.Helper()
	sum := filepath.Join(t.TempDir(), "capacity.json")
	cmd := exec.Command(regstormBinary(t), append([]string{"capacity", "--target", "sip:127.0.0.1:" + strconv.Itoa(port),
		"--max-time", "300s", "--summary", sum}, args...)...)
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("regstorm capacity: %v", err)
	}
	b, err := os.ReadFile(sum)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Capacity map[string]any }
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	c := doc.Capacity
	t.Logf("search of %v, %d trials: rate %v/s, confirmed %v, limited by %v", time.Since(start).Round(time.Second),
		len(c["trials"].([]any)), c["rate_per_s"], c["confirmed"], c["limited_by"])
	return c
}

// A registrar that answers 503 above 2 000 REGISTER/s (its rate cap, a
// second's burst): the search finds the cap within 5 %, confirmed, and
// says the registrar was the limit.
func TestCapacityFindsARegistrarsRateCap(t *testing.T) {
	const capRate = 2000
	p := cappedRegistrar(t, capRate)
	c := capacitySearch(t, p)
	rate := c["rate_per_s"].(float64)
	if c["confirmed"] != true || c["limited_by"] != "registrar" || c["at_least"] != false || rate < 0.95*capRate || rate > 1.05*capRate {
		t.Errorf("found %v/s (cap %d/s), confirmed %v, limited by %v, at least %v", rate, capRate, c["confirmed"], c["limited_by"], c["at_least"])
	}
}

// Refresh mode against the same cap: 100 000 bindings registered at
// 1 500/s over one shared UDP socket, then refreshed at each trial's
// rate; the cap is found within 5 %, confirmed, and the result says mode
// refresh and its population, un-REGISTERed at the end (the search and
// the fill within --max-time 420 s; the un-REGISTERs after it).
func TestCapacityRefreshFindsARegistrarsRateCap(t *testing.T) {
	const capRate = 2000
	p := cappedRegistrar(t, capRate)
	c := capacitySearch(t, p, "--mode", "refresh", "--naps", "100000", "--fill-rate", "1500", "--sockets", "shared",
		"--unregister", "--max-time", "420s")
	rate := c["rate_per_s"].(float64)
	if c["mode"] != "refresh" || c["confirmed"] != true || c["limited_by"] != "registrar" || rate < 0.95*capRate || rate > 1.05*capRate {
		t.Errorf("found %v/s (cap %d/s), mode %v, confirmed %v, limited by %v", rate, capRate, c["mode"], c["confirmed"], c["limited_by"])
	}
	// Every NAP un-REGISTERs at the end but those whose last refresh
	// failed (they hold no binding as far as they know): at most the
	// trials' failures.
	var failed float64
	for _, tr := range c["trials"].([]any) {
		for _, n := range tr.(map[string]any)["failures"].(map[string]any) {
			failed += n.(float64)
		}
	}
	pop, _ := c["population"].(map[string]any)
	if pop == nil || pop["bindings"] != 100000.0 || pop["registered"] != 100000.0 || pop["unregistered_at_end"] != true {
		t.Fatalf("population %v", pop)
	}
	if un := pop["unregistered"].(float64); un > 100000 || un+failed < 100000 {
		t.Errorf("%v un-REGISTERed at the end, %v refreshes failed in the trials: want all but at most the failed", un, failed)
	}
}

// cappedRegistrar starts `regstorm registrar --max-rate capRate` on UDP
// for the test, and returns its port.
func cappedRegistrar(t *testing.T, capRate int) int {
	t.Helper()
	p := freePort(t)
	reg := exec.Command(regstormBinary(t), "registrar", "--listen", "127.0.0.1:"+strconv.Itoa(p), "--transport", "udp",
		"--max-rate", strconv.Itoa(capRate))
	if err := reg.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Process.Signal(os.Interrupt); _ = reg.Wait() })
	time.Sleep(300 * time.Millisecond) // its sockets bound
	return p
}
