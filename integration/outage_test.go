//go:build integration

package integration

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/regstorm/regstorm/sipwire"
)

// Registrar outage (issue 8): 10 000 NAPs registered; the registrar
// process is killed (SIGKILL: its location service is lost with it) for
// 2.5 times Timer F and restarted on the same port. With scaled timers
// (T1 50 ms, Timer F 3.2 s, retry 0.5 s, expires 10 s, so a refresh every
// 5 s), every NAP must be registered again, in the restarted registrar's
// own view, within Timer F + retry + one refresh window over UDP, and
// within retry + 1 s over TCP (connection lost, connects refused and
// retried every --retry). The summary must account for every timeout.

const (
	outageNAPs   = 10000
	outageKillAt = 3 * time.Second
	outageLength = 8 * time.Second // 2.5 Timer F: a refresh sent in it times out
	scaledT1     = 50 * time.Millisecond
	scaledF      = 64 * scaledT1
	scaledRetry  = 500 * time.Millisecond
	scaledExp    = 10 // seconds: refresh every 5 s
)

// outagePeer is a registrar process the test can kill, restart and ask
// how many bindings it holds.
type outagePeer interface {
	bindings(t *testing.T) int
	kill()
	restart(t *testing.T)
	port() int
}

func testOutage(t *testing.T, p outagePeer, tr sipwire.Transport) {
	o := options(fmt.Sprintf("127.0.0.1:%d", p.port()), outageNAPs, tr)
	o.Groups[0].NAP.T1, o.Groups[0].NAP.T2, o.Groups[0].NAP.TimerF, o.Groups[0].NAP.Retry, o.Groups[0].NAP.Expires = scaledT1, 8*scaledT1, scaledF, scaledRetry, scaledExp
	bound := scaledF + scaledRetry + scaledExp*time.Second/2 // UDP: the last victim's retry, or the next refresh
	if tr == sipwire.TCP {
		bound = scaledRetry + time.Second
	}
	restartAt := outageKillAt + outageLength
	o.Duration = restartAt + bound + 2*time.Second
	var before, after int
	res := runAndWatch(t, o, outageKillAt, func() {
		before = p.bindings(t)
		p.kill()
		time.Sleep(outageLength)
		p.restart(t)
		time.Sleep(bound)
		after = p.bindings(t)
	})
	s := res.Summary
	t.Logf("%s: bindings %d before the kill, %d at restart + %v; requests %d, retransmissions %d, timeouts %d, connections lost %d, connect failures %d, 200s %d, in flight %d",
		s.Transport, before, after, bound, s.Requests, s.Retransmissions, s.Timeouts, s.ConnectionsLost, s.ConnectFailures, s.Responses["200"], res.InFlight)
	if before != outageNAPs {
		t.Fatalf("%d bindings before the kill, want %d", before, outageNAPs)
	}
	if after != outageNAPs {
		t.Fatalf("%d bindings %v after the restart, want %d", after, bound, outageNAPs)
	}
	if s.Registered != outageNAPs || s.Unregistered != outageNAPs {
		t.Errorf("registered %d at the end, unregistered %d in the drain, want %d", s.Registered, s.Unregistered, outageNAPs)
	}
	if left := p.bindings(t); left != 0 {
		t.Errorf("%d bindings left after the drain", left)
	}
	var finals int64
	for code, n := range res.Totals.Responses {
		if code >= 200 {
			finals += n
		}
	}
	// docs/summary.md, over both transports: REGISTERs in flight at the stop are
	// replaced by un-REGISTERs, and over TCP those in flight when the
	// connection dropped are lost with it: both are abandoned.
	if s.Requests != finals+s.Timeouts+s.Abandoned+res.InFlight {
		t.Errorf("requests %d != final responses %d + timeouts %d + abandoned %d + in flight %d", s.Requests, finals, s.Timeouts, s.Abandoned, res.InFlight)
	}
	if tr == sipwire.UDP {
		// Every NAP refreshes (at 5.5 s) during the outage and times out at least once.
		if s.Timeouts < outageNAPs {
			t.Errorf("timeouts %d, want >= %d: each NAP refreshed into the outage", s.Timeouts, outageNAPs)
		}
	} else {
		if s.ConnectionsLost < outageNAPs || s.ConnectFailures < outageNAPs {
			t.Errorf("connections lost %d, connect failures %d: want each NAP to see the loss and refused connects", s.ConnectionsLost, s.ConnectFailures)
		}
		if s.Timeouts != 0 {
			t.Errorf("%d timeouts over TCP: a refused connect is not a timeout", s.Timeouts)
		}
	}
}

