package runspec

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/regstorm/regstorm/digestfast"
	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/identity"
	"github.com/regstorm/regstorm/locate"
	"github.com/regstorm/regstorm/nap"
	"github.com/regstorm/regstorm/netio"
	"github.com/regstorm/regstorm/sipwire"
)

// Level is one level of a run's settings, read and checked: the
// profile's top level (with the flags), or one of its groups. Its Group
// is complete but for where it sends when the next hop is a name or
// needs checking against the local addresses: the plan (Plan) does that,
// and the rest of the I/O.
type Level struct {
	// Run is the run-wide settings this level gives (the top level's are
	// the run's); Group the NAPs it describes.
	Run   engine.Options
	Group engine.Group
	// The next hop, where the NAPs send: the proxy when there is one,
	// else the target ("" host: the embedded registrar).
	hop     locate.URI
	hopFlag string // --target or --proxy
	given   string // the transport the user or the URI gave; "": NAPTR may choose
	// --local-ip as written, and its address family (0: none given).
	localIPs    string
	localFamily int
	dnsServer   string
}

// ReadLevel reads and checks one level's settings from v: a usage error
// names the flag. Files named (TLS, --users) are read; nothing resolves,
// binds or is raised (Plan).
func ReadLevel(v Values) (*Level, error) {
	l := &Level{dnsServer: v.String("dns-server")}
	for _, step := range []func(Values) error{l.readHop, l.readNAP, l.readRun, l.readPlace, l.readIdentity, l.readRoute, l.readAfter} {
		if err := step(v); err != nil {
			return l, err
		}
	}
	return l, checkNAP(l.Group.NAP)
}

// checkNAP applies the NAPs' own rules (nap.Config.Validate) to what was
// read, naming the flag or key at fault. The group's rules (a target, a
// name) are the engine's, checked when it starts: Plan fills the target.
func checkNAP(c nap.Config) error {
	var fe *nap.FieldError
	if err := c.Validate(); errors.As(err, &fe) {
		return usagef("--%s %s", fe.Field, fe.Msg)
	}
	return nil
}

// readHop reads --naps, --target, --proxy and --transport.
func (l *Level) readHop(c Values) error {
	g := &l.Group
	if g.NAPs = c.Int("naps"); g.NAPs <= 0 {
		return usagef("--naps %d: must be at least 1", g.NAPs)
	}
	g.NAP = nap.DefaultConfig()
	var tg, proxy locate.URI
	var route string
	var err error
	if s := c.String("target"); s != "" {
		if tg, err = parseURI("--target", s, false); err != nil {
			return err
		}
	}
	if s := c.String("proxy"); s != "" {
		if proxy, err = parseURI("--proxy", s, true); err != nil {
			return err
		}
		route = proxy.Route()
		if tg.Host == "" && c.String("domain") == "" {
			return usagef("--proxy %q: name the registrar with --target (its domain goes in the Request-URI and the AOR) or --domain", s)
		}
	}
	// Its URI may name the transport.
	l.hop, l.hopFlag = tg, "--target"
	if route != "" {
		l.hop, l.hopFlag = proxy, "--proxy"
		// Through a proxy: the registrar's domain, as --target names it,
		// goes in the Request-URI and the AOR; nothing resolves it here.
		g.Identity.Route = route
		if tg.Host != "" {
			g.Identity.Domain = tg.BracketedHost() // unless --domain (readIdentity)
			g.Identity.RequestURI = "sip:" + tg.HostPort()
		}
	}
	transport := strings.ToLower(c.String("transport"))
	if l.hop.Transport != "" {
		if c.IsSet("transport") && transport != l.hop.Transport {
			return usagef("%s %q says transport=%s, --transport says %s", l.hopFlag, c.String(l.hopFlag[2:]), l.hop.Transport, transport)
		}
		transport = l.hop.Transport
	}
	tr, ok := sipwire.ParseTransport(transport)
	if !ok {
		return usagef("--transport %q: want udp, tcp, tls, ws or wss", c.String("transport"))
	}
	g.NAP.Transport = tr
	if c.IsSet("transport") || l.hop.Transport != "" {
		l.given = transport
	}
	if l.hop.NoPort {
		l.hop.Port = locate.DefaultPort(transport)
	}
	return nil
}

// parseURI reads a --target or --proxy URI, naming the flag when it is
// refused.
func parseURI(flag, s string, lr bool) (locate.URI, error) {
	u, err := locate.ParseURI(s, lr)
	if err != nil {
		return u, usagef("%s %q: %v", flag, s, err)
	}
	return u, nil
}

