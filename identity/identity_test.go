package identity

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPattern(t *testing.T) {
	for _, c := range []struct {
		pat  string
		n    uint64
		want string
	}{
		{"nap%06d", 42, "nap000042"}, {"gw%d-x", 7, "gw7-x"}, {"fixed", 3, "fixed"}, {"%03d", 12345, "12345"},
	} {
		p, err := ParsePattern(c.pat)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(p.Append(nil, c.n)); got != c.want {
			t.Errorf("%s(%d) = %s, want %s", c.pat, c.n, got, c.want)
		}
	}
	for pat, numbered := range map[string]bool{"nap%06d": true, "gw%d-x": true, "fixed": false, "100%%": false} {
		if p, _ := ParsePattern(pat); p.Numbered() != numbered {
			t.Errorf("%q: Numbered %v", pat, p.Numbered())
		}
	}
	for _, bad := range []string{"nap%s", "a%db%d", "x%", "n%021d", "n%99999999999999999999d"} {
		if _, err := ParsePattern(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// "%%" is a literal percent, as in printf, so that a password such as
// "100%" can be given ("100%%") without being a pattern.
func TestPatternPercentEscape(t *testing.T) {
	for _, c := range []struct {
		pat  string
		n    uint64
		want string
	}{
		{"Pa%%ss", 1, "Pa%ss"}, {"100%%", 1, "100%"}, {"%%%d", 5, "%5"}, {"a%%d", 5, "a%d"},
		{"%05d%%", 42, "00042%"}, {"%%41nap%03d", 7, "%41nap007"}, {"%%%%", 1, "%%"},
	} {
		p, err := ParsePattern(c.pat)
		if err != nil {
			t.Fatalf("%q: %v", c.pat, err)
		}
		if got := string(p.Append(nil, c.n)); got != c.want {
			t.Errorf("%s(%d) = %s, want %s", c.pat, c.n, got, c.want)
		}
		buf := make([]byte, 0, 64)
		if a := testing.AllocsPerRun(100, func() { buf = p.Append(buf[:0], c.n) }); a != 0 {
			t.Errorf("%s: Append allocates %v times", c.pat, a)
		}
	}
	for _, bad := range []string{"Pa%ss", "100%", "%%%", "%d%%%d", "a%%%s"} {
		if _, err := ParsePattern(bad); err == nil || !strings.Contains(err.Error(), "%%") {
			t.Errorf("%q: %v (want an error that mentions %%%%)", bad, err)
		}
	}
}

func writeFile(t *testing.T, body string) string {
	f := filepath.Join(t.TempDir(), "users.csv")
	if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestLoadUsersSIPpFormat(t *testing.T) {
	u, err := LoadUsers(writeFile(t, "# header comment\nSEQUENTIAL\nnap1;example.com;pw1\n# in between\nnap2;;\nnap3\n\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(u) != 3 || u[0] != (User{"nap1", "example.com", "pw1"}) || u[1] != (User{Name: "nap2"}) || u[2].Name != "nap3" {
		t.Errorf("%+v", u)
	}
	r, _ := LoadUsers(writeFile(t, "RANDOM\na\nb\nc\nd\ne\nf\n"))
	if len(r) != 6 || (r[0].Name == "a" && r[1].Name == "b" && r[2].Name == "c") {
		t.Errorf("RANDOM kept the file order: %+v", r)
	}
	for body, want := range map[string]string{
		"nap1;x;y\n":                     ":1: first line must be SEQUENTIAL",
		"SEQUENTIAL\nnap1\n\nnap2\n":     ":3: blank line before more users",
		"SEQUENTIAL\nbad user;x;y\n":     ":2: bad user name",
		"SEQUENTIAL\nok;bad domain;y\n":  ":2: bad domain",
		"SEQUENTIAL\n# only a comment\n": "no users",
	} {
		if _, err := LoadUsers(writeFile(t, body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}

func TestDistinctAoRs(t *testing.T) {
	users := []User{{Name: "a"}, {Name: "a", Domain: "Example.com"}, {Name: "a", Domain: "example.COM"}, {Name: "A"}, {Name: "b", Domain: "other.test"}}
	if n := DistinctAoRs(users, "example.com"); n != 3 {
		t.Errorf("%d distinct AoRs, want 3 (a, A, b@other.test)", n)
	}
	if n := DistinctAoRs(users, "reg.test"); n != 4 {
		t.Errorf("%d distinct AoRs, want 4", n)
	}
}
