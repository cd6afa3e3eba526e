//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tshark runs Debian's tshark on a capture and returns its output lines.
func tshark(t *testing.T, args ...string) []string {
	t.Helper()
	bin, err := exec.LookPath("tshark")
	if err != nil {
		t.Fatalf("tshark not installed (apt-get install tshark): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no user preferences
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %v: %v", args, err)
	}
	s := strings.TrimRight(string(out), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// A --pcap capture of 100 NAPs against `regstorm registrar --auth`, read
// by tshark: as many SIP messages as the summary's messages_sent +
// messages_received, each with its CSeq, Call-ID and Via branch decoded,
// and no checksum or TCP stream that tshark finds wrong.
func testPcap(t *testing.T, transport string) {
	reg := startRegstormRegistrar(t)
	dir := t.TempDir()
	pcap, sum := filepath.Join(dir, "run.pcap"), filepath.Join(dir, "s.json")
	port := strconv.Itoa(reg.port())
	out, err := exec.Command(regstormBinary(t), "--target", "sip:127.0.0.1:"+port, "--transport", transport,
		"--naps", "100", "--duration", "2s", "--quiet", "--pcap", pcap, "--summary", sum).CombinedOutput()
	if err != nil {
		t.Fatalf("regstorm: %v\n%s", err, out)
	}
	var s struct {
		Sent     int64 `json:"messages_sent"`
		Received int64 `json:"messages_received"`
	}
	b, err := os.ReadFile(sum)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	// Not port 5060: tell tshark the registrar's port is SIP.
	decodeAs := []string{"-r", pcap, "-d", "udp.port==" + port + ",sip", "-d", "tcp.port==" + port + ",sip"}
	lines := tshark(t, append(decodeAs, "-Y", "sip", "-T", "fields", "-e", "sip.CSeq", "-e", "sip.Call-ID", "-e", "sip.Via.branch")...)
	if int64(len(lines)) != s.Sent+s.Received || s.Sent < 200 {
		t.Fatalf("tshark decodes %d SIP messages, summary %d sent + %d received", len(lines), s.Sent, s.Received)
	}
	for i, l := range lines {
		f := strings.Split(l, "\t")
		if len(f) != 3 || f[0] == "" || f[1] == "" || f[2] == "" {
			t.Fatalf("message %d: CSeq, Call-ID, branch %q", i+1, f)
		}
	}
	bad := tshark(t, append(decodeAs, "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
		"-Y", "ip.checksum.status==2 || udp.checksum.status==2 || tcp.checksum.status==2 || tcp.analysis.flags || _ws.malformed")...)
	if len(bad) > 0 {
		t.Errorf("%d packets tshark finds wrong, e.g. %s", len(bad), bad[0])
	}
	t.Logf("%s: tshark decodes %d SIP messages (summary: %d sent + %d received)", transport, len(lines), s.Sent, s.Received)
}

func TestPcapUDPInTshark(t *testing.T) { testPcap(t, "udp") }
func TestPcapTCPInTshark(t *testing.T) { testPcap(t, "tcp") }
