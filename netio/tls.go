package netio

// TLS: SIP messages on the TLS byte stream, framed as TCP's are
// (tlsFraming), and the client configuration a dial uses (also for the
// TLS under WSS). The connection itself is a streamConn (stream.go).

import (
	"crypto/tls"

	"github.com/regstorm/regstorm/sipwire"
)

// tlsFraming carries SIP messages on the byte stream (RFC 3261 §18.3)
// with CRLF keep-alives (RFC 5626), as TCP's.
type tlsFraming struct{}

// handshake: TLS's was made by dialStream, nothing follows it.
func (tlsFraming) handshake(*streamConn, sipwire.Transport, string, StreamOptions) error {
	return nil
}

func (tlsFraming) cut(c *streamConn, deliver func([]byte)) (int, error) {
	return Messages(c.buf, func(msg []byte) bool {
		deliver(msg)
		return true
	}, func(int) bool {
		c.pong()
		return true
	})
}

func (tlsFraming) send(c *streamConn, b []byte) error { return c.write(b) }

func (tlsFraming) ping(c *streamConn) error { return c.write(crlfPing) }

// goodbye sends close_notify; the write side stays open, and the TCP FIN
// waits for the peer's. One that cannot be written aborts.
func (tlsFraming) goodbye(c *streamConn) {
	if tc, ok := c.nc.(*tls.Conn); ok {
		if err := tc.CloseWrite(); err != nil { // bounded by crypto/tls: 5 s
			_ = c.Abort()
		}
	}
}

// tlsConfig is the configuration a dial to host uses: a copy of o.TLS
// with ServerName set and the session cache of tag. Without a session
// cache one copy per host serves every connection (a copy per connection
// cost about 600 bytes per NAP, bench/RESULTS.md, issue 15).
func (l *Loops) tlsConfig(o StreamOptions, host string, tag any) *tls.Config {
	cfg := o.TLS
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if o.Sessions == nil {
		if cfg.ServerName != "" {
			return cfg
		}
		l.streamMu.Lock()
		defer l.streamMu.Unlock()
		if c, ok := l.streamCfgs[host]; ok {
			return c
		}
		if l.streamCfgs == nil {
			l.streamCfgs = make(map[string]*tls.Config)
		}
		c := cfg.Clone()
		c.ServerName = host
		l.streamCfgs[host] = c
		return c
	}
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	cfg.ClientSessionCache = o.Sessions(tag)
	return cfg
}
