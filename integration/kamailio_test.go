//go:build integration

// Package integration runs regstorm against programs nobody here wrote:
// Kamailio (Debian's kamailio) as the registrar and SIPp (Debian's
// sip-tester) as a scripted peer. `.ci/run` installs them; run with
// `go test -tags integration ./integration/`.
package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/identity"
	"github.com/regstorm/regstorm/nap"
	"github.com/regstorm/regstorm/sipwire"
)

// kamailio is a running Kamailio with its control socket.
type kamailio struct {
	t    *testing.T
	port int
	ctl  string
	cmd  *exec.Cmd
	log  string
}

// freePort finds a loopback port free for both UDP and TCP.
func freePort(t *testing.T) int {
	for i := 0; i < 50; i++ {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		u.Close()
		if err == nil {
			l.Close()
			return p
		}
	}
	t.Fatal("no free port")
	return 0
}

// startKamailio runs bench/peers/kamailio.cfg in the foreground with the
// given #!trydef overrides and waits until its control socket answers.
func startKamailio(t *testing.T, defs map[string]string) *kamailio {
	t.Helper()
	return startKamailioOn(t, freePort(t), defs)
}

// startKamailioOn is startKamailio on a given port (a restart).
func startKamailioOn(t *testing.T, port int, defs map[string]string) *kamailio {
	t.Helper()
	return startKamailioCfg(t, "../bench/peers/kamailio.cfg", port, defs)
}

