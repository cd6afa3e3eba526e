package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/registrar"
)

// Bad input exits 2 naming the flag, and nothing has started: the target
// registrar saw no message, no embedded registrar was started, and none of
// the output files exists.
func TestBadInputRefusedBeforeAnythingStarts(t *testing.T) {
	t.Parallel()
	srv := startRegistrar(t, registrar.Config{})
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	threeUsers := filepath.Join(dir, "three.csv")
	if err := os.WriteFile(threeUsers, []byte("SEQUENTIAL\na;;pw\nb;;pw\nc;;pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Profiles with storms the run could not make (the run: --duration 1s).
	prof := func(name, body string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	rebootsOutOfOrder := prof("order.yaml", "reboots:\n  - {at: 0.5s}\n  - {at: 0.2s, fraction: 0.1}\n")
	rebootsBeyond := prof("beyond.yaml", "reboots:\n  - {at: 0.5s}\n  - {at: 1s}\n")
	rebootsNoGroup := prof("nogroup.yaml", "groups:\n  - {name: a, naps: 5}\n  - {name: b, naps: 5}\nreboots:\n  - {at: 0.5s, group: c}\n")
	rebootsFraction := prof("fraction.yaml", "reboots:\n  - {at: 0.5s, fraction: 2}\n")
	rebootsAndAt := prof("both.yaml", "reboot-at: 0.5s\nreboots:\n  - {at: 0.6s}\n")
	rebootAtOrder := prof("at.yaml", "naps: 10\nreboot-at: 0.6s,0.5s\n")
	rebootGroup := prof("group.yaml", "reboot-group: trunk\n")
	stagesBad := prof("stages.yaml", "stages:\n  - {duration: 1s, naps: 5}\n  - {duration: soon, naps: 5}\n")
	stagesString := prof("stages-string.yaml", "stages: 1s\n")
	sharedGroup := prof("shared.yaml", "groups:\n  - {name: a, user-pattern: a%d}\n  - {name: b, user-pattern: bob}\n")
	stagesShort := prof("stages-short.yaml", "stages:\n  - {duration: 300ms, naps: 5}\nreboots:\n  - {at: 0.2s}\n  - {at: 0.3s}\n")
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"--domain", "bad domain"}, []string{"--domain"}},
		{[]string{"--domain", "a@b.example"}, []string{"--domain"}},
		{[]string{"--domain", "::1"}, []string{"--domain", "bracket"}},
		{[]string{"--domain", "1.2.3"}, []string{"--domain"}},
		{[]string{"--user-pattern", "a b%d"}, []string{"--user-pattern"}},
		{[]string{"--user-pattern", "<nap>%d"}, []string{"--user-pattern"}},
		{[]string{"--user-start", "-1"}, []string{"--user-start"}},
		{[]string{"--drain", "-1s"}, []string{"--drain"}},
		{[]string{"--event-loops", "0"}, []string{"--event-loops"}},
		{[]string{"--timer-f", "100ms", "--t1", "500ms"}, []string{"--timer-f"}},
		{[]string{"--metrics-addr", "foo"}, []string{"--metrics-addr"}},
		{[]string{"--metrics-addr", "127.0.0.1:99999"}, []string{"--metrics-addr"}},
		{[]string{"--local-ip", "::1"}, []string{"--local-ip", "IPv6", "IPv4"}},
		{[]string{"--local-ip", "127.0.0.1,192.0.2.7"}, []string{"--local-ip 127.0.0.1,192.0.2.7: 192.0.2.7 is not an address of this host"}},
		{[]string{"--local-ip", "198.51.100.0/30"}, []string{"--local-ip 198.51.100.0/30: 198.51.100.0 is not an address of this host"}},
		{[]string{"--local-ip", "192.0.2.7", "--transport", "tcp"}, []string{"--local-ip 192.0.2.7: 192.0.2.7 is not an address of this host"}},
		{[]string{"--target", "sip:nonexistent.invalid"}, []string{"--target", "nonexistent.invalid"}},
		{[]string{"--target", "sips:" + srv.Addr + ";transport=udp"}, []string{"--target", "TLS"}},
		{[]string{"--target", "sips:" + srv.Addr, "--transport", "tcp"}, []string{"--target", "--transport"}},
		{[]string{"--transport", "sctp"}, []string{"--transport", "sctp"}},
		{[]string{"--keepalive", "crlf"}, []string{"--keepalive", "udp", "options"}},
		{[]string{"--keepalive", "stun"}, []string{"--keepalive", "stun"}},
		{[]string{"--initial-delay", "-1s"}, []string{"--initial-delay"}},
		{[]string{"--churn-rate", "-1"}, []string{"--churn-rate"}},
		{[]string{"--churn-rate", "5", "--churn-offline", "0s"}, []string{"--churn-offline"}},
		{[]string{"--reboot-fraction", "1.5"}, []string{"--reboot-fraction"}},
		{[]string{"--reboot-at", "soon"}, []string{"--reboot-at", `"soon" is not a positive time`}},
		{[]string{"--reboot-at", "0.5s,-1s"}, []string{"--reboot-at", `"-1s"`}},
		{[]string{"--reboot-at", "0.5s,0.2s"}, []string{"--reboot-at", "200ms is not after the reboot before it, at 500ms"}},
		{[]string{"--reboot-at", "0.5s,0.5s"}, []string{"--reboot-at", "not after"}},
		{[]string{"--reboot-at", "0.5s,1s"}, []string{"--reboot-at", "1s is not before the end of the load, at 1s (--duration)"}},
		{[]string{"--reboot-group", "trunk"}, []string{"--reboot-group", `no group "trunk" (groups: default)`}},
		{[]string{"--profile", rebootsOutOfOrder}, []string{"order.yaml:3: reboots", "not after"}},
		{[]string{"--profile", rebootsBeyond}, []string{"beyond.yaml:3: reboots", "not before the end of the load"}},
		{[]string{"--profile", rebootsNoGroup}, []string{"nogroup.yaml:5: reboots", `no group "c" (groups: a, b)`}},
		{[]string{"--profile", rebootsFraction}, []string{"fraction.yaml:2: reboots: fraction \"2\""}},
		{[]string{"--profile", rebootsAndAt}, []string{"both.yaml:1: reboot-at", "reboots at line 2"}},
		{[]string{"--profile", rebootAtOrder}, []string{"at.yaml:2: reboot-at", "not after"}},
		{[]string{"--profile", rebootGroup}, []string{"group.yaml:1: reboot-group", `no group "trunk"`}},
		{[]string{"--profile", stagesBad}, []string{"stages.yaml:3: stages: duration \"soon\""}},
		{[]string{"--profile", stagesString}, []string{"stages-string.yaml:1: stages", "duration:naps"}},
		{[]string{"--profile", stagesShort, "--duration", "0s"}, []string{"stages-short.yaml:5: reboots", "not before the end of the load, at 300ms (the stages' total)"}},
		{[]string{"--expires", "60", "--expires-jitter", "60"}, []string{"--expires-jitter", "--expires"}},
		{[]string{"--keepalive", "options", "--keepalive-interval", "0s"}, []string{"--keepalive-interval"}},
		{[]string{"--target", "", "--proxy", "sip:" + srv.Addr}, []string{"--proxy", "--target", "--domain"}},
		{[]string{"--target", "sip:reg.invalid", "--proxy", "sip:alice@" + srv.Addr}, []string{"--proxy", "user part"}},
		{[]string{"--target", "sip:reg.invalid", "--proxy", "sip:nonexistent.invalid"}, []string{"--proxy", "nonexistent.invalid"}},
		{[]string{"--target", "sip:reg.invalid", "--proxy", "sip:" + srv.Addr + ";transport=tcp", "--transport", "udp"}, []string{"--proxy", "--transport"}},
		{[]string{"--target", "sip:reg.invalid", "--proxy", "sip:" + srv.Addr + ";maddr=x"}, []string{"--proxy", "maddr"}},

		{[]string{"--transport", "tls", "--tls-ca", "/nonexistent/ca.pem"}, []string{"--tls-ca", "/nonexistent/ca.pem"}},
		{[]string{"--transport", "tls", "--tls-ca", notPEM}, []string{"--tls-ca", "no certificate"}},
		{[]string{"--transport", "tls", "--tls-cert", notPEM}, []string{"--tls-cert", "--tls-key"}},
		{[]string{"--transport", "tls", "--tls-cert", notPEM, "--tls-key", notPEM}, []string{"--tls-cert"}},
		{[]string{"--transport", "tls", "--tls-version", "1.1"}, []string{"--tls-version", "1.1"}},
		{[]string{"--transport", "tls", "--tls-insecure", "--tls-ca", notPEM}, []string{"--tls-insecure", "--tls-ca"}},
		{[]string{"--transport", "ws", "--ws-path", "sip"}, []string{"--ws-path"}},
		{[]string{"--target", "sip:" + srv.Addr + ";transport=sctp"}, []string{"--target", "sctp"}},
		{[]string{"--target", "sip:alice@" + srv.Addr}, []string{"--target", "user part", "--user-pattern"}},
		{[]string{"--target", "sip:" + srv.Addr + ";lr"}, []string{"--target", `"lr"`}},
		{[]string{"--target", "sip:" + srv.Addr + "?Route=x"}, []string{"--target"}},
		{[]string{"--target", "sip:" + srv.Addr + ";transport=tcp", "--transport", "udp"}, []string{"--target", "--transport"}},
		{[]string{"--target", "tel:+4930123"}, []string{"--target"}},
		{[]string{"--naps", "10000000000"}, []string{"--naps", "memory"}},
		{[]string{"--password", "Pa%ss"}, []string{"--password", "%%"}},
		{[]string{"--password", "100%"}, []string{"--password", "%%"}},
		{[]string{"--summary", filepath.Join(dir, "missing", "s.json")}, []string{"--summary"}},
		{[]string{"--hlog", dir}, []string{"--hlog"}},
		{[]string{"--pcap", filepath.Join(dir, "missing", "run.pcap")}, []string{"--pcap", "no directory"}},
		{[]string{"--pcap", dir}, []string{"--pcap", "is a directory"}},
		{[]string{"--user-pattern", "alice"}, []string{`--user-pattern "alice" has no %d`, "10 NAPs would register one AoR", "--shared-aor"}},
		{[]string{"--users", threeUsers}, []string{"--users", "3 different users for --naps 10", "--shared-aor"}},
		{[]string{"--profile", sharedGroup}, []string{`shared.yaml:3: group "b"`, `--user-pattern "bob" has no %d`}},
		{[]string{"--user-pattern", "alice", "--shared-aor", "--sockets", "shared"}, []string{"--shared-aor", "--sockets per-nap"}},
		{[]string{"--pcap", notPEM + "/run.pcap"}, []string{"--pcap", "is not a directory"}},
		{[]string{"--pcap", filepath.Join(dir, "one"), "--trace", filepath.Join(dir, ".", "one")}, []string{"--pcap", "--trace", "one file"}},
	}
	for _, c := range cases {
		out := t.TempDir()
		args := []string{"regstorm", "--duration", "1s", "--naps", "10",
			"--summary", filepath.Join(out, "s.json"), "--hlog", filepath.Join(out, "r.hlog"), "--cpuprofile", filepath.Join(out, "cpu")}
		if !hasFlag(c.args, "--pcap") {
			args = append(args, "--pcap", filepath.Join(out, "run.pcap"))
		}
		if !hasFlag(c.args, "--target") {
			args = append(args, "--target", "sip:"+srv.Addr)
		}
		args = append(args, c.args...)
		var stdout, stderr bytes.Buffer
		code := run(args, &stdout, &stderr)
		msg := stderr.String()
		ok := code == 2
		for _, w := range c.want {
			ok = ok && strings.Contains(msg, w)
		}
		if !ok {
			t.Errorf("%v: exit %d, stderr %q (want 2 and %q)", c.args, code, msg, c.want)
		}
		if files, _ := os.ReadDir(out); len(files) > 0 {
			t.Errorf("%v: left %d file(s) behind, e.g. %s", c.args, len(files), files[0].Name())
		}
		if st := srv.Stats(); st.Requests+st.Malformed > 0 {
			t.Fatalf("%v: the registrar received %d messages", c.args, st.Requests+st.Malformed)
		}
	}
	// Without --target, the embedded registrar is not started either.
	var stdout, stderr bytes.Buffer
	if code := run([]string{"regstorm", "--metrics-addr", "foo"}, &stdout, &stderr); code != 2 || strings.Contains(stderr.String(), "embedded registrar") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// A target given by name is resolved before anything starts; the engine
// gets an address, and the name stays the AOR domain.
func TestTargetByNameKeepsTheNameAsDomain(t *testing.T) {
	t.Parallel()
	srv := startRegistrar(t, registrar.Config{})
	port := srv.Addr[strings.LastIndexByte(srv.Addr, ':')+1:]
	done := make(chan int, 1)
	var stdout, stderr bytes.Buffer
	go func() {
		done <- run([]string{"regstorm", "--target", "sip:localhost:" + port, "--local-ip", "127.0.0.1", "--naps", "3", "--duration", "500ms", "--quiet"}, &stdout, &stderr)
	}()
	found := false
	for !found {
		select {
		case code := <-done:
			t.Fatalf("exit %d before nap000001@localhost was bound: %s", code, stderr.String())
		case <-time.After(20 * time.Millisecond):
			found = len(srv.Reg.Loc.Bindings("nap000001@localhost", time.Now())) > 0
		}
	}
	if code := <-done; code != 0 {
		t.Errorf("exit %d: %s", code, stderr.String())
	}
}

// ;transport=tcp in the target is honoured, not stripped.
func TestTargetTransportParamHonoured(t *testing.T) {
	t.Parallel()
	srv, err := registrar.Listen(registrar.New(registrar.Config{}), "127.0.0.1", 0, []string{"udp", "tcp"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	code := run([]string{"regstorm", "--target", "sip:" + srv.Addr + ";transport=tcp", "--naps", "5", "--duration", "500ms", "--quiet", "--summary", "-"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if s := decode(t, stdout.Bytes()); s["transport"] != "tcp" || s["registered"].(float64) != 5 {
		t.Errorf("transport %v, registered %v", s["transport"], s["registered"])
	}
}

// "%%" gives a password with a percent sign.
func TestPasswordWithPercent(t *testing.T) {
	t.Parallel()
	srv := startRegistrar(t, registrar.Config{Auth: true, Password: func([]byte) ([]byte, bool) { return []byte("100%"), true }})
	var stdout, stderr bytes.Buffer
	code := run([]string{"regstorm", "--target", "sip:" + srv.Addr, "--password", "100%%", "--naps", "5", "--duration", "500ms", "--quiet", "--summary", "-"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if s := decode(t, stdout.Bytes()); s["registered"].(float64) != 5 {
		t.Errorf("registered %v with the password 100%%", s["registered"])
	}
}

// --shared-aor: NAPs share one AoR on purpose, each with its own contact
// (a socket of its own): the registrar holds a binding per NAP for it.
func TestSharedAoRGivesEachNAPItsContact(t *testing.T) {
	t.Parallel()
	srv := startRegistrar(t, registrar.Config{})
	done := make(chan int, 1)
	var stdout, stderr bytes.Buffer
	go func() {
		done <- run([]string{"regstorm", "--target", "sip:" + srv.Addr, "--user-pattern", "alice", "--shared-aor", "--naps", "3", "--duration", "1s", "--quiet"}, &stdout, &stderr)
	}()
	host := srv.Addr[:strings.LastIndexByte(srv.Addr, ':')]
	most := 0
	for {
		select {
		case code := <-done:
			if code != 0 || most != 3 {
				t.Fatalf("exit %d, at most %d bindings for alice@%s (want 3): %s", code, most, host, stderr.String())
			}
			return
		case <-time.After(20 * time.Millisecond):
			most = max(most, len(srv.Reg.Loc.Bindings("alice@"+host, time.Now())))
		}
	}
}
