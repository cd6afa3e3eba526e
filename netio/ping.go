package netio

import (
	"errors"

	"github.com/gobwas/ws"
)

// Keep-alive pings on streams (RFC 5626 §4.4.1): a double CRLF on TCP and
// TLS, answered by a single CRLF; a WebSocket ping frame on WS and WSS,
// answered by a pong frame (CRLFs there would be a SIP message frame).

// PongReceiver is a Receiver that is told of pongs.
type PongReceiver interface {
	// OnPong: a CRLF (TCP, TLS) or a pong frame (WS, WSS) arrived on the
	// connection opened with tag.
	OnPong(tag any)
}

var crlfPing = []byte("\r\n\r\n")

var errNotStream = errors.New("netio: a keep-alive ping on a datagram socket")

// Ping sends a keep-alive ping on a stream connection.
func (c *Conn) Ping() error {
	if !c.tcp {
		return errNotStream
	}
	if c.closed.Load() {
		return ErrClosed
	}
	if c.st != nil && c.st.ws {
		return c.writeFrame(ws.OpPing, nil)
	}
	return c.Send(crlfPing)
}

// pong tells the receiver of a pong on c.
func (c *Conn) pong() {
	if p, ok := c.recv.(PongReceiver); ok {
		p.OnPong(c.tag)
	}
}

// pong: a function form for the stream reader.
func pong(c *Conn) { c.pong() }
