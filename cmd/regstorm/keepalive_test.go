package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/regstorm/regstorm/metrics"
)

// Keep-alives on the wire against the embedded registrar: CRLF pings on
// TCP and TLS answered by CRLF pongs, WebSocket pings by pongs, OPTIONS on
// UDP by a response; all answered, with their latency, and the OPTIONS
// counted among the messages sent.
func TestKeepalivesAnswered(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--transport", "tcp", "--keepalive", "crlf"},
		{"--transport", "tls", "--keepalive", "crlf", "--sockets", "per-nap"},
		{"--transport", "wss", "--keepalive", "crlf"},
		{"--transport", "udp", "--keepalive", "options"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			var out, errb bytes.Buffer
			code := run(append([]string{"regstorm", "--naps", "20", "--duration", "1500ms", "--keepalive-interval", "300ms", "--quiet", "--summary", "-"}, args...), &out, &errb)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			var s metrics.Summary
			if err := json.Unmarshal(out.Bytes(), &s); err != nil {
				t.Fatal(err)
			}
			k := s.Keepalives
			// 20 NAPs pinging every 300 ms for ~1.5 s: ~4 each.
			if k == nil || k.Sent < 60 || k.Failed != 0 || k.Answered < k.Sent-20 || k.LatencyMS.Count != k.Answered {
				t.Fatalf("keepalives %+v", k)
			}
			if opt := args[3] == "options"; opt != (k.Options == k.Sent) || s.MessagesSent != s.Requests+s.Retransmissions+k.Options {
				t.Errorf("options %d of %d sent; messages sent %d, requests %d", k.Options, k.Sent, s.MessagesSent, s.Requests)
			}
		})
	}
}
