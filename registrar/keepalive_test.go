package registrar

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"
)

// A double CRLF on a stream is a keep-alive ping, answered by one CRLF
// (RFC 5626 §4.4.1), over TCP and TLS, even split over two writes; a
// silent registrar answers none.
func TestCRLFPingAnswered(t *testing.T) {
	for _, silent := range []bool{false, true} {
		s, err := Listen(New(Config{Silent: silent}), "127.0.0.1", 0, []string{"tcp", "tls"})
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range []string{"tcp", "tls"} {
			var c net.Conn
			if tr == "tcp" {
				c, err = net.Dial("tcp", s.AddrOf("tcp"))
			} else {
				c, err = tls.Dial("tcp", s.AddrOf("tls"), &tls.Config{InsecureSkipVerify: true})
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, ping := range [][]string{{"\r\n\r\n"}, {"\r\n", "\r\n"}} {
				for _, part := range ping {
					if _, err := io.WriteString(c, part); err != nil {
						t.Fatal(err)
					}
					time.Sleep(5 * time.Millisecond)
				}
				_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
				buf := make([]byte, 8)
				n, err := c.Read(buf)
				if !silent && (err != nil || string(buf[:n]) != "\r\n") {
					t.Errorf("%s %q: got %q, %v; want a CRLF pong", tr, ping, buf[:n], err)
				}
				if silent && n > 0 {
					t.Errorf("%s: a silent registrar answered %q", tr, buf[:n])
				}
			}
			c.Close()
		}
		s.Close()
	}
}
