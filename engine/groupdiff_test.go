package engine

import (
	"reflect"
	"testing"
	"time"

	"github.com/regstorm/regstorm/identity"
	"github.com/regstorm/regstorm/nap"
)

// A reload compares two groups: every setting of a NAP (nap.Config) and
// of who it is (identity.Identity) must show as a change, either one the
// NAPs take at their next REGISTER (softChanges) or a new place
// (placeOf). A field added to either struct and missed by both fails
// here by name: --expires-jitter was once missed, and a reload lost
// every NAP's jitter.
func TestEverySettingOfAGroupIsAChange(t *testing.T) {
	base := simGroup("g", 10, "10.0.0.1:5060")
	base.NAP.ExpiresJitter = 5
	base.Identity.Domain, base.Identity.RequestURI, base.Identity.Route = "example.com", "sip:example.com", "<sip:10.0.0.9;lr>"
	base.Identity.Users = []identity.User{{Name: "u1", Password: "p1"}}
	runOnly := map[string]bool{
		"Identity.RunID": true, // the run's, the same for every group and reload
	}
	check := func(path string, mutate func(g *Group)) {
		t.Helper()
		if runOnly[path] {
			return
		}
		g := base
		g.Identity.Users = append([]identity.User(nil), base.Identity.Users...)
		mutate(&g)
		if len(softChanges(&base, &g)) == 0 && placeOf(&base) == placeOf(&g) {
			t.Errorf("%s changed, and a reload sees no change", path)
		}
	}
	for _, sect := range []struct {
		name string
		typ  reflect.Type
		of   func(g *Group) reflect.Value
	}{
		{"NAP", reflect.TypeOf(nap.Config{}), func(g *Group) reflect.Value { return reflect.ValueOf(&g.NAP).Elem() }},
		{"Identity", reflect.TypeOf(identity.Identity{}), func(g *Group) reflect.Value { return reflect.ValueOf(&g.Identity).Elem() }},
	} {
		for k := 0; k < sect.typ.NumField(); k++ {
			f := sect.typ.Field(k)
			check(sect.name+"."+f.Name, func(g *Group) {
				if !changeValue(sect.of(g).Field(k)) {
					t.Fatalf("%s.%s: the test cannot change a %v: teach changeValue", sect.name, f.Name, f.Type)
				}
			})
		}
	}
}

// changeValue sets v to another value of its type.
func changeValue(v reflect.Value) bool {
	if v.Type() == reflect.TypeOf(identity.Pattern{}) {
		p, _ := identity.ParsePattern("other%04d")
		v.Set(reflect.ValueOf(p))
		return true
	}
	if v.Type() == reflect.TypeOf(time.Duration(0)) {
		v.SetInt(v.Int() + int64(time.Second))
		return true
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 1)
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes(append(append([]byte(nil), v.Bytes()...), 'x'))
			return true
		}
		if v.Len() == 0 {
			return false
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(c, v)
		for k := 0; k < c.Index(0).NumField(); k++ {
			if c.Index(0).Field(k).Kind() == reflect.String {
				c.Index(0).Field(k).SetString(c.Index(0).Field(k).String() + "x")
			}
		}
		v.Set(c)
	default:
		return false
	}
	return true
}
