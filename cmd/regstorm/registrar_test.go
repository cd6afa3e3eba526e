package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/regstorm/regstorm/registrar"
	"github.com/regstorm/regstorm/sipwire"
)

// waitFor waits at most limit for s in the buffer.
func (l *syncBuffer) waitFor(s string, limit time.Duration) bool {
	return waitFor(limit, func() bool { return strings.Contains(l.String(), s) })
}

// startRegistrarProcess runs `regstorm registrar args...` as its own
// process (see TestMain), its stderr readable while it runs; it is killed
// at the end of the test if still running.
func startRegistrarProcess(t *testing.T, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	return startRegistrarProcessEnv(t, nil, append([]string{"registrar"}, args...)...)
}

// startRegistrarProcessEnv is startRegistrarProcess with env added to its
// environment, and args from the command on.
func startRegistrarProcessEnv(t *testing.T, env []string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd, errb := startProcessEnv(t, env, args...)
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, errb
}

// listenAddr waits for the registrar's "listening on" line and returns
// its address.
func listenAddr(t *testing.T, errb *syncBuffer) string {
	t.Helper()
	if !errb.waitFor("listening on", 5*time.Second) { // the line is one write
		t.Fatalf("the registrar did not start: %s", errb.String())
	}
	_, rest, ok := strings.Cut(errb.String(), "listening on ")
	addr, _, _ := strings.Cut(rest, " ")
	if !ok || addr == "" {
		t.Fatalf("no address in %q", errb.String())
	}
	return addr
}

// A second `regstorm registrar` on the port of one already running is
// refused (exit 2, naming --listen), for UDP and for TCP, unless it asks
// to share with --reuseport.
func TestRegistrarRefusesAPortAlreadyHeld(t *testing.T) {
	t.Parallel()
	first, err := registrar.Listen(registrar.New(registrar.Config{Auth: true}), "127.0.0.1", 0, []string{"udp", "tcp"})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	for _, tr := range []string{"udp", "tcp"} {
		cmd, errb := startRegistrarProcess(t, "--listen", first.Addr, "--transport", tr)
		code, ok := waitExit(cmd, 5*time.Second)
		if !ok {
			t.Errorf("%s: the second registrar ran on %s too: %s", tr, first.Addr, errb.String())
			continue
		}
		if code != 2 || !strings.Contains(errb.String(), "--listen") || strings.Contains(errb.String(), "listening on") {
			t.Errorf("%s: exit %d, stderr %q (want 2 naming --listen, nothing started)", tr, code, errb.String())
		}
	}
	cmd, errb := startRegistrarProcess(t, "--listen", first.Addr, "--reuseport")
	if !errb.waitFor("listening on", 5*time.Second) {
		t.Fatalf("--reuseport: did not start: %s", errb.String())
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if code, ok := waitExit(cmd, 10*time.Second); !ok || code != 0 {
		t.Errorf("--reuseport: exit %d after SIGTERM: %s", code, errb.String())
	}
}

// --close-after-answer (or its env var): a TCP client gets its answer,
// then EOF.
func TestRegistrarCloseAfterAnswer(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"flag", "env"} {
		args := []string{"registrar", "--listen", "127.0.0.1:0", "--transport", "tcp"}
		var env []string
		if how == "flag" {
			args = append(args, "--close-after-answer")
		} else {
			env = []string{"REGSTORM_CLOSE_AFTER_ANSWER=true"}
		}
		_, errb := startRegistrarProcessEnv(t, env, args...)
		c, err := net.Dial("tcp", listenAddr(t, errb))
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		req := sipwire.AppendRegister(nil, &sipwire.Register{
			Transport: sipwire.TCP, LocalHost: []byte("127.0.0.1"), LocalPort: 5070, Branch: 1,
			User: []byte("nap000001"), Domain: []byte("example.com"), FromTag: []byte("f"),
			CallID: []byte("c1"), CSeq: 1, Expires: 300,
		})
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(c)
		sc.Split(sipwire.SplitMessage)
		var m sipwire.Msg
		if !sc.Scan() || m.Parse(sc.Bytes()) != nil || m.StatusCode != 200 {
			t.Fatalf("%s: no 200: %v %q", how, sc.Err(), sc.Bytes())
		}
		if sc.Scan() || sc.Err() != nil {
			t.Errorf("%s: after the answer: %q, %v; want EOF", how, sc.Bytes(), sc.Err())
		}
		c.Close()
	}
}

