package main

import (
	"crypto/tls"
	"crypto/x509"

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
