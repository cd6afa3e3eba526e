package locate

import (
	"strings"
	"testing"
)

func TestCheckHost(t *testing.T) {
	for _, ok := range []string{"example.com", "example.com.", "a-b.c0", "localhost", "10.0.0.5", "[::1]", "[2001:db8::5]"} {
		if err := CheckHost(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "bad domain", "a@b", "a;b", "<a>", `"a"`, "-a.com", "a-.com", "a..com", "1.2.3", "::1",
		"[10.0.0.1]", "[::1", "fe80::1%eth0", "[fe80::1%eth0]", "a_b.com", strings.Repeat("a", 64) + ".com"} {
		if err := CheckHost(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// The parser's errors say what is wrong and leave naming the URI to the
// caller (cmd/regstorm prefixes the flag and the value).
func TestParseURIErrors(t *testing.T) {
	for in, want := range map[string]string{
		"sip:host;transport=tcp;transport=udp": ";transport= given twice",
		"sip:host;maddr=x":                     `unknown URI parameter "maddr" (only ;transport= is honoured)`,
		"sips:host;transport=udp":              "sips: needs TLS; ;transport=udp cannot carry it",
		"sip:host:0":                           `bad port "0"`,
		"sip:u@host":                           "a REGISTER's Request-URI has no user part",
		"sip:[::1":                             "unbalanced brackets",
	} {
		_, err := ParseURI(in, false)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: %v (want %q)", in, err, want)
		}
	}
	if _, err := ParseURI("sip:p;lr", false); err == nil {
		t.Errorf(";lr accepted in a target")
	}
}

func TestURIRoute(t *testing.T) {
	for in, want := range map[string]string{
		"sip:p.example.com;lr":            "<sip:p.example.com;lr>",
		"sip:[::1]:5070;transport=tcp":    "<sip:[::1]:5070;transport=tcp;lr>",
		"sips:p.example.com":              "<sips:p.example.com;lr>",
		"sips:p.example.com;transport=ws": "<sips:p.example.com;transport=wss;lr>",
		"10.0.0.1:5080":                   "<sip:10.0.0.1:5080;lr>",
	} {
		u, err := ParseURI(in, true)
		if err != nil || u.Route() != want {
			t.Errorf("%q: %q, %v (want %q)", in, u.Route(), err, want)
		}
	}
}
