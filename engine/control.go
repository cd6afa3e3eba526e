package engine

import (
	"errors"
	"time"
)

// ErrStopping: the run is stopping or over, so what was asked of it
// (a reload, a reboot, new targets) was not done.
var ErrStopping = errors.New("engine: the run is stopping")

// onLoop runs fn on the loop, which owns the run's state, at its next
// step, and returns what fn returned: the one way in for reloads,
// reboots, new targets and stages. ErrStopping if the run ends first.
func onLoop[T any](e *Engine, fn func(now time.Duration) T) (T, error) {
	var zero T
	reply := make(chan T, 1)
	select {
	case e.ctrlQ <- func(now time.Duration) { reply <- fn(now) }:
	case <-e.done:
		return zero, ErrStopping
	}
	e.net.Wake()
	select {
	case v := <-reply:
		return v, nil
	case <-e.done:
		return zero, ErrStopping
	}
}

// control runs the work handed to the loop since its last step.
func (e *Engine) control(now time.Duration) {
	for {
		select {
		case fn := <-e.ctrlQ:
			fn(now)
		default:
			return
		}
	}
}
