package engine

import (
	"fmt"
	"time"

	"github.com/regstorm/regstorm/metrics"
)

// reloadState is what the run's reloads did: for the summary, and the
// changes the next snapshot reports.
type reloadState struct {
	reloads    metrics.Reloads
	newChanges []string
}

// apply turns the run into what groups describes (on the loop). A NAP is
// known by its group's name and its index in the group:
//   - a group that is new starts its NAPs (at its rate, if any);
//   - a group that is gone, or says register false, un-REGISTERs its NAPs;
//   - fewer NAPs: those above the new count un-REGISTER; more: the new
//     ones start;
//   - a new place (target, transport, proxy, AOR, local address): a new cohort;
//     each NAP un-REGISTERs at the old place before it registers at the
//     new one;
//   - credentials, expires and timers change in place: each NAP takes
//     them at its next REGISTER, and sends nothing extra now.
func (e *Engine) apply(groups []Group, now time.Duration) Change {
	var ch Change
	o := &e.o
	o.Groups = groups // the shares of a top-level rate follow the new groups
	named := map[string]bool{}
	for i := range groups {
		g := &groups[i]
		named[g.Name] = true
		gr := e.byName[g.Name]
		if gr == nil || gr.removed {
			if gr == nil {
				var err error
				if gr, err = e.addGroup(g, now); err != nil {
					ch.Items = append(ch.Items, fmt.Sprintf("%s not added: %v", g.Name, err))
					continue
				}
			} else { // back after a removal: a new cohort, same NAPs
				gr.removed = false
				if _, err := e.addCohort(gr, g, gr.live(), now); err != nil {
					ch.Items = append(ch.Items, fmt.Sprintf("%s not added: %v", g.Name, err))
					continue
				}
			}
			n := gr.live().want
			ch.Started += n
			ch.Items = append(ch.Items, fmt.Sprintf("%s added (%d NAPs%s)", g.Name, n, registerNote(g)))
			continue
		}
		old := gr.live()
		if placeOf(&old.spec) != placeOf(g) {
			moving := old.want
			old.stopFrom(0)
			co, err := e.addCohort(gr, g, old, now)
			if err != nil {
				old.want, old.started = moving, moving // keep the old place
				ch.Items = append(ch.Items, fmt.Sprintf("%s not moved: %v", g.Name, err))
				continue
			}
			ch.Stopped += moving
			ch.Started += co.want
			ch.Items = append(ch.Items, fmt.Sprintf("%s moved: %d NAPs un-REGISTER at the old place and register at the new one", g.Name, max(moving, co.want)))
			continue
		}
		e.resize(old, g, now, &ch)
	}
	for _, gr := range e.groups {
		if named[gr.name] || gr.removed {
			continue
		}
		co := gr.live()
		ch.Stopped += co.started
		ch.Items = append(ch.Items, fmt.Sprintf("%s removed (%d NAPs un-REGISTER)", gr.name, co.started))
		co.stopFrom(0)
		gr.removed = true
	}
	e.meant = e.meantNow()
	return ch
}

func registerNote(g *Group) string {
	if g.Register {
		return ""
	}
	return ", register false"
}

// resize applies a group's new count, register flag and soft settings to
// its live cohort.
func (e *Engine) resize(co *cohort, g *Group, now time.Duration, ch *Change) {
	name := g.Name
	soft := softChanges(&co.spec, g)
	wasRegister := co.spec.Register
	co.spec.NAP = g.NAP
	// The same users (else it would be a move): only their passwords may
	// differ; the new slice is never written, so lanes may share it.
	co.spec.Identity.PasswordPattern, co.spec.Identity.Users = g.Identity.PasswordPattern, g.Identity.Users
	co.spec.NAPs, co.spec.Register, co.spec.Rate = g.NAPs, g.Register, g.Rate
	co.mine = mine(g.NAPs, e.o.ShardK, e.o.ShardN)
	if len(soft) > 0 {
		for _, l := range co.lanes {
			l.lockOnLoop()
			l.id.PasswordPattern, l.id.Users = g.Identity.PasswordPattern, g.Identity.Users
			l.d.M.SetConfig(g.NAP, l.d.NAPs)
			l.unlockOnLoop()
		}
		ch.Items = append(ch.Items, fmt.Sprintf("%s: %s at each NAP's next REGISTER", name, joinItems(soft)))
	}
	want := 0
	if g.Register {
		want = co.mine
	}
	switch {
	case want < co.want:
		n := co.want - want
		co.stopFrom(want)
		ch.Stopped += n
		if !g.Register && wasRegister {
			ch.Items = append(ch.Items, fmt.Sprintf("%s register false (%d NAPs un-REGISTER)", name, n))
		} else {
			ch.Items = append(ch.Items, fmt.Sprintf("%s −%d NAPs (un-REGISTER)", name, n))
		}
	case want > co.want:
		n := want - co.want
		co.want = want
		co.rate = e.rateOf(g)
		co.rampBegin, co.rampBase = now, co.started // the new ones start now
		ch.Started += n
		if g.Register && !wasRegister {
			ch.Items = append(ch.Items, fmt.Sprintf("%s register true (%d NAPs register)", name, n))
		} else {
			ch.Items = append(ch.Items, fmt.Sprintf("%s +%d NAPs", name, n))
		}
	}
}

func joinItems(items []string) string {
	out := ""
	for k, s := range items {
		if k > 0 {
			out += ", "
		}
		out += s
	}
	return out
}
