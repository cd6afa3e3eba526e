package main

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"strings"

	"github.com/regstorm/regstorm/runspec"
	"github.com/urfave/cli/v2"
)

// The client side of tls, ws and wss: how regstorm checks the target's
// certificate, which certificate it shows, and how it reconnects.

func tlsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "tls-ca", Usage: "tls, wss: trust the certificates in this PEM `FILE` instead of the system's roots", EnvVars: env("tls-ca")},
		&cli.BoolFlag{Name: "tls-insecure", Usage: "tls, wss: do not verify the target's certificate (labs only)", EnvVars: env("tls-insecure")},
		&cli.StringFlag{Name: "tls-cert", Usage: "tls, wss: client certificate, PEM `FILE` (mutual TLS; with --tls-key)", EnvVars: env("tls-cert")},
		&cli.StringFlag{Name: "tls-key", Usage: "tls, wss: the client certificate's private key, PEM `FILE`", EnvVars: env("tls-key")},
		&cli.StringFlag{Name: "tls-version", Value: "1.2+", Usage: "tls, wss: 1.2, 1.3, or 1.2+ (either, the peer picks)", EnvVars: env("tls-version")},
		&cli.BoolFlag{Name: "tls-no-resume", Usage: "tls, wss: every handshake a full one (by default a NAP that reconnects resumes its TLS session)", EnvVars: env("tls-no-resume")},
		&cli.StringFlag{Name: "ws-path", Value: "/", Usage: "ws, wss: the path of the WebSocket URI", EnvVars: env("ws-path")},
	}
}

// loadTLS makes the client TLS configuration from the flags: files read
// and checked now, so that a bad one is an exit 2 before anything starts.
func loadTLS(c runspec.Values) (*tls.Config, error) {
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

// trustEmbedded adds the embedded registrar's certificate to what cfg
// trusts: it is self-signed, made at start, and this process knows it.
func trustEmbedded(cfg *tls.Config, leaf *x509.Certificate) *tls.Config {
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.InsecureSkipVerify || leaf == nil {
		return cfg
	}
	cfg = cfg.Clone()
	if cfg.RootCAs == nil {
		if sys, err := x509.SystemCertPool(); err == nil {
			cfg.RootCAs = sys
		} else {
			cfg.RootCAs = x509.NewCertPool()
		}
	} else {
		cfg.RootCAs = cfg.RootCAs.Clone()
	}
	cfg.RootCAs.AddCert(leaf)
	return cfg
}
