package engine

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/regstorm/regstorm/identity"
	"github.com/regstorm/regstorm/nap"
	"github.com/regstorm/regstorm/netio"
)

// Group is one kind of NAP (a profile's group): how many, who they are,
// where and how they register. A NAP is known by its group's name and
// its index in the group, so that a new configuration keeps the NAPs it
// still describes.
type Group struct {
	Name string
	NAPs int
	// Register is the gateway's "Register to Proxy?": false keeps the
	// group's NAPs silent (and un-REGISTERs them when a reload clears it).
	Register bool
	Target   string // host:port of the registrar, proxy or SBC
	NAP      nap.Config
	Identity identity.Identity
	LocalIPs *netio.AddrPool // nil: the address the target is reached from
	// Rate is the group's own ramp rate (new NAPs per second); 0: its
	// share of Options.Rate, or as fast as the window allows.
	Rate float64
	// Targets, when there are several, are where the NAPs register, and
	// Order gives NAP n's order over them (nil: the list's order); Target
	// is then the first. See targets.go.
	Targets []Target
	Order   func(n uint64) []int
	// Resolve, when set, finds the targets again TTL after the start and
	// after each answer's TTL (a target given by name); see resolve.go.
	Resolve Resolver
	TTL     time.Duration
}

// ConfigError is a configuration the engine cannot run: the command
// line maps it to a usage error (exit 2).
type ConfigError struct {
	Group string // "" for the run as a whole
	Field string // the option at fault, in the engine's words ("naps", "target", …)
	Msg   string
}

func (e *ConfigError) Error() string {
	if e.Group != "" {
		return fmt.Sprintf("group %q: %s: %s", e.Group, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Msg)
}

// validate checks one group.
func (g *Group) validate() error {
	bad := func(field, format string, a ...any) error {
		return &ConfigError{Group: g.Name, Field: field, Msg: fmt.Sprintf(format, a...)}
	}
	if err := checkTargets(g); err != nil {
		return bad("target", "%v", err)
	}
	switch {
	case g.Name == "":
		return bad("name", "every group needs a name")
	case g.NAPs < 0:
		return bad("naps", "%d: must not be negative", g.NAPs)
	case g.Target == "" && len(g.Targets) == 0:
		return bad("target", "no target")
	case g.Rate < 0:
		return bad("rate", "%v: must not be negative", g.Rate)
	}
	var fe *nap.FieldError
	if err := g.NAP.Validate(); errors.As(err, &fe) {
		return bad(fe.Field, "%s", fe.Msg)
	}
	return nil
}

// validateGroups checks a whole configuration: each group, and names
// unique.
func validateGroups(gs []Group) error {
	if len(gs) == 0 {
		return &ConfigError{Field: "groups", Msg: "no group of NAPs"}
	}
	seen := map[string]bool{}
	for i := range gs {
		if err := gs[i].validate(); err != nil {
			return err
		}
		if seen[gs[i].Name] {
			return &ConfigError{Group: gs[i].Name, Field: "name", Msg: "given to two groups"}
		}
		seen[gs[i].Name] = true
	}
	return nil
}

// placeOf is what a NAP's registration is bound to: where it registers,
// over what, through which proxy (the Route), from where, as whom. When it changes, the NAP un-REGISTERs at
// the old place and registers at the new one.
func placeOf(g *Group) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|%v|%s|%s|%s|%d|", g.Target, g.NAP.Transport, g.LocalIPs, g.Identity.Route, g.Identity.Domain, g.Identity.RequestURI, g.Identity.UserStart)
	b.WriteString(g.Identity.UserPattern.String())
	for _, u := range g.Identity.Users {
		b.WriteString("|" + u.Name + "@" + u.Domain)
	}
	return b.String()
}

// softChanges lists what changed between old and new that the NAPs take
// at their next REGISTER (credentials, expires, timers).
func softChanges(old, new *Group) []string {
	var out []string
	if old.NAP.Expires != new.NAP.Expires {
		out = append(out, fmt.Sprintf("expires %d→%d", old.NAP.Expires, new.NAP.Expires))
	}
	if old.NAP.ExpiresJitter != new.NAP.ExpiresJitter {
		out = append(out, fmt.Sprintf("expires-jitter %d→%d", old.NAP.ExpiresJitter, new.NAP.ExpiresJitter))
	}
	if old.Identity.PasswordPattern != new.Identity.PasswordPattern || !slices.EqualFunc(old.Identity.Users, new.Identity.Users,
		func(a, b identity.User) bool { return a.Password == b.Password }) {
		out = append(out, "credentials")
	}
	if old.NAP.T1 != new.NAP.T1 || old.NAP.T2 != new.NAP.T2 || old.NAP.TimerF != new.NAP.TimerF || old.NAP.Retry != new.NAP.Retry {
		out = append(out, "timers")
	}
	if old.NAP.DigestChoice != new.NAP.DigestChoice {
		out = append(out, "digest-choice")
	}
	if string(old.NAP.UserAgent) != string(new.NAP.UserAgent) {
		out = append(out, "user-agent")
	}
	if old.NAP.RequireBinding != new.NAP.RequireBinding {
		out = append(out, "require-binding")
	}
	return out
}

// mine is how many of the group's NAPs this process runs (--shard k/N:
// those with index ≡ k mod N).
func mine(naps, k, n int) int {
	if naps <= k {
		return 0
	}
	return (naps - k + n - 1) / n
}

// Change says what a new configuration changed, for the progress line
// and the summary.
type Change struct {
	Items   []string
	Started int // NAPs that start registering
	Stopped int // NAPs that un-REGISTER (removed, disabled, moved away)
}

func (c Change) String() string {
	if len(c.Items) == 0 {
		return "nothing changed"
	}
	return strings.Join(c.Items, "; ")
}

// pacedStart is when the k-th NAP of a ramp at rate per second is due.
func pacedStart(begin time.Duration, k int, rate float64) time.Duration {
	return begin + time.Duration(float64(k)/rate*float64(time.Second))
}
