package runspec

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"strings"
)

// LoadTLS makes the client TLS configuration from the flags: files read
// and checked now, so that a bad one is an exit 2 before anything starts.
func LoadTLS(c Values) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	switch v := c.String("tls-version"); v {
	case "1.2+":
	case "1.2":
		cfg.MaxVersion = tls.VersionTLS12
	case "1.3":
		cfg.MinVersion = tls.VersionTLS13
	default:
		return nil, usagef("--tls-version %q: want 1.2, 1.3 or 1.2+", v)
	}
	if f := c.String("tls-ca"); f != "" {
		if c.Bool("tls-insecure") {
			return nil, usagef("--tls-insecure and --tls-ca contradict each other: verify against the CA, or not at all")
		}
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, usagef("--tls-ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usagef("--tls-ca %s: no certificate in it (want PEM)", f)
		}
		cfg.RootCAs = pool
	}
	cfg.InsecureSkipVerify = c.Bool("tls-insecure")
	cert, key := c.String("tls-cert"), c.String("tls-key")
	if (cert == "") != (key == "") {
		return nil, usagef("--tls-cert and --tls-key go together")
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, usagef("--tls-cert %s, --tls-key %s: %v", cert, key, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if p := c.String("ws-path"); !strings.HasPrefix(p, "/") {
		return nil, usagef("--ws-path %q: want an absolute path, e.g. /", p)
	}
	return cfg, nil
}
