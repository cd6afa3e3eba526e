package locate

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// With the system's servers, a name of the hosts file is answered from it
// as the system's resolver would ("localhost", a lab's names), like an IP
// literal; with a DNS server given, the file is not read.
func TestHostsFileWithSystemServers(t *testing.T) {
	hosts := filepath.Join(t.TempDir(), "hosts")
	text := "# comment\n127.0.0.1 localhost\n::1 localhost ip6-localhost\n192.0.2.7\tRegistrar.Lab lab # the registrar\n::ffff:192.0.2.8 lab\n"
	if err := os.WriteFile(hosts, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &Resolver{hosts: hosts}
	res := locate(t, r, Query{Host: "localhost"})
	expect(t, "localhost", res, "udp 127.0.0.1:5060 localhost 0/0", "udp [::1]:5060 localhost 0/0")
	if res.TTL != 0 {
		t.Errorf("TTL %v", res.TTL)
	}
	expect(t, "lab", locate(t, r, Query{Host: "lab.", Transport: "tcp", Port: 5070}), "tcp 192.0.2.7:5070 lab 0/0", "tcp 192.0.2.8:5070 lab 0/0")
	expect(t, "sips:", locate(t, r, Query{Host: "registrar.lab", Secure: true}), "tls 192.0.2.7:5061 registrar.lab 0/0")

	_, dnsr := start(t, "other.test. 30 IN A 192.0.2.1")
	dnsr.hosts = hosts
	if _, err := dnsr.Locate(t.Context(), Query{Host: "registrar.lab"}); !errors.Is(err, ErrNXDomain) {
		t.Errorf("hosts file read with a DNS server given: %v", err)
	}
}
