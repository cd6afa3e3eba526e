package metrics

import "bytes"

// RequestMethods are the methods of requests that reach a NAP (a
// registrar's or SBC's OPTIONS ping, a NOTIFY, a call) counted each by
// name; any other is counted as "other".
var RequestMethods = [...]string{"OPTIONS", "NOTIFY", "INVITE", "ACK", "BYE", "CANCEL", "MESSAGE",
	"INFO", "SUBSCRIBE", "UPDATE", "PRACK", "REFER", "PUBLISH", "REGISTER", "other"}

// numMethods sizes Counts.RequestsReceived.
const numMethods = len(RequestMethods)

// RequestReceived counts one request that reached a NAP, by method
// (case-sensitive, as RFC 3261 §7.1 says method names are).
func (r *Recorder) RequestReceived(method []byte) {
	r.RequestsReceived[methodIndex(method)]++
}

func methodIndex(method []byte) int {
	for k, name := range RequestMethods[:numMethods-1] {
		if bytes.Equal(method, []byte(name)) {
			return k
		}
	}
	return numMethods - 1
}

// requestsByMethod is the summary's requests_received: nil when none.
func requestsByMethod(counts *[numMethods]int64) map[string]int64 {
	var out map[string]int64
	for k, n := range counts {
		if n == 0 {
			continue
		}
		if out == nil {
			out = map[string]int64{}
		}
		out[RequestMethods[k]] = n
	}
	return out
}
