package netio

// WS and WSS (SIP over WebSocket, RFC 7118): wsFraming, the upgrade, the
// frames a connection reads (FrameCutter) and writes (masked, one Write
// each); the connection itself is a streamConn (stream.go), over TLS for
// WSS (tls.go).

import (
	"errors"
	"io"
	"net/url"
	"sync"

	"github.com/gobwas/ws"

	"github.com/regstorm/regstorm/sipwire"
)

// ErrWSSubprotocol is a WebSocket upgrade whose answer did not select the
// "sip" subprotocol (RFC 7118 §4.1 requires it).
var ErrWSSubprotocol = errors.New("netio: websocket peer did not select the sip subprotocol")

// wsFraming carries one SIP message per WebSocket frame.
type wsFraming struct{}

func (wsFraming) send(c *streamConn, b []byte) error { return c.writeFrame(ws.OpText, b) }

func (wsFraming) ping(c *streamConn) error { return c.writeFrame(ws.OpPing, nil) }

// goodbye sends a Close frame (1000); one that cannot be written aborts.
func (wsFraming) goodbye(c *streamConn) { _ = c.writeFrame(ws.OpClose, wsNormalClose) }

// handshake makes the connection a WebSocket carrying SIP (RFC 7118).
func (wsFraming) handshake(c *streamConn, t sipwire.Transport, remote string, o StreamOptions) error {
	scheme := t.String() // "ws" or "wss"
	host := o.WSHost
	if host == "" {
		host = remote
	}
	u := &url.URL{Scheme: scheme, Host: host, Path: o.WSPath}
	dl := ws.Dialer{Protocols: []string{"sip"}}
	br, hs, err := dl.Upgrade(c.nc, u)
	if err != nil {
		return err
	}
	if br != nil { // the peer wrote right after its answer: keep those bytes
		n := br.Buffered()
		c.buf = make([]byte, n, max(n, readChunk))
		_, _ = io.ReadFull(br, c.buf)
		ws.PutReader(br)
	}
	if hs.Protocol != "sip" {
		return ErrWSSubprotocol
	}
	return nil
}

// errWSClosed is a WebSocket close frame from the peer.
var errWSClosed = errors.New("netio: websocket closed by the peer")

// cut takes whole WebSocket frames out of the buffer: one SIP message
// per data frame (RFC 7118 §5.1), fragments put together; pings answered.
func (wsFraming) cut(c *streamConn, deliver func([]byte)) (int, error) {
	used := 0
	for {
		h, payload, n, need, err := c.cutter.Cut(c.buf[used:])
		if err != nil {
			return used, err
		}
		if n == 0 {
			if need > 0 && int64(cap(c.buf)) < int64(used)+need {
				if h.Length > 1<<20 {
					return used, errFrameTooLarge
				}
				grown := make([]byte, len(c.buf), used+int(need))
				copy(grown, c.buf)
				c.buf = grown
			}
			return used, nil // not all here yet
		}
		used += n
		switch h.OpCode {
		case ws.OpPing:
			if c.closing.Load() == streamOpen {
				_ = c.writeFrame(ws.OpPong, payload)
			}
		case ws.OpPong:
			c.pong()
		case ws.OpClose:
			if !c.closing.CompareAndSwap(streamOpen, peerClosed) && !c.closing.CompareAndSwap(closeAsked, peerClosed) {
				continue // the answer to our Close (or a repeat)
			}
			// Echo it, with its status code (RFC 6455 §5.5.1).
			var status []byte
			if len(payload) >= 2 {
				status = payload[:2]
			}
			_ = c.writeFrame(ws.OpClose, status)
			return used, errWSClosed
		case ws.OpText, ws.OpBinary, ws.OpContinuation:
			if h.Fin && len(c.frame) == 0 {
				deliver(payload)
				continue
			}
			c.frame = append(c.frame, payload...)
			if h.Fin {
				deliver(c.frame)
				c.frame = nil
			}
		}
	}
}

// frameBuf is where a send builds its frame.
type frameBuf struct {
	hdr [ws.MaxHeaderSize]byte
	w   sliceWriter
}

var framePool = sync.Pool{New: func() any { return &frameBuf{w: sliceWriter{b: make([]byte, 0, 2048)}} }}

// writeFrame sends one masked frame (RFC 6455: a client masks) in one
// Write, so that a pong from the reader and a send never interleave.
func (c *streamConn) writeFrame(op ws.OpCode, payload []byte) error {
	f := framePool.Get().(*frameBuf)
	defer framePool.Put(f)
	h := ws.Header{Fin: true, OpCode: op, Masked: true, Mask: ws.NewMask(), Length: int64(len(payload))}
	f.w.b = f.w.b[:0]
	if err := ws.WriteHeaderBuffer(&f.w, h, f.hdr[:]); err != nil {
		return err
	}
	n := len(f.w.b)
	f.w.b = append(f.w.b, payload...)
	ws.Cipher(f.w.b[n:], h.Mask, 0)
	return c.write(f.w.b)
}

// sliceWriter appends to b without allocating.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}
