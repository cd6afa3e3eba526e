package netio

import (
	"bytes"
	"errors"
	"io"

	"github.com/gobwas/ws"

	"github.com/regstorm/regstorm/sipwire"
)

// Framing, shared by every stream reader of regstorm: SIP messages cut
// out of a byte stream (TCP, TLS: RFC 3261 §18.3), and WebSocket frames
// cut out of one (WS, WSS: RFC 6455 §5.2). Both work on the bytes a
// reader holds (gnet's inbound buffer, a goroutine's read buffer), without
// an allocation, and leave the policy (what a message or a ping does,
// when to stop) to the caller.

// Messages cuts the whole SIP messages out of buf, the bytes a stream has
// brought and not yet used, in order: each message goes to onMessage,
// each run of CRLFs between messages (a keep-alive's ping or pong, RFC
// 5626 §4.4.1) to onCRLF with its length. A callback that returns false
// stops it after that piece. It returns the bytes used (what is left is
// a message not yet whole) and an error when the stream cannot be framed
// (a message without Content-Length, or larger than
// sipwire.MaxMessageSize): it cannot be resynchronised and must be
// closed. Messages are slices of buf.
func Messages(buf []byte, onMessage func(msg []byte) bool, onCRLF func(n int) bool) (used int, err error) {
	for {
		adv, tok, err := sipwire.SplitMessage(buf[used:], false)
		if err != nil {
			return used, err
		}
		if adv == 0 {
			return used, nil
		}
		used += adv
		var more bool
		if tok != nil {
			more = onMessage(tok)
		} else {
			more = onCRLF(adv)
		}
		if !more {
			return used, nil
		}
	}
}

// FrameCutter cuts WebSocket frames out of a byte buffer. Its zero value
// is ready; one per connection (it holds the scratch the header parser
// needs, so that cutting allocates nothing).
type FrameCutter struct {
	r   bytes.Reader
	hdr [ws.MaxHeaderSize]byte
}

// Cut reads the frame at the start of buf. With the whole frame there it
// returns its header, its payload (a slice of buf, unmasked in place) and
// the bytes it takes. Otherwise n is 0, and need is the length of the
// whole frame when its header is there (so that a caller can make room
// for it), else 0. err: a header gobwas/ws cannot read.
func (fc *FrameCutter) Cut(buf []byte) (h ws.Header, payload []byte, n int, need int64, err error) {
	fc.r.Reset(buf)
	h, err = ws.ReadHeaderBuffer(&fc.r, fc.hdr[:])
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return h, nil, 0, 0, nil // not all here yet
	}
	if err != nil {
		return h, nil, 0, 0, err
	}
	hlen := len(buf) - fc.r.Len()
	if int64(len(buf)-hlen) < h.Length {
		return h, nil, 0, int64(hlen) + h.Length, nil
	}
	n = hlen + int(h.Length)
	payload = buf[hlen:n]
	if h.Masked {
		ws.Cipher(payload, h.Mask, 0)
	}
	return h, payload, n, 0, nil
}

// errFrameTooLarge: a WebSocket frame netio will not buffer.
var errFrameTooLarge = errors.New("netio: websocket frame over 1 MiB")
