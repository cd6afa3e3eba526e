package runspec

import (
	"flag"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/nap"
	"github.com/regstorm/regstorm/sipwire"
)

// secs is a value in seconds, as the command's flags give it (int64).
type secs struct{ n int64 }

func (v *secs) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	v.n = n
	return err
}
func (v *secs) String() string { return strconv.FormatInt(v.n, 10) }
func (v *secs) Get() any       { return v.n }

// runFlags are the settings a level reads, with the command's defaults.
func runFlags(fs *flag.FlagSet) error {
	for name, v := range map[string]string{"target": "", "proxy": "", "transport": "udp", "domain": "", "dns-server": "",
		"tls-version": "1.2+", "tls-ca": "", "tls-cert": "", "tls-key": "", "ws-path": "/", "digest-choice": "first",
		"sockets": "shared", "local-ip": "", "shard": "", "start-at": "", "user-pattern": "nap%06d", "password": "secret",
		"users": "", "keepalive": "", "reboot-at": "", "reboot-group": "", "stages": ""} {
		fs.String(name, v, "")
	}
	for name, v := range map[string]time.Duration{"t1": 500 * time.Millisecond, "t2": 4 * time.Second, "timer-f": 32 * time.Second,
		"retry": 30 * time.Second, "drain": 5 * time.Second, "duration": 0, "tick": time.Millisecond, "initial-delay": 0,
		"churn-offline": time.Minute, "keepalive-interval": 30 * time.Second} {
		fs.Duration(name, v, "")
	}
	for name, v := range map[string]int{"naps": 1000, "window": 1000, "event-loops": 1, "sockets-per-loop": 0, "user-start": 1} {
		fs.Int(name, v, "")
	}
	for name, v := range map[string]float64{"rate": 0, "churn-rate": 0, "reboot-fraction": 1} {
		fs.Float64(name, v, "")
	}
	for name, v := range map[string]bool{"udp-gso": true, "tls-insecure": false, "tls-no-resume": false, "churn-silent": false, "shared-aor": false} {
		fs.Bool(name, v, "")
	}
	fs.Var(&secs{3600}, "expires", "")
	fs.Var(&secs{0}, "expires-jitter", "")
	return nil
}

// line is a command line, parsed.
func line(t *testing.T, args ...string) Values {
	t.Helper()
	fs := flag.NewFlagSet("regstorm", flag.ContinueOnError)
	_ = runFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return &Layer{fs: fs}
}

// A level is read and checked without a process, nothing resolved.
func TestReadLevel(t *testing.T) {
	l, err := ReadLevel(line(t, "--naps", "10", "--target", "sip:192.0.2.7;transport=tcp", "--expires", "600",
		"--keepalive", "crlf", "--rate", "50"))
	if err != nil {
		t.Fatal(err)
	}
	g := l.Group
	if g.NAPs != 10 || g.NAP.Transport != sipwire.TCP || g.NAP.Expires != 600 || l.Run.Keepalive != nap.KeepaliveCRLF || l.Run.Rate != 50 {
		t.Errorf("%+v", g)
	}
	if g.Target != "" || l.hop.Port != 5060 || l.given != "tcp" {
		t.Errorf("target %q, hop %+v, given %q: the plan resolves", g.Target, l.hop, l.given)
	}
	if err := l.resolve(); err != nil || l.Group.Target != "192.0.2.7:5060" {
		t.Errorf("resolved: %q, %v", l.Group.Target, err)
	}
}

// Refusals name the flag; each check runs whatever the next hop.
func TestReadLevelRefuses(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--naps", "0"}, "--naps 0: must be at least 1"},
		{[]string{"--keepalive", "crlf"}, "--keepalive crlf: CRLF pings are for streams"}, // the embedded registrar, over udp
		{[]string{"--keepalive", "crlf", "--target", "sip:127.0.0.1"}, "--keepalive crlf: CRLF pings are for streams"},
		{[]string{"--keepalive", "crlf", "--target", "sip:reg.example.test", "--transport", "udp"}, "--keepalive crlf"},
		{[]string{"--target", "sip:h;transport=tcp", "--transport", "udp"}, `--target "sip:h;transport=tcp" says transport=tcp, --transport says udp`},
		{[]string{"--expires", "0"}, "--expires 0: want 1..4294967295 seconds"},
		{[]string{"--expires", "60", "--expires-jitter", "60"}, "--expires-jitter 60: want 0 up to --expires 60 less 1"},
		{[]string{"--t2", "1ms"}, "--t2 1ms: must not be below --t1 500ms"},
		{[]string{"--proxy", "sip:p.example.test"}, "name the registrar with --target"},
		{[]string{"--user-pattern", "nap"}, `--user-pattern "nap" has no %d`},
		{[]string{"--local-ip", "::1"}, "--local-ip is IPv6, the embedded registrar listens on IPv4 127.0.0.1"},
	} {
		_, err := ReadLevel(line(t, tc.args...))
		if _, ok := err.(UsageError); !ok || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v (want a usage error with %q)", tc.args, err, tc.want)
		}
	}
	// A name without a transport: NAPTR chooses, and the plan checks.
	if _, err := ReadLevel(line(t, "--keepalive", "crlf", "--target", "sip:reg.example.test")); err != nil {
		t.Errorf("crlf toward a name, transport left to DNS: %v", err)
	}
}

// Through a proxy, --target names the registrar's domain: the
// Request-URI and the AOR's, unless --domain.
func TestReadLevelThroughAProxy(t *testing.T) {
	l, err := ReadLevel(line(t, "--target", "sip:[2001:db8::1]:5070", "--proxy", "sip:192.0.2.9;lr", "--naps", "1"))
	if err != nil {
		t.Fatal(err)
	}
	id := l.Group.Identity
	if id.Route != "<sip:192.0.2.9;lr>" || id.Domain != "[2001:db8::1]" || id.RequestURI != "sip:[2001:db8::1]:5070" || l.hopFlag != "--proxy" {
		t.Errorf("%+v, hop %s", id, l.hopFlag)
	}
	l, err = ReadLevel(line(t, "--target", "sip:reg.example.test", "--proxy", "sip:192.0.2.9", "--domain", "example.test", "--naps", "1"))
	if err != nil || l.Group.Identity.Domain != "example.test" {
		t.Errorf("--domain: %q, %v", l.Group.Identity.Domain, err)
	}
}

// The plan's limits: memory is checked for this shard's NAPs, with what
// the process can read about it.
func TestPlanLimits(t *testing.T) {
	l, err := ReadLevel(line(t, "--naps", "10000000000", "--target", "192.0.2.7"))
	if err != nil {
		t.Fatal(err)
	}
	meminfo := func(string) ([]byte, error) { return []byte("MemAvailable:   1048576 kB\n"), nil }
	if err := l.limits(meminfo); err == nil || !strings.Contains(err.Error(), "--naps: 10000000000 NAPs in this process need") {
		t.Errorf("10^10 NAPs in 1 GiB: %v", err)
	}
	l.Run.ShardK, l.Run.ShardN = 0, 100000000
	if err := l.limits(meminfo); err != nil {
		t.Errorf("a 10^-8 shard: %v", err)
	}
}
