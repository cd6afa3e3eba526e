//go:build integration

package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/identity"
	"github.com/regstorm/regstorm/sipwire"
)

// writeUsers writes a SIPp -inf file: n users with comments and a blank
// line, every field filled in.
func writeUsers(t *testing.T, dir string, n int) string {
	var b strings.Builder
	b.WriteString("SEQUENTIAL\n# user;domain;password, as SIPp reads it with -inf\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "gw%04d;127.0.0.1;secret\n", i)
		if i == n/2 {
			b.WriteString("# second half\n")
		}
	}
	f := filepath.Join(dir, "users.csv")
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestSameCSVForSIPpAndRegstorm feeds one users file to SIPp (-inf) and to
// regstorm (--users) against the same Kamailio with digest auth; Kamailio's
// usrloc must show every user registered by each.
func TestSameCSVForSIPpAndRegstorm(t *testing.T) {
	const n = 40
	k := startKamailio(t, map[string]string{"KSAMEUSER": "0"}) // SIPp authenticates as one user
	dir := t.TempDir()
	users := writeUsers(t, dir, n)
	target := fmt.Sprintf("127.0.0.1:%d", k.port)

	sf, _ := filepath.Abs("../bench/peers/sipp/uac-register-auth.xml")
	cmd := exec.Command("sipp", target, "-sf", sf, "-inf", users, "-m", strconv.Itoa(n), "-r", "200", "-au", "gw0001", "-ap", "secret",
		"-i", "127.0.0.1", "-t", "u1", "-nostdin", "-timeout", "20s", "-timeout_error", "-trace_err")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("SIPp with -inf: %v\n%s", err, tail(string(out), 2000))
	}
	if got := k.contacts(); got != n {
		t.Fatalf("after SIPp, Kamailio holds %d contacts, want %d", got, n)
	}

	list, err := identity.LoadUsers(users)
	if err != nil {
		t.Fatal(err)
	}
	o := options(target, n, sipwire.UDP)
	o.Groups[0].Identity.Users = list
	o.Duration = 2 * time.Second
	var during int
	var missing []string
	res := runAndWatch(t, o, time.Second, func() {
		during = k.contacts()
		for i := 1; i <= n; i++ {
			out, ok := k.lookup(fmt.Sprintf("gw%04d", i))
			if !ok || strings.Count(out, "Contact:") < 2 { // SIPp's contact and regstorm's
				missing = append(missing, fmt.Sprintf("gw%04d", i))
			}
		}
	})
	s := res.Summary
	if s.Registered != n || s.AuthChallenges < n || during != 2*n || len(missing) > 0 {
		t.Fatalf("regstorm registered %d (challenges %d); Kamailio held %d contacts (want %d); users without both contacts: %v",
			s.Registered, s.AuthChallenges, during, 2*n, missing)
	}
	// regstorm un-registered its own bindings; SIPp's remain.
	if left := k.contacts(); left != n {
		t.Errorf("after regstorm's drain Kamailio holds %d contacts, want SIPp's %d", left, n)
	}
}
