package main

import (
	"fmt"
	"io"
	"sync"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/runspec"
)

// Reboots on purpose (the avalanche restart): at each time of --reboot-at
// (or of the profile's reboots list), and on each SIGUSR2, a share of the
// NAPs (of a group, or of all) register from scratch at once.

// reboots arms the planned reboots at their times in w, one after the
// other, and runs one per SIGUSR2 until the run ends, saying each on
// stderr.
func reboots(w world, e *engine.Engine, usr2 <-chan struct{}, p runspec.Reboots, stderr io.Writer) {
	var mu sync.Mutex // one reboot at a time, as they come
	reboot := func(why string, req engine.RebootReq) {
		mu.Lock()
		defer mu.Unlock()
		n, err := e.Reboot(req)
		if err != nil {
			fmt.Fprintf(stderr, "regstorm: %s: no reboot: %v\n", why, err)
			return
		}
		fmt.Fprintf(stderr, "regstorm: %s: %d NAPs rebooted, registering from scratch\n", why, n)
	}
	var planned func(k int)
	planned = func(k int) { // the next is armed once this one is done
		if k < len(p.Times) {
			w.at(e, p.Times[k].At, func() { reboot(p.Times[k].Why, p.Times[k].Req); planned(k + 1) })
		}
	}
	planned(0)
	go func() {
		for {
			select {
			case <-usr2:
				reboot("SIGUSR2", p.Req)
			case <-e.Done():
				return
			}
		}
	}()
}
