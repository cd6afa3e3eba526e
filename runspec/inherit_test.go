package runspec

import (
	"fmt"
	"testing"

	"github.com/regstorm/regstorm/engine"
)

// Every setting a group's NAPs receive comes to the group from its own
// key, else from the profile's top-level key (else the default): read by
// the same rules, with nothing left behind on the way. A reload builds
// its spec through Build too, so what is proven here holds at start and
// on every reload (engine.TestEverySettingOfAGroupIsAChange proves the
// engine then sees each change).
func TestEveryGroupSettingIsInheritedOrItsOwn(t *testing.T) {
	get := func(f func(g engine.Group) any) func(engine.Group) string {
		return func(g engine.Group) string { return fmt.Sprint(f(g)) }
	}
	cases := []struct {
		key      string
		top, own string
		got      func(engine.Group) string
		top2     string // what got says for top (when it differs from it)
		own2     string
	}{
		{"expires", "300", "120", get(func(g engine.Group) any { return g.NAP.Expires }), "", ""},
		{"expires-jitter", "30", "10", get(func(g engine.Group) any { return g.NAP.ExpiresJitter }), "", ""},
		{"t1", "100ms", "200ms", get(func(g engine.Group) any { return g.NAP.T1 }), "", ""},
		{"t2", "2s", "3s", get(func(g engine.Group) any { return g.NAP.T2 }), "", ""},
		{"timer-f", "10s", "20s", get(func(g engine.Group) any { return g.NAP.TimerF }), "", ""},
		{"retry", "7s", "9s", get(func(g engine.Group) any { return g.NAP.Retry }), "", ""},
		{"digest-choice", "strongest", "first", get(func(g engine.Group) any { return g.NAP.DigestChoice }), "", ""},
		{"transport", "tcp", "tls", get(func(g engine.Group) any { return g.NAP.Transport }), "", ""},
		{"target", "192.0.2.7", "192.0.2.8", get(func(g engine.Group) any { return g.Target }), "192.0.2.7:5060", "192.0.2.8:5060"},
		{"user-pattern", "top%04d", "own%04d", get(func(g engine.Group) any { return g.Identity.UserPattern.String() }), "", ""},
		{"user-start", "5", "9", get(func(g engine.Group) any { return g.Identity.UserStart }), "", ""},
		{"password", "pw-top", "pw-own", get(func(g engine.Group) any { return g.Identity.PasswordPattern.String() }), "", ""},
		{"domain", "top.example", "own.example", get(func(g engine.Group) any { return g.Identity.Domain }), "", ""},
		{"naps", "7", "3", get(func(g engine.Group) any { return g.NAPs }), "", ""},
		{"proxy", "sip:192.0.2.5", "sip:192.0.2.6:5070", get(func(g engine.Group) any { return g.Identity.Route + " " + g.Target }),
			"<sip:192.0.2.5;lr> 192.0.2.5:5060", "<sip:192.0.2.6:5070;lr> 192.0.2.6:5070"},
		{"local-ip", "127.0.0.2", "127.0.0.3", get(func(g engine.Group) any { return g.LocalIPs.At(0) }), "", ""},
		{"rate", "40", "15", get(func(g engine.Group) any { return g.Rate }), "0", "15"},
	}
	// the keys a profile's group may set (docs/cli.md#profiles); the
	// others are the top level's, for every group
	groupKeys := map[string]bool{"expires": true, "transport": true, "target": true, "user-pattern": true, "user-start": true,
		"password": true, "domain": true, "naps": true, "proxy": true, "local-ip": true, "rate": true}
	for _, c := range cases {
		t.Run(c.key, func(t *testing.T) {
			target := "target: 192.0.2.1\n"
			if c.key == "target" {
				target = ""
			}
			own := fmt.Sprintf("%s: %s", c.key, c.own)
			wantOwn, wantTop := c.own, c.top
			if c.own2 != "" {
				wantOwn, wantTop = c.own2, c.top2
			}
			if !groupKeys[c.key] { // a run-wide key: every group has the top level's
				own, wantOwn = "naps: 1000", wantTop
			}
			yaml := fmt.Sprintf("%s%s: %s\ngroups:\n  - {name: own, %s}\n  - {name: inherits}\n", target, c.key, c.top, own)
			s, err := Build(source(t, yaml))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Plan(); err != nil {
				t.Fatal(err)
			}
			gs := s.Groups()
			if got := c.got(gs[0]); got != wantOwn {
				t.Errorf("the group's own %s: %s, want %s", c.key, got, wantOwn)
			}
			if got := c.got(gs[1]); got != wantTop {
				t.Errorf("inherited %s: %s, want %s", c.key, got, wantTop)
			}
		})
	}
}
