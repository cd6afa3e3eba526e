package engine

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regstorm/regstorm/locate"
	"github.com/regstorm/regstorm/metrics"
)

// A group whose target is a name keeps resolving it, as a gateway does:
// again after the records' TTL, and --retry after a failure. A changed
// answer becomes the group's new targets (SetTargets); failures are
// counted by kind and change nothing.

// minTTL is the shortest wait between two resolutions: a TTL of 0 must
// not make a busy loop.
const minTTL = time.Second

// Resolver finds a group's targets again (Group.Resolve).
type Resolver func(ctx context.Context) (targets []Target, order func(n uint64) []int, ttl time.Duration, err error)

// dnsCounts are the resolutions made while running.
type dnsCounts struct {
	resolutions, changes, moved atomic.Int64
	mu                          sync.Mutex
	failures                    map[string]int64
}

func (d *dnsCounts) fail(err error) {
	kind := "other"
	switch {
	case errors.Is(err, locate.ErrNXDomain):
		kind = "nxdomain"
	case errors.Is(err, locate.ErrServFail):
		kind = "servfail"
	case errors.Is(err, locate.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		kind = "timeout"
	case errors.Is(err, locate.ErrNoAnswer):
		kind = "no-answer"
	}
	d.mu.Lock()
	if d.failures == nil {
		d.failures = map[string]int64{}
	}
	d.failures[kind]++
	d.mu.Unlock()
}

// summary is the summary's "dns" object; nil when nothing was resolved
// while running.
func (d *dnsCounts) summary() *metrics.DNSSummary {
	if d.resolutions.Load() == 0 {
		return nil
	}
	s := &metrics.DNSSummary{Resolutions: d.resolutions.Load(), Changes: d.changes.Load(), Moved: d.moved.Load()}
	d.mu.Lock()
	for k, n := range d.failures {
		if s.Failures == nil {
			s.Failures = map[string]int64{}
		}
		s.Failures[k] = n
	}
	d.mu.Unlock()
	return s
}

// watchDNS resolves group g again and again until the run ends.
func (e *Engine) watchDNS(g *Group) {
	current := g.Targets
	wait := max(g.TTL, minTTL)
	retry := g.NAP.Retry
	go func() {
		for {
			select {
			case <-time.After(wait):
			case <-e.done:
				return
			case <-e.draining:
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			targets, order, ttl, err := g.Resolve(ctx)
			cancel()
			e.dns.resolutions.Add(1)
			if err == nil && len(targets) == 0 {
				err = locate.ErrNoAnswer
			}
			if err != nil {
				e.dns.fail(err)
				wait = retry // as a failed connect
				continue
			}
			wait = max(ttl, minTTL)
			if sameTargets(current, targets) {
				continue
			}
			moved, err := e.SetTargets(g.Name, targets, order)
			if err != nil {
				continue // the run is stopping, or the group went away
			}
			current = targets
			e.dns.changes.Add(1)
			e.dns.moved.Add(int64(moved))
		}
	}()
}

func sameTargets(a, b []Target) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
