package registrar

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
	"golang.org/x/sys/unix"

	"github.com/regstorm/regstorm/netio"
)

// Server runs a Registrar: UDP and TCP on gnet event loops (one per
// core) on one port, TLS, WS and WSS on listeners of their own with a
// goroutine per connection (stream.go).
type Server struct {
	gnet.BuiltinEventEngine
	Reg  *Registrar
	Addr string // host:port of UDP and TCP; without them, of the first other transport

	eng    gnet.Engine
	gnetOn bool // UDP or TCP served
	booted chan struct{}
	done   chan error
	stop   chan struct{}
	pool   workers

	transports map[string]string // transport → host:port
	streams    []*streamListener
	tls        *tls.Config
	cert       *tls.Certificate
	connMu     sync.Mutex
	conns      map[*streamConn]struct{}
	closing    bool
	wg         sync.WaitGroup // accept loops and stream connections
	tlsDone    atomic.Int64
	tlsFailed  atomic.Int64
}

// tcpConn is a TCP connection's state: the CRLFs seen since the last
// message, to answer a keep-alive ping (RFC 5626 §4.4.1).
type tcpConn struct{ crlfs int }

// ErrPortInUse is Listen's refusal of a port another process holds (a
// *PortInUseError says which).
var ErrPortInUse = errors.New("port already in use by another process")

// Listen starts a server on host for the given transports (see
// ParseTransports): "udp" and "tcp" on port, "tls", "ws" and "wss" on
// port +1/+2/+3 or the port they name ("tls:5071"). Port 0 picks free
// ports, the same one for UDP and TCP. TLS and WSS present
// Config.Cert, or a self-signed certificate made here.
func Listen(reg *Registrar, host string, port int, transports []string) (*Server, error) {
	eps, err := ParseTransports(transports, port)
	if err != nil {
		return nil, fmt.Errorf("registrar: %w", err)
	}
	s := &Server{Reg: reg, booted: make(chan struct{}), done: make(chan error, 1), stop: make(chan struct{}),
		transports: map[string]string{}, conns: map[*streamConn]struct{}{}}
	s.pool.reg = reg
	var gnetTransports, addrs []string
	var streamEps []Endpoint
	for _, ep := range eps {
		if isStream(ep.Transport) {
			streamEps = append(streamEps, ep)
		} else {
			gnetTransports = append(gnetTransports, ep.Transport)
		}
	}
	if len(gnetTransports) > 0 {
		picked := port == 0
		for try := 0; ; try++ {
			if picked {
				p, err := pickPort(host, gnetTransports)
				if err != nil {
					return nil, err
				}
				port = p
			}
			s.Addr = net.JoinHostPort(host, strconv.Itoa(port))
			if reg.cfg.ReusePort {
				break
			}
			err := portFree(s.Addr, gnetTransports)
			if err == nil {
				break
			}
			// A port picked here can be taken by another socket before
			// the check (tests that start registrars at once): pick again.
			if !picked || try == 9 {
				return nil, err
			}
		}
		for _, t := range gnetTransports {
			addrs = append(addrs, t+"://"+s.Addr)
			s.transports[t] = s.Addr
		}
	}
	if err := s.openStreams(host, streamEps); err != nil {
		return nil, err
	}
	if len(gnetTransports) > 0 {
		s.gnetOn = true
		go func() {
			// SO_REUSEADDR: the TIME-WAIT connections this listener leaves
			// behind then do not block portFree at a restart on the same port.
			s.done <- gnet.Rotate(s, addrs,
				gnet.WithMulticore(true), gnet.WithReusePort(true), gnet.WithReuseAddr(true),
				gnet.WithLogLevel(logging.ErrorLevel), netio.GnetLogger(s.Reg.cfg.Logf),
				gnet.WithSocketRecvBuffer(4<<20), gnet.WithSocketSendBuffer(4<<20))
		}()
		select {
		case <-s.booted:
		case err = <-s.done:
			err = fmt.Errorf("registrar: listen on %s: %w", s.Addr, err)
		case <-time.After(5 * time.Second):
			err = fmt.Errorf("registrar: listen on %s: timed out", s.Addr)
		}
		if err != nil {
			s.closeStreams()
			return nil, err
		}
	}
	for _, sl := range s.streams {
		s.wg.Add(1)
		go s.accept(sl)
	}
	go s.sweep()
	return s, nil
}

