package netio

// TLS (and the TLS under WSS): the client configuration a dial uses. The
// connection itself is a stream (stream.go).

import "crypto/tls"

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
