package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"
)

// --pcap (and REGSTORM_PCAP) writes a packet for every message the
// summary counts: over UDP given as REGSTORM_PCAP to a process of its own,
// over TCP as --pcap.
func TestPcapFlagCapturesEveryMessage(t *testing.T) {
	t.Parallel()
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			pcap, sum := filepath.Join(dir, "run.pcap"), filepath.Join(dir, "s.json")
			args := []string{"--naps", "20", "--duration", "300ms", "--quiet", "--transport", tr, "--summary", sum}
			var code int
			var errb fmt.Stringer
			if tr == "udp" {
				code, _, errb = runProcess(t, []string{"REGSTORM_PCAP=" + pcap}, args...)
			} else {
				var out, eb bytes.Buffer
				code, errb = run(append([]string{"regstorm", "--pcap", pcap}, args...), &out, &eb), &eb
			}
			if code != 0 {
				t.Fatalf("run: %d %s", code, errb)
			}
			var s struct {
				Sent     int64 `json:"messages_sent"`
				Received int64 `json:"messages_received"`
			}
			b, _ := os.ReadFile(sum)
			if err := json.Unmarshal(b, &s); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(pcap)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r, err := pcapgo.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			var n int64
			for {
				_, _, err := r.ReadPacketData()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				n++
			}
			if n == 0 || n != s.Sent+s.Received {
				t.Errorf("%d packets, summary %d sent + %d received", n, s.Sent, s.Received)
			}
		})
	}
}