// regstormRegistrar runs `regstorm registrar` as its own process.
type regstormRegistrar struct {
	bin   string
	p     int
	args  []string // the registrar's arguments; nil: UDP and TCP on p with --auth
	cmd   *exec.Cmd
	mu    sync.Mutex
	stats chan string // its stats lines (SIGUSR1, exit)
}

var buildOnce sync.Once
var builtBin string

func regstormBinary(t *testing.T) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "regstorm-bin")
		if err != nil {
			t.Fatal(err)
		}
		builtBin = filepath.Join(dir, "regstorm")
		if out, err := exec.Command("go", "build", "-o", builtBin, "../cmd/regstorm").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	})
	return builtBin
}

func (r *regstormRegistrar) port() int { return r.p }

func (r *regstormRegistrar) restart(t *testing.T) {
	args := r.args
	if args == nil {
		args = []string{"registrar", "--listen", "127.0.0.1:" + strconv.Itoa(r.p), "--transport", "udp,tcp", "--auth"}
	}
	r.cmd = exec.Command(r.bin, args...)
	stderr, err := r.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.stats = make(chan string, 16)
	listening := make(chan struct{})
	go func(stats chan<- string) {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case regexp.MustCompile(`listening on`).MatchString(line):
				close(listening)
			case regexp.MustCompile(`held for`).MatchString(line):
				stats <- line
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}(r.stats)
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		t.Fatal("regstorm registrar did not start")
	}
}

var heldRE = regexp.MustCompile(`(\d+) held for`)

// bindings asks the process (SIGUSR1) for the bindings it holds.
func (r *regstormRegistrar) bindings(t *testing.T) int {
	n, _ := strconv.Atoi(heldRE.FindStringSubmatch(r.statsLine(t))[1])
	return n
}

// statsLine asks the process (SIGUSR1) for its counters.
func (r *regstormRegistrar) statsLine(t *testing.T) string {
	if err := r.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	select {
	case line := <-r.stats:
		return line
	case <-time.After(5 * time.Second):
		t.Fatal("regstorm registrar did not print its stats on SIGUSR1")
		return ""
	}
}

func (r *regstormRegistrar) kill() {
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
}

func startRegstormRegistrar(t *testing.T) *regstormRegistrar {
	r := &regstormRegistrar{bin: regstormBinary(t), p: freePort(t)}
	r.restart(t)
	t.Cleanup(func() {
		_ = r.cmd.Process.Signal(os.Interrupt)
		_ = r.cmd.Wait()
	})
	return r
}

// kamailioPeer restarts Kamailio on the same port.
type kamailioPeer struct {
	k    *kamailio
	defs map[string]string
}

func (k *kamailioPeer) port() int                 { return k.k.port }
func (k *kamailioPeer) bindings(t *testing.T) int { return k.k.contacts() }
func (k *kamailioPeer) kill()                     { k.k.kill() }
func (k *kamailioPeer) restart(t *testing.T)      { k.k = startKamailioOn(t, k.k.port, k.defs) }
func startKamailioPeer(t *testing.T) *kamailioPeer {
	defs := map[string]string{"KMINEXP": "1", "KCHILDREN": "2"}
	return &kamailioPeer{k: startKamailio(t, defs), defs: defs}
}

func TestOutageRegstormRegistrarUDP(t *testing.T) {
	testOutage(t, startRegstormRegistrar(t), sipwire.UDP)
}
func TestOutageRegstormRegistrarTCP(t *testing.T) {
	testOutage(t, startRegstormRegistrar(t), sipwire.TCP)
}
func TestOutageKamailioUDP(t *testing.T) { testOutage(t, startKamailioPeer(t), sipwire.UDP) }
func TestOutageKamailioTCP(t *testing.T) { testOutage(t, startKamailioPeer(t), sipwire.TCP) }
