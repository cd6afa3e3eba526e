package nap

import (
	"strconv"

	"github.com/regstorm/regstorm/sipwire"
)

// Requests reach a NAP too: registrars and SBCs ping registered contacts
// with OPTIONS (and drop the bindings of those that do not answer), some
// send a NOTIFY, a test may place a call. A NAP answers each as a gateway
// that takes no calls would, statelessly (RFC 3261 §8.2):
//   - OPTIONS: 200 OK with Allow and Accept (§11.2);
//   - ACK: nothing (it is never answered);
//   - a request inside a dialog (a To tag), or a CANCEL: 481, since the
//     NAP has no dialog and no INVITE transaction;
//   - any other method: 405 Method Not Allowed, with Allow (§8.2.1).

// allowHeader: what a NAP accepts, in its 200 to OPTIONS and its 405s.
const allowHeader = "Allow: OPTIONS\r\nAccept: application/sdp\r\n"

// AppendAnswer writes NAP's answer to request m (parsed, with
// ParseAddresses done) into dst. ok is false when the request gets no
// answer (an ACK) or cannot be answered (it lacks a header a response
// copies: the caller counts it as malformed, err says so).
func AppendAnswer(dst []byte, m *sipwire.Msg, userAgent []byte) (out []byte, ok bool, err error) {
	if err := m.Answerable(); err != nil {
		return dst, false, err
	}
	method := m.Method
	if sipwire.EqualFold(method, "ack") {
		return dst, false, nil
	}
	// A To tag of our own, fixed by the request's Call-ID and CSeq, so a
	// retransmitted request gets the same answer.
	var tagBuf [16]byte
	tag := strconv.AppendUint(append(tagBuf[:0], "gw"...), sipwire.TagHash(m, true)>>24, 36)
	switch {
	case sipwire.EqualFold(method, "options") && m.To.Tag == nil:
		dst = sipwire.AppendResponseHead(dst, m, 200, "OK", tag)
		dst = append(dst, allowHeader...)
	case m.To.Tag != nil || sipwire.EqualFold(method, "cancel"):
		dst = sipwire.AppendResponseHead(dst, m, 481, "Call/Transaction Does Not Exist", tag)
	default:
		dst = sipwire.AppendResponseHead(dst, m, 405, "Method Not Allowed", tag)
		dst = append(dst, allowHeader...)
	}
	if len(userAgent) > 0 {
		dst = append(dst, "Server: "...)
		dst = append(dst, userAgent...)
		dst = append(dst, "\r\n"...)
	}
	return sipwire.AppendResponseEnd(dst), true, nil
}
