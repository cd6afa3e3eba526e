package netio

import "github.com/gobwas/ws"

// Keep-alive pings on streams (RFC 5626 §4.4.1): a double CRLF on TCP and
// TLS, answered by a single CRLF; a WebSocket ping frame on WS and WSS,
// answered by a pong frame (CRLFs there would be a SIP message frame).

var crlfPing = []byte("\r\n\r\n")

// Ping sends a keep-alive ping on a stream connection.
func (c *socket) Ping() error {
	if c.closed.Load() {
		return ErrClosed
	}
	if c.st != nil && c.st.ws {
		return c.writeFrame(ws.OpPing, nil)
	}
	return c.Send(crlfPing)
}

// pong: a function form for the stream reader.
func pong(c *socket) { c.pong() }