// startKamailioCfg runs the Kamailio configuration cfg, which takes its
// SIP port as KPORT and its control socket as KCTL, on port.
func startKamailioCfg(t *testing.T, cfg string, port int, defs map[string]string) *kamailio {
	t.Helper()
	bin, err := exec.LookPath("kamailio")
	if err != nil {
		t.Fatalf("kamailio not installed (apt-get install kamailio): %v", err)
	}
	dir := t.TempDir()
	k := &kamailio{t: t, port: port, ctl: "unix:" + filepath.Join(dir, "ctl"), log: filepath.Join(dir, "kamailio.log")}
	args := []string{"-f", cfg, "-DD", "-E", "-P", filepath.Join(dir, "kamailio.pid"), "-Y", dir,
		"-A", "KPORT=" + strconv.Itoa(k.port), "-A", `KCTL="` + k.ctl + `"`}
	for name, v := range defs {
		args = append(args, "-A", name+"="+v)
	}
	logf, err := os.Create(k.log)
	if err != nil {
		t.Fatal(err)
	}
	k.cmd = exec.Command(bin, args...)
	k.cmd.Stdout, k.cmd.Stderr = logf, logf
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // kill() takes the children too
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = k.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = k.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = k.cmd.Process.Kill()
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(k.log)
			t.Logf("kamailio log:\n%s", tail(string(b), 3000))
		}
	})
	for deadline := time.Now().Add(15 * time.Second); ; {
		if out, err := k.rpc("core.version"); err == nil && strings.Contains(out, "kamailio") {
			return k
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(k.log)
			t.Fatalf("kamailio did not come up:\n%s", tail(string(b), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill ends Kamailio and all its children at once (SIGKILL to the
// process group), as a crash would: usrloc is in memory, so it is lost.
func (k *kamailio) kill() {
	_ = syscall.Kill(-k.cmd.Process.Pid, syscall.SIGKILL)
	_, _ = k.cmd.Process.Wait()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// rpc runs one kamcmd command against this Kamailio.
func (k *kamailio) rpc(args ...string) (string, error) {
	out, err := exec.Command("kamcmd", append([]string{"-s", k.ctl}, args...)...).CombinedOutput()
	return string(out), err
}

// contacts is the number of bindings in Kamailio's usrloc (its own
// statistic; ul.dump cannot return 10^4 AoRs through the ctl socket).
func (k *kamailio) contacts() int { return k.stat("usrloc", "location_contacts") }

// lookup asks usrloc for one AoR's contact, as Kamailio would for a call.
func (k *kamailio) lookup(aor string) (string, bool) {
	out, err := k.rpc("ul.lookup", "location", aor)
	if err != nil || !strings.Contains(out, "Contact") {
		return out, false
	}
	return out, true
}

// stat reads one statistic of a group, e.g. ("registrar", "accepted_regs").
func (k *kamailio) stat(group, name string) int {
	out, err := k.rpc("stats.get_statistics", name)
	if err != nil {
		k.t.Fatalf("stats: %v %s", err, out)
	}
	m := regexp.MustCompile(group + ":" + name + ` = (\d+)`).FindStringSubmatch(out)
	if m == nil {
		k.t.Fatalf("no %s:%s in %q", group, name, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func options(target string, naps int, tr sipwire.Transport) engine.Options {
	up, _ := identity.ParsePattern("nap%06d")
	pp, _ := identity.ParsePattern("secret")
	cfg := nap.DefaultConfig()
	cfg.Transport = tr
	return engine.Options{
		Groups: []engine.Group{{Name: "default", NAPs: naps, Register: true, Target: target, NAP: cfg,
			Identity: identity.Identity{UserPattern: up, UserStart: 1, PasswordPattern: pp}}},
		Duration: 6 * time.Second, Drain: 5 * time.Second,
	}
}

// runAndWatch runs the load and, at watchAt, lets check look at Kamailio
// while every NAP should be registered.
func runAndWatch(t *testing.T, o engine.Options, watchAt time.Duration, check func()) *engine.Result {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(watchAt)
		check()
	}()
	res, err := engine.Run(context.Background(), o)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func testKamailioAuth(t *testing.T, tr sipwire.Transport) {
	k := startKamailio(t, map[string]string{"KCHILDREN": strconv.Itoa(runtime.NumCPU())})
	const n = 10000
	var seen int
	var missing []string
	res := runAndWatch(t, options(fmt.Sprintf("127.0.0.1:%d", k.port), n, tr), 4*time.Second, func() {
		seen = k.contacts()
		for _, i := range []int{1, 2, 777, 5000, 9999, 10000} {
			aor := fmt.Sprintf("nap%06d", i)
			if out, ok := k.lookup(aor); !ok {
				missing = append(missing, aor+": "+out)
			}
		}
	})
	s := res.Summary
	t.Logf("%s: registered %d in %.2fs, requests %d, 401s %d, timeouts %d, retransmissions %d; Kamailio held %d contacts",
		s.Transport, s.Registered, *orZero(s.TimeToAllRegisterS), s.Requests, s.Responses["401"], s.Timeouts, s.Retransmissions, seen)
	if s.Registered != n || seen != n || len(missing) > 0 {
		t.Fatalf("registered: regstorm says %d, Kamailio holds %d contacts, want %d; lookups failed: %v", s.Registered, seen, n, missing)
	}
	if s.AuthChallenges < n || s.Responses["401"] < n {
		t.Errorf("auth challenges %d, 401s %d: every NAP must be challenged", s.AuthChallenges, s.Responses["401"])
	}
	if s.Unregistered != n {
		t.Errorf("unregistered %d", s.Unregistered)
	}
	if left := k.contacts(); left != 0 {
		t.Errorf("Kamailio still holds %d contacts after the drain", left)
	}
}

func orZero(p *float64) *float64 {
	if p == nil {
		z := -1.0
		return &z
	}
	return p
}

func TestKamailioUDPAuth10k(t *testing.T) { testKamailioAuth(t, sipwire.UDP) }
func TestKamailioTCPAuth10k(t *testing.T) { testKamailioAuth(t, sipwire.TCP) }

// A NAP asking expires=30 under Kamailio's min_expires 60 gets 423 and
// adopts Min-Expires.
func TestKamailioMinExpires(t *testing.T) {
	k := startKamailio(t, map[string]string{"KMINEXP": "60", "KAUTH": "0"})
	o := options(fmt.Sprintf("127.0.0.1:%d", k.port), 20, sipwire.UDP)
	o.Groups[0].NAP.Expires = 30
	o.Duration = 2 * time.Second
	var dump string
	res := runAndWatch(t, o, time.Second, func() { dump, _ = k.rpc("ul.dump") })
	s := res.Summary
	if s.Registered != 20 || s.Responses["423"] != 20 || refusals(s.Responses) != 0 {
		t.Fatalf("registered %d, 423s %d, responses %v", s.Registered, s.Responses["423"], s.Responses)
	}
	// Kamailio's bindings carry the adopted interval.
	exp := regexp.MustCompile(`Expires: (\d+)`).FindAllStringSubmatch(dump, -1)
	if len(exp) != 20 {
		t.Fatalf("%d bindings in ul.dump", len(exp))
	}
	for _, e := range exp {
		if v, _ := strconv.Atoi(e[1]); v < 55 || v > 60 {
			t.Errorf("binding expires in %s s, want about 60", e[1])
		}
	}
}

// With max_expires 4 (seed: 600, scaled down), Kamailio clamps and every
// NAP refreshes at half of it: 2 s. Counted by Kamailio itself.
func TestKamailioMaxExpiresRefresh(t *testing.T) {
	k := startKamailio(t, map[string]string{"KMAXEXP": "4", "KAUTH": "0"})
	const n = 100
	o := options(fmt.Sprintf("127.0.0.1:%d", k.port), n, sipwire.UDP)
	o.Duration = 7 * time.Second
	var accepted int
	res := runAndWatch(t, o, 6500*time.Millisecond, func() { accepted = k.stat("registrar", "accepted_regs") })
	// REGISTERs at 0, 2, 4 and 6 s: 4 per NAP by 6.5 s.
	if accepted != 4*n {
		t.Errorf("Kamailio accepted %d REGISTERs by 6.5 s, want %d (refresh every 2 s)", accepted, 4*n)
	}
	if s := res.Summary; s.Registered != n || s.Requests < 4*n {
		t.Errorf("registered %d, requests %d", s.Registered, s.Requests)
	}
}

// refusals counts final failures other than challenges and 423.
func refusals(r map[string]int64) int64 {
	var n int64
	for code, v := range r {
		if c, _ := strconv.Atoi(code); c >= 300 && c != 401 && c != 407 && c != 423 {
			n += v
		}
	}
	return n
}
