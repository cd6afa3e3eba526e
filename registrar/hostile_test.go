package registrar

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/sipwire"
)

// Hostile requests at the registrar (issue 8): garbage, truncated and
// oversized datagrams and stray responses get no answer at all (no
// reflector, no reply storm); a request with an unusable From/To gets one
// 400 each; the registrar keeps serving.
func TestHostileRequestsGetNoReplyStorm(t *testing.T) {
	s, err := Listen(New(Config{}), "127.0.0.1", 0, []string{"udp", "tcp"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u, err := net.Dial("udp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()

	valid := reqBytes("nap000001", 1, sipwire.UDP)
	huge := append([]byte("REGISTER sip:example.com SIP/2.0\r\nX-Pad: "), bytes.Repeat([]byte("a"), 65000)...)
	// A transaction of its own (CSeq and branch 2): with valid's, valid
	// sent after it would be its retransmission, answered 400 again.
	second := reqBytes("nap000001", 2, sipwire.UDP)
	badFrom := bytes.Replace(second, []byte("From: <sip:nap000001@example.com>"), []byte("From: nothing at all"), 1)
	if bytes.Equal(badFrom, second) {
		t.Fatalf("fixture has no From to spoil:\n%s", second)
	}
	var silent, answered int
	send := func(b []byte, n int, replies bool) {
		for i := 0; i < n; i++ {
			if _, err := u.Write(b); err != nil {
				t.Fatal(err)
			}
			if replies {
				answered++
			} else {
				silent++
			}
		}
	}
	send([]byte("\x00\xff garbage \r\n\r\n"), 300, false)
	send(valid[:len(valid)/2], 300, false)                                                                  // truncated mid-header
	send(huge, 20, false)                                                                                   // 65 KB, no end of headers
	send([]byte(strings.Replace(string(valid), "Content-Length: 0", "Content-Length: 900", 1)), 100, false) // body shorter than announced
	send([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx\r\nCall-ID: x\r\nCSeq: 1 REGISTER\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nContent-Length: 0\r\n\r\n"), 100, false)
	send(badFrom, 50, true)

	// Read until 300 ms pass without a datagram: every reply must be a 400.
	buf := make([]byte, 70000)
	var got, other int
	for {
		_ = u.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := u.Read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var m sipwire.Msg
		if m.Parse(buf[:n]) == nil && m.StatusCode == 400 {
			got++
		} else {
			other++
		}
	}
	if got != answered || other != 0 {
		t.Fatalf("%d answers to %d silent and %d answerable requests: %d 400s (want %d), %d others (want 0)",
			got+other, silent, answered, got, answered, other)
	}
	st := s.Stats()
	if st.Malformed < int64(silent-100) { // stray responses parse; they are ignored, not malformed
		t.Errorf("malformed %d, want >= %d", st.Malformed, silent-100)
	}
	if st.Registered != 0 {
		t.Errorf("%d bindings made by hostile requests", st.Registered)
	}

	// Still serving.
	_ = u.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := u.Write(valid); err != nil {
		t.Fatal(err)
	}
	n, err := u.Read(buf)
	var m sipwire.Msg
	if err != nil || m.Parse(buf[:n]) != nil || m.StatusCode != 200 {
		t.Fatalf("after the hostile burst: %v\n%s", err, buf[:n])
	}

	// TCP: a header that never ends is cut off at 64 KiB by closing the
	// connection, without an answer; a new connection is served.
	c, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	go func() { _, _ = c.Write(append(huge, huge...)) }()
	rest, err := io.ReadAll(c)
	if len(rest) != 0 {
		t.Fatalf("TCP: %d bytes of answer to an endless header: %q", len(rest), rest[:min(len(rest), 100)])
	}
	_ = err // EOF or reset: either way the server hung up
	c2, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_ = c2.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c2.Write(reqBytes("nap000002", 1, sipwire.TCP)); err != nil {
		t.Fatal(err)
	}
	n, err = c2.Read(buf)
	if err != nil || m.Parse(buf[:n]) != nil || m.StatusCode != 200 {
		t.Fatalf("TCP after the endless header: %v\n%s", err, buf[:n])
	}
}
