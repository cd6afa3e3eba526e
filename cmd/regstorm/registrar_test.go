package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/regstorm/regstorm/registrar"
)

// lockedBuffer is a process's stderr, read by the test while the process
// still writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor waits at most limit for s in the buffer.
func (l *lockedBuffer) waitFor(s string, limit time.Duration) bool {
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if strings.Contains(l.String(), s) {
			return true
		}
	}
	return false
}

// startRegistrarProcess runs `regstorm registrar args...` as its own
// process (see TestMain), its stderr readable while it runs; it is killed
// at the end of the test if still running.
func startRegistrarProcess(t *testing.T, args ...string) (*exec.Cmd, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"registrar"}, args...)...)
	cmd.Env = append(os.Environ(), "REGSTORM_TEST_EXEC=1")
	errb := &lockedBuffer{}
	cmd.Stderr = errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, errb
}

// A second `regstorm registrar` on the port of one already running is
// refused (exit 2, naming --listen), for UDP and for TCP, unless it asks
// to share with --reuseport.
func TestRegistrarRefusesAPortAlreadyHeld(t *testing.T) {
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