// readNAP reads TLS, --expires, the timers and --digest-choice.
func (l *Level) readNAP(c Values) error {
	o, g := &l.Run, &l.Group
	tlsCfg, err := LoadTLS(c)
	if err != nil {
		return err
	}
	o.TLS, o.NoResume, o.WSPath = tlsCfg, c.Bool("tls-no-resume"), c.String("ws-path")
	// Only what a uint32 cannot hold is refused here; the machine's own
	// rules (nap.Config.Validate) are checked once the level is read.
	if e := seconds(c, "expires"); e <= 0 || e > sipwire.MaxDelta {
		return usagef("--expires %d: want 1..%d seconds", e, int64(sipwire.MaxDelta))
	} else {
		g.NAP.Expires = uint32(e)
	}
	g.NAP.T1, g.NAP.T2, g.NAP.TimerF, g.NAP.Retry = c.Duration("t1"), c.Duration("t2"), c.Duration("timer-f"), c.Duration("retry")
	ch, err := digestfast.ParseChoice(c.String("digest-choice"))
	if err != nil {
		return usagef("--digest-choice %q: want first or strongest", c.String("digest-choice"))
	}
	g.NAP.DigestChoice = ch
	return nil
}

// readRun reads the ramp, the run's length and the sockets.
func (l *Level) readRun(c Values) error {
	o := &l.Run
	if o.Rate = c.Float64("rate"); o.Rate < 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0) {
		return usagef("--rate %v: want a number of NAPs per second, 0 or more", o.Rate)
	}
	if o.Window = c.Int("window"); o.Window <= 0 {
		return usagef("--window %d: must be positive", o.Window)
	}
	if o.Duration = c.Duration("duration"); o.Duration < 0 {
		return usagef("--duration %v: must not be negative", o.Duration)
	}
	if o.Drain = c.Duration("drain"); o.Drain <= 0 {
		return usagef("--drain %v: must be positive", o.Drain)
	}
	if o.EventLoops = c.Int("event-loops"); o.EventLoops < 1 {
		return usagef("--event-loops %d: must be at least 1", o.EventLoops)
	}
	if o.Tick = c.Duration("tick"); o.Tick < 0 || o.Tick > 100*time.Millisecond {
		return usagef("--tick %v: want 0 (wake on every datagram) up to 100ms", o.Tick)
	}
	o.NoGSO = !c.Bool("udp-gso")
	if o.SocketsPerLoop = c.Int("sockets-per-loop"); o.SocketsPerLoop < 0 {
		return usagef("--sockets-per-loop %d: must not be negative", o.SocketsPerLoop)
	}
	switch c.String("sockets") {
	case "shared":
	case "per-nap":
		o.PerNAP = true
	default:
		return usagef("--sockets %q: want shared or per-nap", c.String("sockets"))
	}
	return nil
}

// readPlace reads --local-ip, --shard and --start-at.
func (l *Level) readPlace(c Values) error {
	o := &l.Run
	if s := c.String("local-ip"); s != "" {
		pool, err := netio.ParseAddrPool(s)
		if err != nil {
			return usagef("--local-ip: %v", err)
		}
		if l.localFamily, err = poolFamily(s); err != nil {
			return usagef("--local-ip: %v", err)
		}
		l.localIPs, l.Group.LocalIPs = s, pool
	}
	if s := c.String("shard"); s != "" {
		var k, n int
		if _, err := fmt.Sscanf(s, "%d/%d", &k, &n); err != nil || n <= 0 || k < 0 || k >= n {
			return usagef("--shard %q: want k/N with 0 <= k < N", s)
		}
		o.ShardK, o.ShardN = k, n
	}
	if s := c.String("start-at"); s != "" {
		t, err := ParseStartAt(s)
		if err != nil {
			return usagef("--start-at %q: %v", s, err)
		}
		o.StartAt = t
	}
	return nil
}

