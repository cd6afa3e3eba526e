package netio

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"

	"github.com/regstorm/regstorm/metrics"
)

// ReasonOf says why a dial failed, in the words the summary counts.
func ReasonOf(err error) metrics.ConnectReason {
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
		return metrics.ReasonWSSubprotocol
	case errors.As(err, &status):
		return metrics.ReasonWSStatus
	case errors.Is(err, ws.ErrHandshakeBadSubProtocol):
		return metrics.ReasonWSSubprotocol
	case errors.As(err, &unknown):
		return metrics.ReasonCertUntrusted
	case errors.As(err, &hostname):
		return metrics.ReasonCertName
	case errors.As(err, &invalid):
		return metrics.ReasonCertInvalid
	case errors.Is(err, unix.ECONNREFUSED):
		return metrics.ReasonRefused
	case errors.Is(err, unix.EHOSTUNREACH), errors.Is(err, unix.ENETUNREACH):
		return metrics.ReasonUnreachable
	case errors.Is(err, unix.EADDRINUSE), errors.Is(err, unix.EADDRNOTAVAIL):
		return metrics.ReasonLocalAddress
	case errors.As(err, &ne) && ne.Timeout():
		return metrics.ReasonTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, unix.ECONNRESET), errors.Is(err, unix.EPIPE):
		return metrics.ReasonClosed
	case isRemoteAlert(err), errors.As(err, &alert):
		return metrics.ReasonTLSAlert
	case errors.As(err, &recordHdr):
		return metrics.ReasonTLS
	case isWS(err):
		return metrics.ReasonWS
	case isTLS(err):
		return metrics.ReasonTLS
	}
	return metrics.ReasonOther
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
