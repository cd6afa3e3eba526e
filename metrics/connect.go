package metrics

import "github.com/regstorm/regstorm/netio"

// ConnectReason is why a connection (TCP, TLS, WS, WSS) could not be
// made: netio's Reason, which sorts a dial's error into one and names it
// (the summary's keys, the Prometheus labels).
type ConnectReason = netio.Reason

const (
	ReasonOther         = netio.ReasonOther
	ReasonRefused       = netio.ReasonRefused
	ReasonTimeout       = netio.ReasonTimeout
	ReasonUnreachable   = netio.ReasonUnreachable
	ReasonLocalAddress  = netio.ReasonLocalAddress
	ReasonClosed        = netio.ReasonClosed
	ReasonCertUntrusted = netio.ReasonCertUntrusted
	ReasonCertName      = netio.ReasonCertName
	ReasonCertInvalid   = netio.ReasonCertInvalid
	ReasonTLSAlert      = netio.ReasonTLSAlert
	ReasonTLS           = netio.ReasonTLS
	ReasonWSStatus      = netio.ReasonWSStatus
	ReasonWSSubprotocol = netio.ReasonWSSubprotocol
	ReasonWS            = netio.ReasonWS
	NumReasons          = netio.NumReasons
)

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