// openStreams makes the TLS configuration (if TLS or WSS is served) and
// opens the TLS, WS and WSS listeners; on an error none is left open.
func (s *Server) openStreams(host string, eps []Endpoint) error {
	cfg := &s.Reg.cfg
	for _, ep := range eps {
		if ep.Transport != "ws" && s.tls == nil {
			s.cert = cfg.Cert
			if s.cert == nil {
				c, err := selfSigned(host)
				if err != nil {
					return fmt.Errorf("registrar: certificate: %w", err)
				}
				s.cert = c
			}
			s.tls = tlsConfig(s.cert, cfg)
		}
	}
	for _, ep := range eps {
		sl, err := listenStream(host, ep, cfg.ReusePort)
		if err != nil {
			for _, o := range s.streams {
				o.ln.Close()
			}
			s.streams = nil
			return err
		}
		s.streams = append(s.streams, sl)
		s.transports[ep.Transport] = sl.addr
		if s.Addr == "" {
			s.Addr = sl.addr
		}
	}
	return nil
}

// AddrOf is the host:port a transport ("udp", "tcp", "tls", "ws", "wss")
// is served on, "" when it is not served.
func (s *Server) AddrOf(transport string) string { return s.transports[transport] }

// Fingerprint is the SHA-256 fingerprint of the certificate TLS and WSS
// present, as `openssl x509 -fingerprint -sha256` prints it; "" when
// neither is served.
func (s *Server) Fingerprint() string {
	if s.cert == nil || len(s.cert.Certificate) == 0 {
		return ""
	}
	return fingerprint(s.cert.Certificate[0])
}

// Certificate is the leaf certificate TLS and WSS present (nil when
// neither is served): a client in the same process may trust it.
func (s *Server) Certificate() *x509.Certificate {
	if s.cert == nil || len(s.cert.Certificate) == 0 {
		return nil
	}
	if s.cert.Leaf != nil {
		return s.cert.Leaf
	}
	leaf, err := x509.ParseCertificate(s.cert.Certificate[0])
	if err != nil {
		return nil
	}
	return leaf
}

// portFree checks that no other socket holds addr, before gnet binds it
// with SO_REUSEPORT (one socket per event loop; gnet always sets it for
// UDP), which would join the other process's sockets and share the
// requests with it. The probes set no SO_REUSEPORT, so any holder makes
// them fail. (Two registrars started at the same instant can still both
// pass; the window is the few milliseconds until gnet binds.)
func portFree(addr string, transports []string) error {
	for _, t := range transports {
		var c io.Closer
		var err error
		if t == "tcp" {
			// Go sets SO_REUSEADDR: a port left with connections in
			// TIME-WAIT (a restart) passes, one with a listener does not.
			c, err = net.Listen("tcp", addr)
		} else {
			c, err = net.ListenPacket("udp", addr)
		}
		if errors.Is(err, syscall.EADDRINUSE) {
			return &PortInUseError{Transport: t, Addr: addr}
		}
		if err != nil {
			return fmt.Errorf("registrar: %w", err)
		}
		c.Close()
	}
	return nil
}

// freePort finds a port free for every transport on host.
// pickPort is freePort; a test makes it return a port already taken.
var pickPort = freePort

func freePort(host string, transports []string) (int, error) {
	for try := 0; try < 50; try++ {
		l, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
		if err != nil {
			return 0, err
		}
		port := l.LocalAddr().(*net.UDPAddr).Port
		ok := true
		for _, t := range transports {
			if t == "tcp" {
				tl, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
				if err != nil {
					ok = false
					break
				}
				tl.Close()
			}
		}
		l.Close()
		if ok {
			return port, nil
		}
	}
	return 0, errors.New("registrar: no free port")
}

// sweepEvery is how often expired bindings are freed, as Kamailio's
// usrloc timer_interval (60 s by default). Reads never see an expired
// binding anyway; the sweep only gives the memory back, and each pass
// touches every binding (57 ns each in BenchmarkSweep at 10^6, so 0.6 s
// or more at 10^7): every 5 s, as it was, it took over a tenth of a core
// from the event loops, and at 10^7 the UDP answers were lost in a burst
// every 5 s (bench/RESULTS.md, the 10^7 run).
const sweepEvery = 60 * time.Second

// txSweepEvery is how often the transactions past Timer J are dropped
// when no new one comes to drop them (transactions.sweep): a burst's
// memory goes back within Timer J and this.
const txSweepEvery = time.Second

