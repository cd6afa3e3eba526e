package main

import (
	"strings"
	"testing"

	"github.com/regstorm/regstorm/registrar"
)

// Through an outbound proxy: every REGISTER goes to the proxy's address
// with a Route naming it (;lr), while its Request-URI and AOR name the
// registrar's domain, which regstorm never resolves. (The embedded
// registrar plays the proxy and registrar in one: it binds the AOR the
// REGISTER names.)
func TestProxyRoutesToTheRegistrarsDomain(t *testing.T) {
	t.Parallel()
	srv, err := registrar.Listen(registrar.New(registrar.Config{}), "127.0.0.1", 0, []string{"udp", "tcp"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() }) // after the subtests, which run in parallel
	for _, tc := range []struct{ proxy, route string }{
		{"sip:" + srv.Addr, "Route: <sip:" + srv.Addr + ";lr>"},
		{"sip:" + srv.Addr + ";lr;transport=tcp", "Route: <sip:" + srv.Addr + ";transport=tcp;lr>"},
	} {
		t.Run(tc.proxy, func(t *testing.T) {
			t.Parallel()
			s, tr := runTraced(t, 0, "--target", "sip:registrar.invalid", "--proxy", tc.proxy, "--naps", "3", "--duration", "500ms")
			if s["registered"].(float64) != 3 {
				t.Fatalf("registered %v", s["registered"])
			}
			if n := strings.Count(tr, "REGISTER sip:registrar.invalid SIP/2.0\r\n"); n != 6 { // 3 REGISTERs, 3 un-REGISTERs
				t.Errorf("%d REGISTERs to sip:registrar.invalid, want 6:\n%s", n, tr)
			}
			if n := strings.Count(tr, tc.route+"\r\n"); n != 6 {
				t.Errorf("%d REGISTERs with %q, want 6", n, tc.route)
			}
			if !strings.Contains(tr, "To: <sip:nap000001@registrar.invalid>") {
				t.Errorf("AOR not at the registrar's domain:\n%s", tr)
			}
			if strings.Contains(tc.proxy, "tcp") != (s["transport"] == "tcp") {
				t.Errorf("transport %v for proxy %s", s["transport"], tc.proxy)
			}
		})
	}
}
