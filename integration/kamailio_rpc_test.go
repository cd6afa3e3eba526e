//go:build integration

package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/metrics"
)

// kamailioRPC is a Kamailio running bench/peers/kamailio-rpc.cfg: its
// location table is read with ul.dump over JSON-RPC (the jsonrpcs module
// on HTTP port http), which carries a thousand contacts where kamcmd's
// binrpc gives up after a few hundred.
type kamailioRPC struct {
	*kamailio
	http int
}

// startKamailioRPC runs bench/peers/kamailio-rpc.cfg on free ports with
// the given #!trydef overrides (see the cfg for its roles).
func startKamailioRPC(t *testing.T, defs map[string]string) *kamailioRPC {
	t.Helper()
	port, httpPort := freePort(t), freePort(t)
	for httpPort == port {
		httpPort = freePort(t)
	}
	d := map[string]string{"KHTTPPORT": strconv.Itoa(httpPort)}
	for k, v := range defs {
		d[k] = v
	}
	return &kamailioRPC{kamailio: startKamailioCfg(t, "../bench/peers/kamailio-rpc.cfg", port, d), http: httpPort}
}

// location is what ul.dump shows of Kamailio's location table.
type location struct {
	contacts int
	aors     map[string]int // contacts per AoR
	// givenUp: contacts that expire within 10 s, or have expired. A
	// binding refreshed as asked has minutes left; this is what usrloc
	// does to a contact whose nathelper pings went unanswered for
	// keepalive_timeout (it expires it 10 s later).
	givenUp int
	sample  string // one contact's address
	bytes   int    // of the JSON-RPC answer
}

func (l location) String() string {
	return fmt.Sprintf("%d contacts at %d AoRs (%d expiring within 10 s), e.g. %s", l.contacts, len(l.aors), l.givenUp, l.sample)
}

var rpcClient = &http.Client{Timeout: 10 * time.Second}

// location dumps Kamailio's location table (ul.dump over JSON-RPC).
func (k *kamailioRPC) location() (location, error) {
	req := []byte(`{"jsonrpc":"2.0","method":"ul.dump","id":1}`)
	resp, err := rpcClient.Post(fmt.Sprintf("http://127.0.0.1:%d/RPC", k.http), "application/json", bytes.NewReader(req))
	if err != nil {
		return location{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return location{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return location{}, fmt.Errorf("ul.dump: HTTP %s: %.200s", resp.Status, body)
	}
	var dump struct {
		Error  json.RawMessage
		Result struct {
			Domains []struct {
				Domain struct {
					AoRs []struct {
						Info struct {
							AoR      string
							Contacts []struct {
								Contact struct {
									Address string
									Expires json.RawMessage // seconds left, or "expired", "permanent", "deleted"
								}
							}
						}
					}
				}
			}
		}
	}
	if err := json.Unmarshal(body, &dump); err != nil {
		return location{}, fmt.Errorf("ul.dump: %v: %.200s", err, body)
	}
	if len(dump.Error) > 0 && string(dump.Error) != "null" {
		return location{}, fmt.Errorf("ul.dump: %s", dump.Error)
	}
	l := location{aors: map[string]int{}, bytes: len(body)}
	for _, d := range dump.Result.Domains {
		for _, a := range d.Domain.AoRs {
			for _, c := range a.Info.Contacts {
				l.contacts++
				l.aors[a.Info.AoR]++
				l.sample = c.Contact.Address
				if left, err := strconv.Atoi(string(c.Contact.Expires)); err != nil || left <= 10 {
					l.givenUp++
				}
			}
		}
	}
	return l, nil
}

// mustLocation is location, failing the test on an error.
func (k *kamailioRPC) mustLocation(t *testing.T) location {
	t.Helper()
	l, err := k.location()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// missingAoRs lists the users nap000001.. (n of them) without exactly
// one contact in l, at most 5.
func missingAoRs(l location, n int) []string {
	var out []string
	for i := 1; i <= n && len(out) < 5; i++ {
		aor := fmt.Sprintf("nap%06d", i)
		if c := l.aors[aor]; c != 1 {
			out = append(out, fmt.Sprintf("%s (%d contacts)", aor, c))
		}
	}
	return out
}

// failureCounts is the summary's failures by reason, counts only.
func failureCounts(f map[string]*metrics.Failure) map[string]int64 {
	out := map[string]int64{}
	for reason, v := range f {
		out[reason] = v.Count
	}
	return out
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// logLines counts the lines of Kamailio's log holding sub, and returns the
// first of them.
func (k *kamailio) logLines(sub string) (n int, first string) {
	b, _ := os.ReadFile(k.log)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, sub) {
			if n == 0 {
				first = strings.TrimSpace(l)
			}
			n++
		}
	}
	return n, first
}
