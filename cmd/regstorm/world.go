package main

import (
	"context"
	"crypto/x509"
	"io"
	"time"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/registrar"
	"github.com/regstorm/regstorm/scheduler"
	"github.com/regstorm/regstorm/sipwire"
)

// world is what a run takes from outside the program: the time, the
// network, the host, and the embedded registrar's sockets. main runs in
// the real one (realWorld); a test may run the whole command in a
// simulated one (netsim), where the same wiring takes milliseconds for
// minutes of load and every message has an exact time.
type world struct {
	// clock, newNetwork and hostCPU are the engine's (engine.Options);
	// nil: the real ones.
	clock      scheduler.Clock
	newNetwork func(engine.Receiver) (engine.Network, error)
	hostCPU    func() metrics.CPUTimes
	// at calls fn once the run e has lasted d by its clock, unless it has
	// ended by then: the planned reboots and the stages. fn may call the
	// engine and at again.
	at func(e *engine.Engine, d time.Duration, fn func())
	// wait waits for the run e to end (engine.Engine.Wait). The command
	// calls it once it has armed what it does at times: a simulated
	// world's clock runs from then on, a real one's never stops.
	wait func(e *engine.Engine) (*engine.Result, error)
	// listen starts the embedded registrar, serving every transport.
	listen func(registrar.Config) (embeddedRegistrar, error)
	// signals is where the run's signals come from (signalContext): the
	// process's in the real world; a simulated world's test sends them.
	signals func(stderr io.Writer, hup, usr1, usr2 chan<- struct{}) (context.Context, func())
}

// embeddedRegistrar is the registrar a run starts when a group has no
// target: a registrar.Server on free loopback ports in the real world.
type embeddedRegistrar interface {
	AddrOf(transport string) string
	Certificate() *x509.Certificate
	Fingerprint() string
	Close() error
}

// realWorld is the machine: the monotonic clock, netio, the host's CPU,
// timers, and sockets on 127.0.0.1.
func realWorld() world {
	return world{at: realAt, wait: (*engine.Engine).Wait, signals: signalContext, listen: func(cfg registrar.Config) (embeddedRegistrar, error) {
		return registrar.Listen(registrar.New(cfg), "127.0.0.1", 0, sipwire.TransportNames())
	}}
}

// realAt waits on a timer for the wall time e started plus d.
func realAt(e *engine.Engine, d time.Duration, fn func()) {
	go func() {
		t := time.NewTimer(time.Until(e.StartedAt().Add(d)))
		defer t.Stop()
		select {
		case <-t.C:
			fn()
		case <-e.Done():
		}
	}()
}
