package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/netsim"
	"github.com/regstorm/regstorm/registrar"
)

// simEmbedded is where the embedded registrar is in a simulated world:
// one address for every transport.
const simEmbedded = "127.0.0.1:5060"

// simWorld runs the whole command in simulated time on a netsim network:
// the command's wiring (flags, profile, stages, reboots, outputs, exit
// status) is the real one; the sockets, the clock and the registrars
// behind the targets are netsim's.
type simWorld struct {
	net  *netsim.Network
	woke chan struct{} // the engine asked its loop for something (Wake)
	// step is the engine's; stopped is closed when its network is
	// stopped (the run is over) or the command returned.
	step    func() time.Duration
	stopped chan struct{}
	once    sync.Once
	// begun is closed when the command waits for the run: the clock
	// stays at the start until it has armed its reboots and stages.
	begun chan struct{}
	// hupCh is where the run takes SIGHUP (signals).
	hupCh chan<- struct{}
	err   error // what the loop could not do (hup)
}

// newSimWorld makes a world whose targets each have a registrar of the
// default configuration (netsim.Network.Configure gives one another).
func newSimWorld(targets ...string) *simWorld {
	return &simWorld{net: netsim.New(targets...), woke: make(chan struct{}, 1), stopped: make(chan struct{}), begun: make(chan struct{})}
}

func (s *simWorld) world() world {
	return world{
		clock: s.net.Clock(),
		newNetwork: func(r engine.Receiver) (engine.Network, error) {
			e, _ := r.(*engine.Engine)
			_, err := s.net.NewNetwork(r)
			return simNetwork{s.net, s, e}, err
		},
		hostCPU: netsim.HostCPU,
		at:      s.at,
		wait: func(e *engine.Engine) (*engine.Result, error) {
			close(s.begun)
			return e.Wait()
		},
		listen: func(cfg registrar.Config) (embeddedRegistrar, error) {
			s.net.Configure(simEmbedded, cfg)
			return simRegistrar{}, nil
		},
		signals: func(_ io.Writer, hup, _, _ chan<- struct{}) (context.Context, func()) {
			s.hupCh = hup
			return context.WithCancel(context.Background())
		},
	}
}

// hup sends the run SIGHUP at simulated time at, and holds the clock
// there until the reload it asks for has reached the engine's loop (every
// SIGHUP with a profile file to read does: applied or refused), so that
// it applies at that time exactly.
func (s *simWorld) hup(at time.Duration) {
	s.net.At(at, func() {
		select {
		case <-s.woke: // an old one: not this reload's
		default:
		}
		s.hupCh <- struct{}{}
		select {
		case <-s.woke:
			s.step()
		case <-time.After(10 * time.Second):
			s.err = fmt.Errorf("SIGHUP at %v: no reload reached the loop", at)
		}
	})
}

// at runs fn at the simulated time the run e has lasted d, and holds the
// clock there until fn is done: each time fn hands the loop work (the
// engine's Wake), the loop takes it at once. So a reboot or a stage is
// applied at its exact time, as a real one would be within a tick.
func (s *simWorld) at(e *engine.Engine, d time.Duration, fn func()) {
	s.net.At(e.StartedAt().Sub(netsim.Epoch)+d, func() {
		select {
		case <-e.Done():
			return
		default:
		}
		done := make(chan struct{})
		go func() { defer close(done); fn() }()
		for {
			select {
			case <-done:
				return
			case <-s.woke:
				s.step()
			}
		}
	})
}

func (s *simWorld) stop() { s.once.Do(func() { close(s.stopped) }) }

// run runs the command in the world to its end, within bound of simulated
// time: its exit code, stdout and stderr (written by several goroutines,
// as os.Stderr is).
func (s *simWorld) run(t *testing.T, bound time.Duration, args ...string) (int, *syncBuffer, *syncBuffer) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- s.net.Run(s.stopped, bound) }()
	var out, errb syncBuffer
	code := runIn(s.world(), append([]string{"regstorm"}, args...), &out, &errb)
	s.stop()
	if err := <-errc; err != nil || s.err != nil {
		t.Fatalf("%v: %v %v\n%s", args, err, s.err, errb.String())
	}
	return code, &out, &errb
}

// simNetwork is the world's network as the engine holds it: netsim's,
// with its step kept for at, its Wake said to at, and its Stop ending Run.
type simNetwork struct {
	*netsim.Network
	s *simWorld
	e *engine.Engine
}

// SetStep gives Run the engine's step, which holds the loop until the
// command waits for the run, and once the run is over until the network
// is stopped: simulated time begins and ends with the run.
func (n simNetwork) SetStep(step func() time.Duration) {
	n.s.step = step
	n.s.net.SetStep(func() time.Duration {
		select {
		case <-n.s.begun:
		case <-n.s.stopped:
		}
		d := step()
		if n.e != nil {
			select {
			case <-n.e.Done():
				<-n.s.stopped
			default:
			}
		}
		return d
	})
}

func (n simNetwork) Wake() {
	select {
	case n.s.woke <- struct{}{}:
	default: // one is pending: at steps once for both
	}
}

func (n simNetwork) Stop() error { n.s.stop(); return nil }

// simRegistrar is the embedded registrar in a simulated world: no
// certificate (the simulated streams have no TLS).
type simRegistrar struct{}

func (simRegistrar) AddrOf(string) string           { return simEmbedded }
func (simRegistrar) Certificate() *x509.Certificate { return nil }
func (simRegistrar) Fingerprint() string            { return "none (simulated)" }
func (simRegistrar) Close() error                   { return nil }
