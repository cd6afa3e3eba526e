package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/registrar"
)

// Without --target, every transport reaches the embedded registrar, whose
// self-signed certificate this process trusts; the summary says how the
// connections were made.
func TestEmbeddedRegistrarOverEveryStream(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--transport", "tls"}, {"--transport", "ws"}, {"--transport", "wss", "--sockets", "per-nap"},
		{"--transport", "tls", "--tls-version", "1.2"}, {"--transport", "tls", "--tls-version", "1.3", "--tls-no-resume"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			var out, errb bytes.Buffer
			code := run(append([]string{"regstorm", "--naps", "40", "--duration", "1s", "--quiet", "--summary", "-"}, args...), &out, &errb)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			var s metrics.Summary
			if err := json.Unmarshal(out.Bytes(), &s); err != nil {
				t.Fatal(err)
			}
			if s.Registered != 40 || s.Unregistered != 40 || s.Transport != args[1] || s.Handshakes == nil || s.Handshakes.LatencyMS.Count == 0 {
				t.Fatalf("registered %d unregistered %d transport %s handshakes %+v", s.Registered, s.Unregistered, s.Transport, s.Handshakes)
			}
			if secure := args[1] != "ws"; secure != (s.Handshakes.Full > 0) {
				t.Errorf("%s: %d full TLS handshakes", args[1], s.Handshakes.Full)
			}
		})
	}
}

// A target whose certificate this process cannot verify: the run goes on,
// every dial counted with its reason, nothing registered (exit 1), and the
// human summary says why.
func TestUntrustedTargetReported(t *testing.T) {
	t.Parallel()
	srv, err := registrar.Listen(registrar.New(registrar.Config{}), "127.0.0.1", 0, []string{"tls"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var out, errb bytes.Buffer
	code := run([]string{"regstorm", "--target", "sips:" + srv.AddrOf("tls"), "--naps", "5", "--duration", "1s", "--retry", "300ms",
		"--summary", "-", "--quiet"}, &out, &errb)
	if code != 1 {
		t.Fatalf("exit %d (want 1: nothing registered): %s", code, errb.String())
	}
	var s metrics.Summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if s.ConnectFailureReasons["cert-untrusted"] < 5 {
		t.Errorf("reasons %v", s.ConnectFailureReasons)
	}
	// With the registrar's certificate as --tls-ca, the same target works.
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pemOf(srv), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errb.Reset()
	code = run([]string{"regstorm", "--target", "sips:" + srv.AddrOf("tls"), "--tls-ca", ca, "--naps", "5", "--duration", "1s", "--summary", "-", "--quiet"}, &out, &errb)
	if code != 0 {
		t.Fatalf("with --tls-ca: exit %d: %s", code, errb.String())
	}
	if err := json.Unmarshal(out.Bytes(), &s); err != nil || s.Registered != 5 {
		t.Fatalf("with --tls-ca: registered %d (%v)", s.Registered, err)
	}
}

func pemOf(srv *registrar.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

// Per-nap TLS connections past one process's descriptor limit are spread
// over processes with --shard: two shard processes against one TLS
// registrar bind every NAP, and their logs merge to every NAP registered,
// with every handshake counted.
//
// Not in parallel with the other tests: 600 TLS handshakes in 3 s take
// the machine's cores (under -race, more than it has beside the others).
func TestTLSShardsAsProcesses(t *testing.T) {
	srv, err := registrar.Listen(registrar.New(registrar.Config{}), "127.0.0.1", 0, []string{"tls"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pemOf(srv), 0o600); err != nil {
		t.Fatal(err)
	}
	const naps = 600
	var procs []*exec.Cmd
	for k := 0; k < 2; k++ {
		cmd, eb := startProcess(t, "--target", "sips:"+srv.AddrOf("tls"), "--tls-ca", ca, "--sockets", "per-nap", "--naps", fmt.Sprint(naps),
			"--duration", "3s", "--quiet", "--shard", fmt.Sprintf("%d/2", k), "--hlog", filepath.Join(dir, fmt.Sprintf("shard%d.hlog", k)))
		procs = append(procs, cmd)
		defer func() {
			if t.Failed() {
				t.Logf("shard stderr: %s", eb.String())
			}
		}()
	}
	most := 0
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && most < naps; time.Sleep(50 * time.Millisecond) {
		n, _ := srv.Reg.Loc.Count(time.Now())
		most = max(most, n)
	}
	for _, p := range procs {
		if err := p.Wait(); err != nil {
			t.Fatalf("shard process: %v", err)
		}
	}
	if most != naps {
		t.Errorf("the registrar held at most %d bindings of %d", most, naps)
	}
	var out, errb bytes.Buffer
	files, _ := filepath.Glob(filepath.Join(dir, "shard*.hlog"))
	if code := run(append([]string{"regstorm", "merge"}, files...), &out, &errb); code != 0 {
		t.Fatalf("merge exit %d: %s", code, errb.String())
	}
	var s metrics.Summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if s.NAPs != naps || s.Registered != naps || s.Handshakes == nil || s.Handshakes.Full != naps || s.Handshakes.LatencyMS.Count != naps {
		t.Errorf("merged: naps %d registered %d handshakes %+v", s.NAPs, s.Registered, s.Handshakes)
	}
	if n, _ := srv.Reg.Loc.Count(time.Now()); n != 0 {
		t.Errorf("%d bindings left after both drains", n)
	}
}
