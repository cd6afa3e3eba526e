//go:build integration

package integration

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/sipwire"
)

// testKamailioOrderlyClose runs 200 NAPs over tr, a connection each, to
// the end of the run, and reads Kamailio's log of it: regstorm closed
// every connection as a well-behaved client (a FIN; close_notify or a
// WebSocket Close first), so Kamailio logged no ERROR. A reset cost two
// ERROR lines a connection (tcp_read_data(): error reading: Connection
// reset by peer; tcp_read_req(): error reading). Over TLS and WSS
// Kamailio answers the goodbye and closes first, so no connection of
// regstorm's is left in TIME-WAIT.
func testKamailioOrderlyClose(t *testing.T, tr sipwire.Transport) {
	var k *kamailio
	port := 0
	var roots *tls.Config
	if tr == sipwire.TCP {
		k = startKamailio(t, nil)
		port = k.port
	} else {
		tk := startKamailioTLS(t, nil)
		k, port, roots = tk.kamailio, tk.tlsPort, &tls.Config{RootCAs: tk.roots}
		if tr == sipwire.WSS {
			port = tk.wssPort
		}
	}
	from := logSize(t, k)
	const n = 200
	o := options(fmt.Sprintf("127.0.0.1:%d", port), n, tr)
	o.PerNAP = true
	o.TLS = roots
	o.Duration = 2 * time.Second
	res := runAndWatch(t, o, 0, func() {})
	if s := res.Summary; s.Registered != n || s.Unregistered != n {
		t.Fatalf("registered %d, unregistered %d, want %d", s.Registered, s.Unregistered, n)
	}
	time.Sleep(time.Second) // Kamailio's readers see the closes
	var errs []string
	f, err := os.Open(k.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(from, 0); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "ERROR") {
			errs = append(errs, sc.Text())
		}
	}
	if len(errs) > 0 {
		t.Fatalf("Kamailio logged %d ERROR lines for %d connections, e.g.\n%s", len(errs), n, strings.Join(errs[:min(len(errs), 4)], "\n"))
	}
	if tw := timeWaitTo(t, port); tr != sipwire.TCP && tw > 0 {
		t.Errorf("%d of regstorm's connections in TIME-WAIT: Kamailio should have closed first", tw)
	} else {
		t.Logf("%s: no ERROR in Kamailio's log; %d of regstorm's connections in TIME-WAIT", tr, tw)
	}
}

func TestKamailioOrderlyCloseTCP(t *testing.T) { testKamailioOrderlyClose(t, sipwire.TCP) }
func TestKamailioOrderlyCloseTLS(t *testing.T) { testKamailioOrderlyClose(t, sipwire.TLS) }
func TestKamailioOrderlyCloseWSS(t *testing.T) { testKamailioOrderlyClose(t, sipwire.WSS) }

// logSize is how much Kamailio has logged so far.
func logSize(t *testing.T, k *kamailio) int64 {
	fi, err := os.Stat(k.log)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// timeWaitTo counts the IPv4 TCP sockets in TIME-WAIT whose remote port is
// port: the client side of connections to it.
func timeWaitTo(t *testing.T, port int) int {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 4 || f[3] != "06" { // st: 06 is TIME_WAIT
			continue
		}
		if i := strings.LastIndexByte(f[2], ':'); i >= 0 {
			if p, err := strconv.ParseUint(f[2][i+1:], 16, 16); err == nil && int(p) == port {
				n++
			}
		}
	}
	return n
}