// SIGHUP is logged and changes nothing (bindings kept, still running);
// SIGTERM and SIGINT stop the registrar with its own message, not the
// load tool's.
func TestRegistrarSignals(t *testing.T) {
	t.Parallel()
	cmd, errb := startRegistrarProcess(t, "--listen", "127.0.0.1:0", "--transport", "udp")
	u, err := net.Dial("udp", listenAddr(t, errb))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	_ = u.SetDeadline(time.Now().Add(2 * time.Second))
	req := sipwire.AppendRegister(nil, &sipwire.Register{
		Transport: sipwire.UDP, LocalHost: []byte("127.0.0.1"), LocalPort: 5070, Branch: 1,
		User: []byte("nap000001"), Domain: []byte("example.com"), FromTag: []byte("f"),
		CallID: []byte("c1"), CSeq: 1, Expires: 300,
	})
	if _, err := u.Write(req); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Read(make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}

	_ = cmd.Process.Signal(syscall.SIGHUP)
	if !errb.waitFor("SIGHUP", 5*time.Second) {
		t.Fatalf("nothing said about SIGHUP: %q", errb.String())
	}
	_ = cmd.Process.Signal(syscall.SIGUSR1) // still running, binding kept?
	if !errb.waitFor("1 held for 1 AoRs", 5*time.Second) {
		t.Fatalf("no counters with the binding after SIGHUP: %q", errb.String())
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if code, ok := waitExit(cmd, 10*time.Second); !ok || code != 0 {
		t.Fatalf("exit %d after SIGTERM: %q", code, errb.String())
	}
	out := errb.String()
	if !strings.Contains(out, "regstorm registrar: SIGTERM received: stopping") || strings.Contains(out, "un-registering") {
		t.Errorf("SIGTERM: want the registrar's own stop line: %q", out)
	}

	cmd, errb = startRegistrarProcess(t, "--listen", "127.0.0.1:0", "--transport", "udp")
	listenAddr(t, errb)
	_ = cmd.Process.Signal(syscall.SIGINT)
	if code, ok := waitExit(cmd, 10*time.Second); !ok || code != 0 {
		t.Fatalf("exit %d after SIGINT: %q", code, errb.String())
	}
	if out := errb.String(); !strings.Contains(out, "regstorm registrar: SIGINT received: stopping") || strings.Contains(out, "un-registering") {
		t.Errorf("SIGINT: want the registrar's own stop line: %q", out)
	}
}

// Bad numbers are refused (exit 2 naming the flag) before any socket is
// opened: --listen names a port already held, so a value let through, or
// checked only after the port, would be reported as --listen instead.
func TestRegistrarBadNumbersRefusedFirst(t *testing.T) {
	held, err := registrar.Listen(registrar.New(registrar.Config{}), "127.0.0.1", 0, []string{"udp", "tcp"})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	_, heldPort, _ := net.SplitHostPort(held.Addr)
	// TLS cases serve TLS on the held port too, beside UDP: let through,
	// they would stop at the held UDP port, not start.
	tlsOnHeld := []string{"--transport", "udp,tls:" + heldPort}
	dir := t.TempDir()
	writeCA(t, dir, "ca").issue(t, dir, "server", false)
	cert, key, ca := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"), filepath.Join(dir, "ca.pem")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--delay", "-1s"}, "--delay"},
		{[]string{"--drop", "-0.1"}, "--drop"},
		{[]string{"--drop", "1.5"}, "--drop"},
		{[]string{"--drop", "NaN"}, "--drop"},
		{[]string{"--reject", "503"}, "--reject"},
		{[]string{"--reject", "abc:0.1"}, "--reject"},
		{[]string{"--reject", "503:x"}, "--reject"},
		{[]string{"--reject", "200:0.1"}, "--reject"},
		{[]string{"--reject", "700:0.1"}, "--reject"},
		{[]string{"--reject", "503:-0.1"}, "--reject"},
		{[]string{"--reject", "503:1.5"}, "--reject"},
		{[]string{"--reject", "503:NaN"}, "--reject"},
		{[]string{"--max-rate", "-1"}, "--max-rate"},
		{[]string{"--max-rate", "NaN"}, "--max-rate"},
		{[]string{"--max-rate", "Inf"}, "--max-rate"},
		{[]string{"--max-burst", "10"}, "--max-burst"},
		{[]string{"--max-rate", "10", "--max-burst", "-1"}, "--max-burst"},
		{[]string{"--max-rate", "10", "--retry-after", "0"}, "--retry-after"},
		{[]string{"--retry-after", "5"}, "--retry-after"},
		{[]string{"--min-expires", "-1"}, "--min-expires"},
		{[]string{"--max-expires", "-1"}, "--max-expires"},
		{[]string{"--min-expires", "4294967296"}, "--min-expires"},
		{[]string{"--max-expires", "4294967296"}, "--max-expires"},
		{[]string{"--transport", "tls:abc"}, "--transport"},
		{[]string{"--transport", "udp,sctp"}, "--transport"},
		{[]string{"--transport", "tls:65536"}, "--transport"},
		{[]string{"--transport", "udp,tls,tls:5071"}, "--transport"},
		{[]string{"--transport", "tcp:5071"}, "--transport"},
		{[]string{"--transport", "udp,tls:" + heldPort + ",ws:" + heldPort}, "--transport"},
		{[]string{"--listen", "127.0.0.1:65534", "--transport", "udp,wss"}, "--transport"},
		{append([]string{"--cert", cert}, tlsOnHeld...), "--key"},
		{append([]string{"--key", key}, tlsOnHeld...), "--cert"},
		{append([]string{"--cert", cert + ".none", "--key", key}, tlsOnHeld...), "--cert"},
		{append([]string{"--cert", key, "--key", cert}, tlsOnHeld...), "--cert"},
		{append([]string{"--client-ca", ca + ".none"}, tlsOnHeld...), "--client-ca"},
		{append([]string{"--client-ca", key}, tlsOnHeld...), "--client-ca"},
		{[]string{"--cert", cert, "--key", key, "--transport", "udp,tcp,ws"}, "--cert"},
		{[]string{"--client-ca", ca}, "--client-ca"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		args := append([]string{"regstorm", "registrar", "--listen", held.Addr}, c.args...)
		if code := run(args, &out, &errb); code != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q (want 2 and %q)", c.args, code, errb.String(), c.want)
		}
	}
}

