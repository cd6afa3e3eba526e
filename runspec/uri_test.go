package runspec

import (
	"strings"
	"testing"

	"github.com/regstorm/regstorm/locate"
)

func TestParseTarget(t *testing.T) {
	for in, want := range map[string]locate.URI{
		"sip:127.0.0.1:5070":                      {Host: "127.0.0.1", Port: 5070},
		"SIP:127.0.0.1":                           {Host: "127.0.0.1", Port: 5060, NoPort: true},
		"127.0.0.1:5070":                          {Host: "127.0.0.1", Port: 5070},
		"sip:[::1]:5070":                          {Host: "::1", Port: 5070},
		"[::1]":                                   {Host: "::1", Port: 5060, NoPort: true},
		"sip:reg.example.com":                     {Host: "reg.example.com", Port: 5060, NoPort: true},
		"sip:reg.example.com:5080;transport=TCP":  {Host: "reg.example.com", Port: 5080, Transport: "tcp"},
		"sip:10.0.0.5;transport=udp":              {Host: "10.0.0.5", Port: 5060, Transport: "udp", NoPort: true},
		"sips:sbc.example.com":                    {Host: "sbc.example.com", Port: 5060, Transport: "tls", NoPort: true, Secure: true},
		"sips:sbc.example.com:5071;transport=tcp": {Host: "sbc.example.com", Port: 5071, Transport: "tls", Secure: true},
		"sips:[::1]:4443;transport=ws":            {Host: "::1", Port: 4443, Transport: "wss", Secure: true},
		"sip:127.0.0.1:8080;transport=ws":         {Host: "127.0.0.1", Port: 8080, Transport: "ws"},
		"sip:127.0.0.1:5061;transport=tls":        {Host: "127.0.0.1", Port: 5061, Transport: "tls"},
	} {
		got, err := parseURI("--target", in, false)
		if err != nil || got != want {
			t.Errorf("%q: %+v, %v (want %+v)", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "sip:", "sip:[::1", "sip:::1", "sip:host:0", "sip:host:65536", "sip:host:+5",
		"sip:a b", "sip:host;transport=tcp;transport=udp", "sip:host;transport", "http://host", "sip:-host", "sip:300.1.1.1",
		"sips:host;transport=udp", "sip:host;transport=sctp"} {
		if _, err := parseURI("--target", bad, false); err == nil || !strings.Contains(err.Error(), "--target") {
			t.Errorf("%q: %v (want an error naming --target)", bad, err)
		}
	}
}

// A scheme other than sip: or sips: is named as unknown, with the known
// ones, not taken for an unbracketed IPv6 address.
func TestTargetSchemeUnknown(t *testing.T) {
	for in, want := range map[string]string{
		"sipp:127.0.0.1:5080": `unknown scheme "sipp:" (known: sip: and sips:, or host[:port] without a scheme)`,
		"tcp:127.0.0.1:5080":  `unknown scheme "tcp:"`,
		"TLS:reg.example.com": `;transport=tls or in --transport`,
		"tel:+4930123":        `unknown scheme "tel:"`,
		"http://reg.test":     `unknown scheme "http:"`,
		"sip:::1":             "bracket IPv6 addresses",
		"fe80::1:5060":        "bracket IPv6 addresses",
	} {
		_, err := parseURI("--target", in, false)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v (want %q)", in, err, want)
		}
	}
	for _, ok := range []string{"localhost:5060", "reg.example.com:5080;transport=tcp", "127.0.0.1", "sip:a.b:5060"} {
		if _, err := parseURI("--target", ok, false); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	if _, err := parseURI("--proxy", "tcp:127.0.0.1:5080", true); err == nil || !strings.Contains(err.Error(), `--proxy "tcp:127.0.0.1:5080": unknown scheme "tcp:"`) {
		t.Errorf("--proxy: %v", err)
	}
}
