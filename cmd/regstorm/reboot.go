package main

import (
	"fmt"
	"io"
	"math"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/regstorm/regstorm/engine"
)

// Reboots on purpose (the avalanche restart): at --reboot-at, and on each
// SIGUSR2, --reboot-fraction of the NAPs (of --reboot-group, or of all)
// register from scratch at once.

type rebootPlan struct {
	at  time.Duration // 0: none at a time
	req engine.RebootReq
}

func loadReboot(c *cli.Context) (rebootPlan, error) {
	p := rebootPlan{at: c.Duration("reboot-at"), req: engine.RebootReq{Fraction: c.Float64("reboot-fraction"), Group: c.String("reboot-group")}}
	if p.at < 0 {
		return p, usagef("--reboot-at %v: must not be negative", p.at)
	}
	if f := p.req.Fraction; math.IsNaN(f) || f <= 0 || f > 1 {
		return p, usagef("--reboot-fraction %v: want more than 0, at most 1", f)
	}
	return p, nil
}

// reboots runs the planned reboot and one per SIGUSR2, saying each on
// stderr.
func reboots(e *engine.Engine, usr2 <-chan struct{}, p rebootPlan, stderr io.Writer) {
	var at <-chan time.Time
	if p.at > 0 {
		t := time.NewTimer(p.at)
		defer t.Stop()
		at = t.C
	}
	for {
		var why string
		select {
		case <-at:
			why = fmt.Sprintf("--reboot-at %v", p.at)
		case <-usr2:
			why = "SIGUSR2"
		case <-e.Done():
			return
		}
		n, err := e.Reboot(p.req)
		if err != nil {
			fmt.Fprintf(stderr, "regstorm: %s: no reboot: %v\n", why, err)
			continue
		}
		fmt.Fprintf(stderr, "regstorm: %s: %d NAPs rebooted, registering from scratch\n", why, n)
	}
}
