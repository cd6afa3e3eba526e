package metrics

// ConnectReason is why a connection (TCP, TLS, WS, WSS) could not be
// made, in words a user can act on. netio sorts a dial's error into one.
type ConnectReason uint8

const (
	ReasonOther         ConnectReason = iota
	ReasonRefused                     // nothing listens there (RST)
	ReasonTimeout                     // no answer to the connect or the handshake in time
	ReasonUnreachable                 // no route
	ReasonLocalAddress                // the local address or port cannot be used
	ReasonClosed                      // the peer closed or reset during the handshake
	ReasonCertUntrusted               // the certificate chain does not lead to a trusted root
	ReasonCertName                    // the certificate does not name the host asked for (SNI)
	ReasonCertInvalid                 // expired, not yet valid, or not for server authentication
	ReasonTLSAlert                    // the peer refused the handshake with an alert (e.g. our client certificate)
	ReasonTLS                         // any other TLS handshake failure
	ReasonWSStatus                    // the WebSocket upgrade was answered with another status than 101
	ReasonWSSubprotocol               // the WebSocket peer did not select the sip subprotocol
	ReasonWS                          // any other WebSocket upgrade failure
	NumReasons
)

var reasonNames = [NumReasons]string{
	"other", "refused", "timeout", "unreachable", "local-address", "closed",
	"cert-untrusted", "cert-name", "cert-invalid", "tls-alert", "tls", "ws-status", "ws-subprotocol", "ws",
}

func (r ConnectReason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "other"
}

// Handshakes counts the TLS handshakes of tls and wss connections, and
// the failed connects of every stream transport by reason.
type Handshakes struct {
	Full, Resumed int64
	Failed        [NumReasons]int64
}

func (h *Handshakes) add(o *Handshakes) {
	h.Full += o.Full
	h.Resumed += o.Resumed
	for i, n := range o.Failed {
		h.Failed[i] += n
	}
}

// HandshakeSummary is the summary's "handshakes" object.
type HandshakeSummary struct {
	Full      int64       `json:"full"`
	Resumed   int64       `json:"resumed"`
	LatencyMS Percentiles `json:"latency_ms"` // connected → ready to carry SIP (TLS handshake, WebSocket upgrade)
}

// failureReasons is the summary's "connect_failure_reasons": nil when
// every connect succeeded.
func failureReasons(h *Handshakes) map[string]int64 {
	var m map[string]int64
	for r, n := range h.Failed {
		if n > 0 {
			if m == nil {
				m = map[string]int64{}
			}
			m[ConnectReason(r).String()] = n
		}
	}
	return m
}