// readIdentity reads the users, passwords and domain, and refuses NAPs
// that would share an AoR unasked.
func (l *Level) readIdentity(c Values) error {
	id := &l.Group.Identity
	up, err := identity.ParsePattern(c.String("user-pattern"))
	if err != nil {
		return usagef("--user-pattern: %v", err)
	}
	start := c.Int("user-start")
	if start < 0 {
		return usagef("--user-start %d: must not be negative", start)
	}
	// Only digits are put into the pattern: one user checks them all.
	if err := locate.CheckUser(string(up.Append(nil, uint64(start)))); err != nil {
		return usagef("--user-pattern %q: %v", c.String("user-pattern"), err)
	}
	pp, err := identity.ParsePattern(c.String("password"))
	if err != nil {
		// Never echo a password.
		return usagef("--password: not a valid pattern: %%d or %%0Nd is the NAP's number, and %%%% a literal %%")
	}
	domain := c.String("domain")
	if domain != "" {
		if err := locate.CheckHost(domain); err != nil {
			return usagef("--domain: %v", err)
		}
	}
	id.UserPattern, id.UserStart, id.PasswordPattern = up, uint64(start), pp
	if f := c.String("users"); f != "" {
		users, err := identity.LoadUsers(f)
		if err != nil {
			return usagef("--users: %v", err)
		}
		id.Users = users
	}
	// The AoRs apart under the domain the user gave; a proxy's target's
	// is taken after.
	proxied := id.Domain
	id.Domain = domain
	if err := checkAoRsApart(c, &l.Group, &l.Run); err != nil {
		return err
	}
	if id.Domain == "" {
		id.Domain = proxied
	}
	return nil
}

// readRoute: a next hop given by name stays the AOR domain, as a gateway
// configured with it would send.
func (l *Level) readRoute(c Values) error {
	if l.hop.Host != "" && isName(l.hop.Host) && l.Group.Identity.Domain == "" {
		l.Group.Identity.Domain = l.hop.Host
	}
	if l.hop.Host == "" && l.localFamily == 6 {
		return usagef("--local-ip is IPv6, the embedded registrar listens on IPv4 127.0.0.1")
	}
	return nil
}

// readAfter reads the NAPs' timing after the first REGISTER: the initial
// delay, the jitter, churn and keep-alives.
func (l *Level) readAfter(c Values) error {
	o, g := &l.Run, &l.Group
	if o.InitialDelay = c.Duration("initial-delay"); o.InitialDelay < 0 {
		return usagef("--initial-delay %v: must not be negative", o.InitialDelay)
	}
	if j := seconds(c, "expires-jitter"); j < 0 || j > sipwire.MaxDelta {
		// what a uint32 cannot hold; the rest is nap.Config.Validate's
		return usagef("--expires-jitter %d: want 0 up to --expires %d less 1", j, g.NAP.Expires)
	} else {
		g.NAP.ExpiresJitter = uint32(j)
	}
	o.Churn = engine.Churn{Rate: c.Float64("churn-rate"), Offline: c.Duration("churn-offline"), Silent: c.Bool("churn-silent")}
	if r := o.Churn.Rate; math.IsNaN(r) || math.IsInf(r, 0) || r < 0 {
		return usagef("--churn-rate %v: want 0 or more NAPs a second", r)
	}
	if o.Churn.Offline <= 0 {
		return usagef("--churn-offline %v: must be positive", o.Churn.Offline)
	}
	switch k := c.String("keepalive"); k {
	case "":
	case "crlf":
		o.Keepalive = nap.KeepaliveCRLF
	case "options":
		o.Keepalive = nap.KeepaliveOptions
	default:
		return usagef("--keepalive %q: want crlf or options", k)
	}
	if !l.naptrChooses() { // else the plan checks, once NAPTR has chosen
		if err := checkKeepalive(o.Keepalive, g.NAP.Transport); err != nil {
			return err
		}
	}
	if o.KeepaliveInterval = c.Duration("keepalive-interval"); o.KeepaliveInterval <= 0 {
		return usagef("--keepalive-interval %v: must be positive", o.KeepaliveInterval)
	}
	return nil
}

// naptrChooses tells a next hop given by name without a transport: DNS
// (NAPTR, or RFC 3263's default) chooses it.
func (l *Level) naptrChooses() bool {
	return l.given == "" && l.hop.Host != "" && isName(l.hop.Host)
}

// checkKeepalive refuses CRLF pings over UDP.
func checkKeepalive(k nap.KeepaliveKind, tr sipwire.Transport) error {
	if k == nap.KeepaliveCRLF && tr == sipwire.UDP {
		return usagef("--keepalive crlf: CRLF pings are for streams (tcp, tls, ws, wss); over udp use --keepalive options")
	}
	return nil
}

// seconds is the value of a flag in seconds (its Getter's int64).
func seconds(c Values, name string) int64 {
	n, _ := c.Value(name).(int64)
	return n
}
