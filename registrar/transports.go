package registrar

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Endpoint is one transport a Server serves and the port it asks for.
type Endpoint struct {
	Transport string // udp, tcp, tls, ws or wss
	Port      int    // 0: any free port
	Named     bool   // the port was given as "tls:PORT", not derived from the listen port
}

// streamOffset is where TLS, WS and WSS listen unless told: each needs a
// TCP port of its own, the listen port +1 (as 5060/5061), +2 and +3.
var streamOffset = map[string]int{"tls": 1, "ws": 2, "wss": 3}

// isStream says whether a transport is served by stream.go (one
// goroutine per connection) rather than by gnet.
func isStream(transport string) bool { return streamOffset[transport] > 0 }

// ParseTransports reads Listen's transport list for the listen port:
// "udp", "tcp", "tls", "ws", "wss", and "tls:PORT", "ws:PORT", "wss:PORT".
// UDP and TCP use the listen port; the others the listen port +1/+2/+3
// unless they name one. A listen port of 0 leaves every derived port 0
// (free). It opens nothing, so that bad input is refused before any
// socket exists.
func ParseTransports(transports []string, port int) ([]Endpoint, error) {
	if len(transports) == 0 {
		return nil, errors.New("no transport")
	}
	if port < 0 || port > 65535 {
		return nil, fmt.Errorf("listen port %d out of range", port)
	}
	var eps []Endpoint
	seen := map[string]bool{}
	for _, t := range transports {
		name, portS, named := strings.Cut(t, ":")
		if name != "udp" && name != "tcp" && !isStream(name) {
			return nil, fmt.Errorf("unknown transport %q (want udp, tcp, tls, ws, wss)", t)
		}
		if seen[name] {
			return nil, fmt.Errorf("transport %s given twice", name)
		}
		seen[name] = true
		ep := Endpoint{Transport: name, Port: port, Named: named}
		switch {
		case named && !isStream(name):
			return nil, fmt.Errorf("%q: udp and tcp use the listen port", t)
		case named:
			p, err := strconv.Atoi(portS)
			if err != nil || p < 0 || p > 65535 {
				return nil, fmt.Errorf("%s: port %q, want %s:PORT with PORT 0..65535", name, portS, name)
			}
			ep.Port = p
		case isStream(name) && port != 0:
			ep.Port = port + streamOffset[name]
			if ep.Port > 65535 {
				return nil, fmt.Errorf("%s: the listen port +%d is %d, out of range; name one as %s:PORT", name, streamOffset[name], ep.Port, name)
			}
		}
		eps = append(eps, ep)
	}
	// Two TCP listeners cannot share a port (UDP may share one with TLS).
	byPort := map[int]string{}
	for _, ep := range eps {
		if ep.Transport == "udp" || ep.Port == 0 {
			continue
		}
		if other, ok := byPort[ep.Port]; ok {
			return nil, fmt.Errorf("%s and %s both on TCP port %d", other, ep.Transport, ep.Port)
		}
		byPort[ep.Port] = ep.Transport
	}
	return eps, nil
}