// --max-rate: over the cap `regstorm registrar` answers 503 with the
// Retry-After of --retry-after, and says how many it refused in its
// counters (SIGUSR1, and at the end).
func TestRegistrarMaxRate(t *testing.T) {
	t.Parallel()
	cmd, errb := startRegistrarProcess(t, "--listen", "127.0.0.1:0", "--transport", "udp", "--max-rate", "0.01", "--max-burst", "2", "--retry-after", "30")
	u, err := net.Dial("udp", listenAddr(t, errb))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	var codes []string
	for i := 1; i <= 5; i++ {
		_ = u.SetDeadline(time.Now().Add(2 * time.Second))
		req := sipwire.AppendRegister(nil, &sipwire.Register{
			Transport: sipwire.UDP, LocalHost: []byte("127.0.0.1"), LocalPort: 5070, Branch: uint64(i),
			User: []byte(fmt.Sprintf("nap%06d", i)), Domain: []byte("example.com"), FromTag: []byte("f"),
			CallID: []byte(fmt.Sprintf("c%d", i)), CSeq: 1, Expires: 300,
		})
		if _, err := u.Write(req); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		n, err := u.Read(buf)
		var m sipwire.Msg
		if err != nil || m.Parse(buf[:n]) != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		codes = append(codes, fmt.Sprintf("%d/%d", m.StatusCode, m.RetryAfter))
	}
	if got := strings.Join(codes, " "); got != "200/-1 200/-1 503/30 503/30 503/30" {
		t.Errorf("answers (code/Retry-After): %s", got)
	}
	_ = cmd.Process.Signal(syscall.SIGUSR1)
	if !errb.waitFor("3 refused over --max-rate (503)", 5*time.Second) {
		t.Errorf("no count of the refusals: %q", errb.String())
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if code, ok := waitExit(cmd, 10*time.Second); !ok || code != 0 {
		t.Fatalf("exit %d after SIGTERM: %q", code, errb.String())
	}
}
