package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"
)

// --pcap (and REGSTORM_PCAP) writes a packet for every message the
// summary counts.
func TestPcapFlagCapturesEveryMessage(t *testing.T) {
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			dir := t.TempDir()
			pcap, sum := filepath.Join(dir, "run.pcap"), filepath.Join(dir, "s.json")
			t.Setenv("REGSTORM_PCAP", pcap)
			var out, errb bytes.Buffer
			if code := run([]string{"regstorm", "--naps", "20", "--duration", "300ms", "--quiet", "--transport", tr, "--summary", sum}, &out, &errb); code != 0 {
				t.Fatalf("run: %d %s", code, errb.String())
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
