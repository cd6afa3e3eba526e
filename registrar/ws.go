package registrar

import (
	"encoding/binary"
	"net/http"

	"github.com/gobwas/ws"

	"github.com/regstorm/regstorm/netio"
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
// Frames are cut out of the read buffer by netio.FrameCutter, as the
// client side's are; each header is checked before the buffer grows for
// its payload.
func (c *streamConn) readFrames() {
	buf := make([]byte, 0, readSize)
	var fc netio.FrameCutter
	for {
		n, rerr := c.conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		used := 0
		for {
			h, payload, k, need, err := fc.Cut(buf[used:])
			if err != nil {
				return
			}
			if k == 0 && need == 0 {
				break // not even the header yet
			}
			if !c.frameAllowed(h) {
				return
			}
			if k == 0 { // the header, not yet the payload: room for the whole frame
				if int64(cap(buf)-used) < need {
					grown := make([]byte, len(buf)-used, need) // need is bounded by frameAllowed
					copy(grown, buf[used:])
					buf, used = grown, 0
				}
				break
			}
			used += k
			if !c.frame(h, payload) {
				return
			}
		}
		buf = buf[:copy(buf, buf[used:])]
		if len(buf) == 0 && cap(buf) > readSize {
			buf = make([]byte, 0, readSize) // an idle connection keeps no large buffer
		}
		if rerr != nil {
			return
		}
	}
}

// frameAllowed checks a client frame's header (RFC 6455 §5): no
// extension was negotiated, a client masks, control frames are short and
// whole, a message fits a SIP message; else the connection closes with
// the status that says why.
func (c *streamConn) frameAllowed(h ws.Header) bool {
	switch {
	case h.Rsv != 0 || !h.Masked || h.OpCode.IsReserved():
		c.close(ws.StatusProtocolError)
		return false
	case h.OpCode.IsControl() && (h.Length > 125 || !h.Fin):
		c.close(ws.StatusProtocolError)
		return false
	case h.Length > sipwire.MaxMessageSize || int64(len(c.frag))+h.Length > sipwire.MaxMessageSize:
		c.close(ws.StatusMessageTooBig)
		return false
	}
	return true
}

// frame acts on one whole client frame, its payload unmasked; false when
// the connection is done.
func (c *streamConn) frame(h ws.Header, payload []byte) bool {
	switch h.OpCode {
	case ws.OpPing:
		return c.pong(payload)
	case ws.OpPong:
		return true
	case ws.OpClose:
		c.echoClose(payload)
		return false
	case ws.OpContinuation:
		if c.frag == nil {
			c.close(ws.StatusProtocolError)
			return false
		}
		c.frag = append(c.frag, payload...)
		if !h.Fin {
			return true
		}
		msg := c.frag
		c.frag = nil
		return c.handle(msg)
	}
	// Text or binary.
	if c.frag != nil {
		c.close(ws.StatusProtocolError) // a new message inside a fragmented one
		return false
	}
	if !h.Fin {
		c.frag = append([]byte{}, payload...)
		return true
	}
	return c.handle(payload)
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
