package registrar

import (
	"strconv"
	"time"

	"github.com/regstorm/regstorm/sipwire"
)

// answer is what the registrar answered a transaction, all the
// transaction table keeps of it (in 4 bits): with the request, sent
// again, and the time of the answer, it writes the same response again.
type answer uint8

const (
	ansNone        answer = iota
	ansOK                 // 200, the AOR's bindings
	ansChallenge          // 401, a nonce made at the answer's time
	ansStale              // 401 as ansChallenge, stale=true
	ansBadRequest         // 400
	ansForbidden          // 403
	ansNotAllowed         // 405, Allow: REGISTER
	ansTooBrief           // 423, Min-Expires
	ansServerError        // 500
	ansThrottled          // 503, Retry-After (Config.MaxRate)
	ansRejected           // Config.RejectCode (Config.RejectProb)
)

var statuses = [...]struct {
	code   int
	reason string
}{
	ansOK:          {200, "OK"},
	ansChallenge:   {401, "Unauthorized"},
	ansStale:       {401, "Unauthorized"},
	ansBadRequest:  {400, "Bad Request"},
	ansForbidden:   {403, "Forbidden"},
	ansNotAllowed:  {405, "Method Not Allowed"},
	ansTooBrief:    {423, "Interval Too Brief"},
	ansServerError: {500, "Server Internal Error"},
	ansThrottled:   {503, "Service Unavailable"},
	ansRejected:    {}, // Config.RejectCode's
}

// again writes the answer a, given at at, to the request in w.m (a
// retransmission of the one it answered), without handling it again:
// the same bytes as then. A 200 lists the AOR's bindings as they are,
// with the times left as of at: what it listed then, unless another
// transaction has changed them since.
func (w *Worker) again(a answer, at time.Time) {
	m := &w.m
	if m.ParseAddresses() != nil { // a 400 then too, unless this is not the same request
		w.respond(ansBadRequest, nil)
		return
	}
	switch a {
	case ansOK, ansChallenge, ansStale:
		_, host, ok := w.aorOf(m.To.URI)
		if !ok {
			w.respond(ansBadRequest, nil)
			return
		}
		if a != ansOK {
			w.writeChallenge(w.realm(host), at, a == ansStale)
			return
		}
		if !m.ContactStar {
			e := w.r.Loc.lock(w.aor)
			w.gather(&e, at.UnixNano())
			e.unlock()
		}
		w.respond(ansOK, w.expiresLine(m))
	case ansNotAllowed:
		w.respond(a, allowRegister)
	case ansTooBrief:
		w.respond(a, w.r.minExpires)
	case ansThrottled:
		w.respond(a, w.r.retryAfter)
	default:
		w.respond(a, nil)
	}
}

// respond writes answer a to w.m into w.Out: the Vias (as received: the
// transport answers to the packet's source), From, To with a tag,
// Call-ID, CSeq, the bindings gathered in w.cont for a 200, and one
// optional extra header line (nil: none); bytes, not strings, so
// answering allocates nothing. w.ans says what was answered.
func (w *Worker) respond(a answer, extra []byte) {
	m := &w.m
	code, reason := statuses[a].code, statuses[a].reason
	if a == ansRejected {
		code = w.r.cfg.RejectCode
		reason = rejectReason(code)
	}
	w.ans = a
	var tag []byte
	if m.To.Tag == nil {
		// A stable tag per Call-ID, so retransmissions agree.
		tag = strconv.AppendUint(append(w.tag[:0], "rs"...), sipwire.TagHash(m, false), 36)
		w.tag = tag
	}
	o := sipwire.AppendResponseHead(w.Out[:0], m, code, reason, tag)
	if code == 200 {
		o = append(o, w.cont...)
	}
	if len(extra) > 0 {
		o = append(o, extra...)
		o = append(o, "\r\n"...)
	}
	o = append(o, "Server: regstorm\r\nContent-Length: 0\r\n\r\n"...)
	w.Out = o
	w.cont = w.cont[:0]
}

// rejectReason is the reason phrase of Config.RejectCode.
func rejectReason(code int) string {
	switch code {
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 408:
		return "Request Timeout"
	case 480:
		return "Temporarily Unavailable"
	case 486:
		return "Busy Here"
	case 500:
		return "Server Internal Error"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Server Time-out"
	}
	return "Rejected"
}
