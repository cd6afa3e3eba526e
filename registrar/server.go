package registrar

import (
	"context"
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
	"github.com/regstorm/regstorm/sipwire"
)

// Server runs a Registrar on gnet event loops (one per core), over UDP
// and/or TCP on one port.
type Server struct {
	gnet.BuiltinEventEngine
	Reg  *Registrar
	Addr string // host:port actually listened on

	eng     gnet.Engine
	booted  chan struct{}
	done    chan error
	stop    chan struct{}
	mu      sync.Mutex
	workers []*Worker
	pool    sync.Pool
}

type tcpConn struct{}

// ErrPortInUse is Listen's refusal of a port another process holds.
var ErrPortInUse = errors.New("port already in use by another process")

// Listen starts a server on host:port for the given transports ("udp",
// "tcp"). Port 0 picks a free port, the same for both transports.
func Listen(reg *Registrar, host string, port int, transports []string) (*Server, error) {
	if len(transports) == 0 {
		return nil, errors.New("registrar: no transport")
	}
	s := &Server{Reg: reg, booted: make(chan struct{}), done: make(chan error, 1), stop: make(chan struct{})}
	s.pool.New = func() any {
		w := reg.NewWorker()
		s.mu.Lock()
		s.workers = append(s.workers, w)
		s.mu.Unlock()
		return w
	}
	if port == 0 {
		p, err := freePort(host, transports)
		if err != nil {
			return nil, err
		}
		port = p
	}
	s.Addr = net.JoinHostPort(host, strconv.Itoa(port))
	var addrs []string
	for _, t := range transports {
		switch t {
		case "udp", "tcp":
			addrs = append(addrs, t+"://"+s.Addr)
		default:
			return nil, fmt.Errorf("registrar: unknown transport %q (want udp, tcp)", t)
		}
	}
	if !reg.cfg.ReusePort {
		if err := portFree(s.Addr, transports); err != nil {
			return nil, err
		}
	}
	go func() {
		// SO_REUSEADDR: the TIME-WAIT connections this listener leaves
		// behind then do not block portFree at a restart on the same port.
		s.done <- gnet.Rotate(s, addrs,
			gnet.WithMulticore(true), gnet.WithReusePort(true), gnet.WithReuseAddr(true),
			gnet.WithLogLevel(logging.ErrorLevel), netio.QuietLogger(),
			gnet.WithSocketRecvBuffer(4<<20), gnet.WithSocketSendBuffer(4<<20))
	}()
	select {
	case <-s.booted:
	case err := <-s.done:
		return nil, fmt.Errorf("registrar: listen on %s: %w", s.Addr, err)
	case <-time.After(5 * time.Second):
		return nil, fmt.Errorf("registrar: listen on %s: timed out", s.Addr)
	}
	go s.sweep()
	return s, nil
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
			return fmt.Errorf("%s %s: %w", t, addr, ErrPortInUse)
		}
		if err != nil {
			return fmt.Errorf("registrar: %w", err)
		}
		c.Close()
	}
	return nil
}

// freePort finds a port free for every transport on host.
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

func (s *Server) sweep() {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.Reg.Loc.Sweep(now)
		}
	}
}

// Close stops the event loops and waits for them.
func (s *Server) Close() error {
	close(s.stop)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.eng.Stop(ctx)
	<-s.done
	return err
}

// Stats sums the workers' counters (exact once the server is closed).
func (s *Server) Stats() (st Worker) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.workers {
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
	}
	return st
}

func (s *Server) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	close(s.booted)
	return gnet.None
}

// OnOpen marks stream connections; datagram "connections" never open.
func (s *Server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	c.SetContext(tcpConn{})
	return nil, gnet.None
}

func (s *Server) OnTraffic(c gnet.Conn) gnet.Action {
	w := s.pool.Get().(*Worker)
	defer s.pool.Put(w)
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
	for { // TCP: as many whole messages as are buffered
		buf, _ := c.Peek(-1)
		adv, tok, err := sipwire.SplitMessage(buf, false)
		if err != nil {
			return gnet.Close // the stream cannot be resynchronised
		}
		if adv == 0 {
			return gnet.None
		}
		if tok != nil {
			switch w.Handle(tok) {
			case Reply:
				_, _ = c.Write(w.Out)
				if s.Reg.cfg.CloseAfterAnswer {
					return gnet.Close // gnet sends what is still buffered first
				}
			case Later:
				s.later(c, w.Out, false)
			}
		}
		_, _ = c.Discard(adv)
	}
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