func (s *Server) sweep() {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	tx := time.NewTicker(txSweepEvery)
	defer tx.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.Reg.Loc.Sweep(now)
		case <-tx.C:
			if s.Reg.txns != nil {
				s.Reg.txns.sweep(s.Reg.Now().UnixNano()) // the clock of the entries
			}
		}
	}
}

// Close stops the event loops and the stream listeners, drops every
// stream connection, and waits for them all.
func (s *Server) Close() error {
	close(s.stop)
	s.closeStreams()
	if !s.gnetOn {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.eng.Stop(ctx)
	<-s.done
	return err
}

// Stats sums the workers' counters (exact once the server is closed).
func (s *Server) Stats() (st Worker) {
	s.pool.each(func(w *Worker) {
		st.Requests += atomic.LoadInt64(&w.Requests)
		st.Malformed += atomic.LoadInt64(&w.Malformed)
		st.Challenges += atomic.LoadInt64(&w.Challenges)
		st.AuthFailures += atomic.LoadInt64(&w.AuthFailures)
		st.Replays += atomic.LoadInt64(&w.Replays)
		st.Stales += atomic.LoadInt64(&w.Stales)
		st.Registered += atomic.LoadInt64(&w.Registered)
		st.Unregistered += atomic.LoadInt64(&w.Unregistered)
		st.Rejected += atomic.LoadInt64(&w.Rejected)
		st.Dropped += atomic.LoadInt64(&w.Dropped)
		st.Throttled += atomic.LoadInt64(&w.Throttled)
		st.Retransmissions += atomic.LoadInt64(&w.Retransmissions)
	})
	st.TLSHandshakes, st.TLSFailures = s.tlsDone.Load(), s.tlsFailed.Load()
	return st
}

func (s *Server) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	close(s.booted)
	return gnet.None
}

// OnOpen marks stream connections; datagram "connections" never open.
func (s *Server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	c.SetContext(&tcpConn{})
	return nil, gnet.None
}

func (s *Server) OnTraffic(c gnet.Conn) gnet.Action {
	w := s.pool.get()
	defer s.pool.put(w)
	if c.Context() == nil { // UDP: one datagram
		buf, _ := c.Next(-1)
		switch w.Handle(buf) {
		case Reply:
			_, _ = c.Write(w.Out)
		case Later:
			s.later(c, w.Out, true)
		}
		return gnet.None
	}
	// TCP: as many whole messages as are buffered.
	tc, _ := c.Context().(*tcpConn)
	action := gnet.None
	buf, _ := c.Peek(-1)
	used, err := netio.Messages(buf, func(msg []byte) bool {
		if tc != nil {
			tc.crlfs = 0
		}
		switch w.Handle(msg) {
		case Reply:
			_, _ = c.Write(w.Out)
			if s.Reg.cfg.CloseAfterAnswer {
				action = gnet.Close // gnet sends what is still buffered first
				return false
			}
		case Later:
			s.later(c, w.Out, false)
		}
		return true
	}, func(n int) bool {
		if tc != nil && s.pingSeen(&tc.crlfs, n) {
			_, _ = c.Write(crlfPong)
		}
		return true
	})
	if err != nil {
		return gnet.Close // the stream cannot be resynchronised
	}
	_, _ = c.Discard(used)
	return action
}

// later sends a copy of out after the configured delay (fault injection;
// allocation here is fine).
func (s *Server) later(c gnet.Conn, out []byte, udp bool) {
	data := append([]byte(nil), out...)
	delay := s.Reg.cfg.Delay
	if !udp {
		var then gnet.AsyncCallback
		if s.Reg.cfg.CloseAfterAnswer {
			then = func(c gnet.Conn, _ error) error { return c.Close() }
		}
		time.AfterFunc(delay, func() { _ = c.AsyncWrite(data, then) })
		return
	}
	fd := c.Fd()
	ua, ok := c.RemoteAddr().(*net.UDPAddr)
	if !ok {
		return
	}
	sa := netio.Sockaddr(ua.AddrPort())
	time.AfterFunc(delay, func() { _ = unix.Sendto(fd, data, 0, sa) })
}

// crlfPong answers a double-CRLF keep-alive ping (RFC 5626 §4.4.1).
var crlfPong = []byte("\r\n")

// pingSeen counts n CRLF bytes more between messages; a double CRLF (4
// bytes, in one read or several) is a ping to answer, unless the
// registrar is silent (it answers nothing, pings included).
func (s *Server) pingSeen(crlfs *int, n int) bool {
	*crlfs += n
	if *crlfs < 4 {
		return false
	}
	*crlfs = 0
	return !s.Reg.silent.Load()
}
