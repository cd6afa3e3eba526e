package netio

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// Reason is why a connection (TCP, TLS, WS, WSS) could not be made, in
// words a user can act on: ReasonOf sorts a dial's error into one. Its
// names (String) are the summary's and the Prometheus labels
// (metrics.ConnectReason is this type).
type Reason uint8

const (
	ReasonOther         Reason = iota
	ReasonRefused              // nothing listens there (RST)
	ReasonTimeout              // no answer to the connect or the handshake in time
	ReasonUnreachable          // no route
	ReasonLocalAddress         // the local address or port cannot be used
	ReasonClosed               // the peer closed or reset during the handshake
	ReasonCertUntrusted        // the certificate chain does not lead to a trusted root
	ReasonCertName             // the certificate does not name the host asked for (SNI)
	ReasonCertInvalid          // expired, not yet valid, or not for server authentication
	ReasonTLSAlert             // the peer refused the handshake with an alert (e.g. our client certificate)
	ReasonTLS                  // any other TLS handshake failure
	ReasonWSStatus             // the WebSocket upgrade was answered with another status than 101
	ReasonWSSubprotocol        // the WebSocket peer did not select the sip subprotocol
	ReasonWS                   // any other WebSocket upgrade failure
	NumReasons
)

var reasonNames = [NumReasons]string{
	"other", "refused", "timeout", "unreachable", "local-address", "closed",
	"cert-untrusted", "cert-name", "cert-invalid", "tls-alert", "tls", "ws-status", "ws-subprotocol", "ws",
}

func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "other"
}

// ReasonOf says why a dial failed, in the words the summary counts.
func ReasonOf(err error) Reason {
	var (
		unknown   x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		alert     tls.AlertError
		recordHdr tls.RecordHeaderError
		status    ws.StatusError
		ne        net.Error
	)
	switch {
	case errors.Is(err, ErrWSSubprotocol):
		return ReasonWSSubprotocol
	case errors.As(err, &status):
		return ReasonWSStatus
	case errors.Is(err, ws.ErrHandshakeBadSubProtocol):
		return ReasonWSSubprotocol
	case errors.As(err, &unknown):
		return ReasonCertUntrusted
	case errors.As(err, &hostname):
		return ReasonCertName
	case errors.As(err, &invalid):
		return ReasonCertInvalid
	case errors.Is(err, unix.ECONNREFUSED):
		return ReasonRefused
	case errors.Is(err, unix.EHOSTUNREACH), errors.Is(err, unix.ENETUNREACH):
		return ReasonUnreachable
	case errors.Is(err, unix.EADDRINUSE), errors.Is(err, unix.EADDRNOTAVAIL):
		return ReasonLocalAddress
	case errors.As(err, &ne) && ne.Timeout():
		return ReasonTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, unix.ECONNRESET), errors.Is(err, unix.EPIPE):
		return ReasonClosed
	case isRemoteAlert(err), errors.As(err, &alert):
		return ReasonTLSAlert
	case errors.As(err, &recordHdr):
		return ReasonTLS
	case isWS(err):
		return ReasonWS
	case isTLS(err):
		return ReasonTLS
	}
	return ReasonOther
}

// isRemoteAlert: crypto/tls reports an alert the peer sent as an OpError
// whose Op is "remote error".
func isRemoteAlert(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}

func isWS(err error) bool {
	for _, e := range []error{ws.ErrHandshakeBadProtocol, ws.ErrHandshakeBadUpgrade, ws.ErrHandshakeBadConnection,
		ws.ErrHandshakeBadSecAccept, ws.ErrHandshakeBadExtensions, ws.ErrMalformedResponse} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// isTLS: crypto/tls's other handshake errors are plain errors starting
// "tls: ".
func isTLS(err error) bool {
	s := err.Error()
	return len(s) > 5 && s[:5] == "tls: "
}
