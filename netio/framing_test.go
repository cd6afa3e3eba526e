package netio

import (
	"bytes"
	"errors"
	"testing"

	"github.com/gobwas/ws"

	"github.com/regstorm/regstorm/sipwire"
)

const framingMsg = "SIP/2.0 200 OK\r\nCSeq: 1 REGISTER\r\nContent-Length: 2\r\n\r\nhi"

// Messages cuts whole messages and CRLF runs, leaves a partial message,
// stops when told, and fails on a stream it cannot frame.
func TestMessages(t *testing.T) {
	buf := []byte("\r\n\r\n" + framingMsg + "\r\n" + framingMsg + framingMsg[:10])
	var msgs []string
	var crlfs []int
	used, err := Messages(buf, func(m []byte) bool { msgs = append(msgs, string(m)); return true },
		func(n int) bool { crlfs = append(crlfs, n); return true })
	if err != nil || used != len(buf)-10 || len(msgs) != 2 || msgs[0] != framingMsg || len(crlfs) != 2 || crlfs[0] != 4 || crlfs[1] != 2 {
		t.Errorf("used %d of %d, err %v, messages %q, CRLF runs %v", used, len(buf), err, msgs, crlfs)
	}
	used, _ = Messages(buf, func([]byte) bool { return false }, func(int) bool { return true })
	if used != 4+len(framingMsg) {
		t.Errorf("stopped after the first message: used %d, want %d", used, 4+len(framingMsg))
	}
	_, err = Messages([]byte("REGISTER sip:x SIP/2.0\r\n\r\n"), func([]byte) bool { return true }, func(int) bool { return true })
	if !errors.Is(err, sipwire.ErrNoContentLength) {
		t.Errorf("a message without Content-Length: %v", err)
	}
	if a := testing.AllocsPerRun(100, func() {
		_, _ = Messages(buf, func([]byte) bool { return true }, func(int) bool { return true })
	}); a != 0 && !raceEnabled {
		t.Errorf("%v allocations per call, want 0", a)
	}
}

// FrameCutter cuts a masked or unmasked frame whole, says how long a
// partial one will be, and waits for a partial header.
func TestFrameCutter(t *testing.T) {
	var wire bytes.Buffer
	mask := ws.NewMask()
	payload := []byte(framingMsg)
	masked := append([]byte(nil), payload...)
	ws.Cipher(masked, mask, 0)
	if err := ws.WriteHeader(&wire, ws.Header{Fin: true, OpCode: ws.OpText, Masked: true, Mask: mask, Length: int64(len(payload))}); err != nil {
		t.Fatal(err)
	}
	wire.Write(masked)
	one := wire.Len()
	if err := ws.WriteHeader(&wire, ws.Header{Fin: true, OpCode: ws.OpPong}); err != nil {
		t.Fatal(err)
	}
	buf := wire.Bytes()

	var fc FrameCutter
	if _, _, n, need, err := fc.Cut(buf[:1]); n != 0 || need != 0 || err != nil {
		t.Errorf("a partial header: n %d, need %d, err %v", n, need, err)
	}
	if _, _, n, need, err := fc.Cut(buf[:one-1]); n != 0 || need != int64(one) || err != nil {
		t.Errorf("a partial frame: n %d, need %d (want %d), err %v", n, need, one, err)
	}
	h, p, n, _, err := fc.Cut(buf)
	if err != nil || n != one || h.OpCode != ws.OpText || string(p) != framingMsg {
		t.Errorf("the text frame: %+v %q, n %d, err %v", h, p, n, err)
	}
	h, p, n, _, err = fc.Cut(buf[one:])
	if err != nil || n != 2 || h.OpCode != ws.OpPong || len(p) != 0 {
		t.Errorf("the pong: %+v %q, n %d, err %v", h, p, n, err)
	}
	pong := buf[one:]
	if a := testing.AllocsPerRun(100, func() { _, _, _, _, _ = fc.Cut(pong) }); a != 0 && !raceEnabled {
		t.Errorf("%v allocations per cut, want 0", a)
	}
}
