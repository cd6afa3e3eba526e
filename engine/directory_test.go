package engine

import (
	"testing"

	"github.com/regstorm/regstorm/identity"
	"github.com/regstorm/regstorm/sipwire"
)

func TestDirectoryUsesCSVDomainAndPassword(t *testing.T) {
	id := &identity.Identity{Users: []identity.User{{Name: "a", Domain: "one.example", Password: "pa"}, {Name: "b"}}, RunID: 1}
	d := &directory{id: id, domain: []byte("default.example"),
		global: func(l uint32) uint64 { return uint64(l) },
		local:  func(uint32) ([]byte, int) { return []byte("127.0.0.1"), 5070 }}
	var r sipwire.Register
	d.Identity(0, &r)
	if string(r.User) != "a" || string(r.Domain) != "one.example" || string(d.Password(0)) != "pa" {
		t.Errorf("user 0: %s@%s %s", r.User, r.Domain, d.Password(0))
	}
	d.Identity(1, &r)
	if string(r.User) != "b" || string(r.Domain) != "default.example" || d.Password(1) != nil {
		t.Errorf("user 1: %s@%s %q", r.User, r.Domain, d.Password(1))
	}
}
