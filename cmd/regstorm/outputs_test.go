package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regstorm/regstorm/registrar"
)

// An output that opens but fails on write (/dev/full, as a full disk)
// does not lose the run: it is said by flag and file, and every other
// output is still written (the summary, the .hlog, the human summary);
// the run exits 1 naming it.
func TestAnOutputThatFailsDoesNotLoseTheRun(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full here")
	}
	srv := startRegistrar(t, registrar.Config{})
	for _, flag := range []string{"--pcap", "--trace", "--hlog", "--summary", "--cpuprofile"} {
		t.Run(flag[2:], func(t *testing.T) {
			dir := t.TempDir()
			files := map[string]string{
				"--summary": filepath.Join(dir, "s.json"), "--hlog": filepath.Join(dir, "r.hlog"),
				"--pcap": filepath.Join(dir, "r.pcap"), "--trace": filepath.Join(dir, "r.trace"), "--cpuprofile": filepath.Join(dir, "cpu"),
			}
			files[flag] = "/dev/full"
			args := []string{"regstorm", "--target", "sip:" + srv.Addr, "--naps", "30", "--duration", "300ms"}
			for f, p := range files {
				args = append(args, f, p)
			}
			var stdout, stderr bytes.Buffer
			code := run(args, &stdout, &stderr)
			msg := stderr.String()
			if code != 1 || !strings.Contains(msg, "an output failed") || !strings.Contains(msg, flag+" /dev/full: write /dev/full: no space left on device") {
				t.Fatalf("exit %d (want 1 naming %s /dev/full): %s", code, flag, msg)
			}
			if !strings.Contains(msg, "30/30 NAPs registered") {
				t.Errorf("no human summary: %s", msg)
			}
			// The .hlog's header is written as the run starts: said then,
			// before the run's end.
			if said := strings.Index(msg, "--hlog /dev/full"); flag == "--hlog" && (said > strings.Index(msg, "NAPs registered") || !strings.Contains(msg, "the run goes on")) {
				t.Errorf("the .hlog's failure was not said as it happened: %s", msg)
			}
			if flag != "--summary" {
				b, err := os.ReadFile(files["--summary"])
				if err != nil {
					t.Fatalf("no --summary: %v", err)
				}
				if s := decode(t, b); s["registered"].(float64) != 30 {
					t.Errorf("summary: registered %v", s["registered"])
				}
			}
			if flag != "--hlog" {
				if b, err := os.ReadFile(files["--hlog"]); err != nil || !bytes.Contains(b, []byte("[regstorm-summary] ")) {
					t.Errorf("the .hlog has no summary line: %v", err)
				}
			}
			for _, f := range []string{"--pcap", "--trace", "--cpuprofile"} {
				if f == flag {
					continue
				}
				if fi, err := os.Stat(files[f]); err != nil || fi.Size() == 0 {
					t.Errorf("%s not written: %v", f, err)
				}
			}
		})
	}
}
