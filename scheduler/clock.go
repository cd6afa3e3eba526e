package scheduler

import "time"

// Clock tells the time since a run started, as the wheel counts it.
type Clock interface {
	Now() time.Duration
}

// RealClock is the monotonic clock since it was made.
type RealClock struct{ start time.Time }

// NewRealClock starts a real clock at zero.
func NewRealClock() *RealClock { return &RealClock{start: time.Now()} }

// Now is the monotonic time since the clock was made.
func (c *RealClock) Now() time.Duration { return time.Since(c.start) }

// SimClock is a clock that only moves when told: tests and simulations
// drive it, so hours of protocol time run in milliseconds.
type SimClock struct {
	now time.Duration
	// Epoch, when set, is the wall time of simulated time 0: what the
	// run reports as its wall times (started_at, the .hlog's intervals),
	// the same in every run of a test, whatever the real clock says.
	Epoch time.Time
}

// Wall is the wall time of the simulated now (zero without an Epoch).
func (c *SimClock) Wall() time.Time {
	if c.Epoch.IsZero() {
		return time.Time{}
	}
	return c.Epoch.Add(c.now)
}

// Now is the simulated time.
func (c *SimClock) Now() time.Duration { return c.now }

// Set moves the clock to t; it never moves backwards.
func (c *SimClock) Set(t time.Duration) {
	if t > c.now {
		c.now = t
	}
}

// Sim couples a SimClock and a Wheel: Run fires timers one deadline at a
// time, with the clock showing each timer's own deadline while it fires.
type Sim struct {
	Clock SimClock
	Wheel *Wheel
}

// NewSim makes a simulation for ids 0..capacity-1 at the given resolution.
func NewSim(capacity int, resolution time.Duration, fire func(id uint32, now time.Duration)) *Sim {
	s := &Sim{}
	s.Wheel = NewWheel(capacity, resolution, func(id uint32, now time.Duration) {
		s.Clock.Set(now)
		fire(id, now)
	})
	return s
}

// RunUntil fires every timer due up to t, then sets the clock to t.
func (s *Sim) RunUntil(t time.Duration) {
	s.Wheel.Advance(t)
	s.Clock.Set(t)
}
