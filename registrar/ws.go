package registrar

import (
	"bufio"
	"encoding/binary"
	"io"
	"net/http"

	"github.com/gobwas/ws"

	"github.com/regstorm/regstorm/sipwire"
)

// SIP over WebSocket (RFC 7118): the "sip" subprotocol, one SIP message
// per WebSocket message. Our answers go out as one unmasked text frame
// each; client frames must be masked.

// errNoSIP refuses an upgrade that does not offer the "sip" subprotocol.
var errNoSIP = ws.RejectConnectionError(
	ws.RejectionStatus(http.StatusBadRequest),
	ws.RejectionReason("Sec-WebSocket-Protocol must offer sip (RFC 7118)"),
)

// upgrade answers the HTTP upgrade: 101 with Sec-WebSocket-Protocol: sip,
// or 400 to a client that does not offer "sip". (gobwas reads the request
// through a buffer of its own: a frame a client sends before the 101,
// which RFC 6455 forbids, is lost.)
func (c *streamConn) upgrade() bool {
	sip := false
	u := ws.Upgrader{
		Protocol: func(p []byte) bool {
			if string(p) == "sip" {
				sip = true
			}
			return sip
		},
		OnBeforeUpgrade: func() (ws.HandshakeHeader, error) {
			if !sip {
				return nil, errNoSIP
			}
			return ws.HandshakeHeaderString(""), nil
		},
	}
	_, err := u.Upgrade(c.conn)
	return err == nil
}

// readFrames reads client frames until the connection ends: data frames
// (fragments gathered) are SIP messages, pings are answered, a close frame
// is echoed and ends the connection; a protocol violation closes with 1002.
func (c *streamConn) readFrames() {
	r := bufio.NewReaderSize(c.conn, readSize)
	var payload []byte
	for {
		h, err := ws.ReadHeaderBuffer(r, c.wsHdr[:])
		if err != nil {
			return
		}
		switch {
		case h.Rsv != 0 || !h.Masked || h.OpCode.IsReserved():
			// No extension was negotiated, and a client must mask.
			c.close(ws.StatusProtocolError)
			return
		case h.OpCode.IsControl() && (h.Length > 125 || !h.Fin):
			c.close(ws.StatusProtocolError)
			return
		case h.Length > sipwire.MaxMessageSize || int64(len(c.frag))+h.Length > sipwire.MaxMessageSize:
			c.close(ws.StatusMessageTooBig)
			return
		}
		// The length is bounded above, so trusting it for the buffer is safe.
		if int64(cap(payload)) < h.Length {
			payload = make([]byte, h.Length)
		}
		payload = payload[:h.Length]
		if _, err := io.ReadFull(r, payload); err != nil {
			return
		}
		ws.Cipher(payload, h.Mask, 0)
		switch h.OpCode {
		case ws.OpPing:
			if !c.pong(payload) {
				return
			}
		case ws.OpPong:
		case ws.OpClose:
			c.echoClose(payload)
			return
		case ws.OpContinuation:
			if c.frag == nil {
				c.close(ws.StatusProtocolError)
				return
			}
			c.frag = append(c.frag, payload...)
			if h.Fin {
				msg := c.frag
				c.frag = nil
				if !c.handle(msg) {
					return
				}
			}
		default: // text or binary
			if c.frag != nil {
				c.close(ws.StatusProtocolError) // a new message inside a fragmented one
				return
			}
			if !h.Fin {
				c.frag = append([]byte{}, payload...)
				continue
			}
			if !c.handle(payload) {
				return
			}
		}
		if cap(payload) > readSize {
			payload = nil // an idle connection keeps no large buffer
		}
	}
}

// pong answers a ping with its payload.
func (c *streamConn) pong(p []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	if c.writeFrame(ws.OpPong, p) != nil {
		c.closeLocked(0)
		return false
	}
	return true
}

// echoClose answers a client's close frame with its status code, then
// closes the connection (RFC 6455 §5.5.1).
func (c *streamConn) echoClose(p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	body := []byte{}
	if len(p) >= 2 {
		body = p[:2]
	}
	_ = c.writeFrame(ws.OpClose, body)
	c.closed = true
	_ = c.conn.Close()
}

// closeBody is a close frame's payload: the status code.
func closeBody(status ws.StatusCode) []byte {
	return binary.BigEndian.AppendUint16(nil, uint16(status))
}

// writeFrame writes one unmasked, final frame in a single write (one TLS
// record for a SIP answer). The caller holds c.mu.
func (c *streamConn) writeFrame(op ws.OpCode, p []byte) error {
	out := outPool.Get().(*[]byte)
	defer outPool.Put(out)
	c.wout = appendWriter((*out)[:0])
	h := ws.Header{Fin: true, OpCode: op, Length: int64(len(p))}
	if err := ws.WriteHeaderBuffer(&c.wout, h, c.whdr[:]); err != nil {
		return err
	}
	*out = append(c.wout, p...)
	c.wout = nil
	_, err := c.conn.Write(*out)
	return err
}

// appendWriter collects what gobwas writes (a frame header) in a slice.
type appendWriter []byte

func (w *appendWriter) Write(p []byte) (int, error) {
	*w = append(*w, p...)
	return len(p), nil
}
