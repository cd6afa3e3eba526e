package main

import (
	"fmt"
	"io"
	"time"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/runspec"
)

// Reboots on purpose (the avalanche restart): at each time of --reboot-at
// (or of the profile's reboots list), and on each SIGUSR2, a share of the
// NAPs (of a group, or of all) register from scratch at once.

// reboots runs the planned reboots at their times, and one per SIGUSR2,
// saying each on stderr.
func reboots(e *engine.Engine, usr2 <-chan struct{}, p runspec.Reboots, stderr io.Writer) {
	next := 0
	var at <-chan time.Time
	var timer *time.Timer
	arm := func() {
		at = nil
		if next < len(p.Times) {
			timer = time.NewTimer(time.Until(e.StartedAt().Add(p.Times[next].At)))
			at = timer.C
		}
	}
	arm()
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		var why string
		req := p.Req
		select {
		case <-at:
			why, req = p.Times[next].Why, p.Times[next].Req
			next++
			arm()
		case <-usr2:
			why = "SIGUSR2"
		case <-e.Done():
			return
		}
		n, err := e.Reboot(req)
		if err != nil {
			fmt.Fprintf(stderr, "regstorm: %s: no reboot: %v\n", why, err)
			continue
		}
		fmt.Fprintf(stderr, "regstorm: %s: %d NAPs rebooted, registering from scratch\n", why, n)
	}
}
