package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/regstorm/regstorm/identity"
	"github.com/regstorm/regstorm/registrar"
)

func registrarFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "listen", Value: "127.0.0.1:5060", Usage: "host:port (port 0: any free port)", EnvVars: env("listen")},
		&cli.StringFlag{Name: "transport", Value: "udp,tcp", Usage: "udp, tcp, tls, ws, wss, comma-separated; one alone, with --listen given, takes its port; among others tls/ws/wss take the listen port +1/+2/+3, or name one as tls:PORT", EnvVars: env("registrar-transport")},
		&cli.StringFlag{Name: "cert", Usage: "tls, wss: the certificate (chain) to present, PEM `FILE`, with --key (default: a self-signed one made at start, its fingerprint printed)", EnvVars: env("cert")},
		&cli.StringFlag{Name: "key", Usage: "tls, wss: the private key of --cert, PEM `FILE`", EnvVars: env("key")},
		&cli.StringFlag{Name: "client-ca", Usage: "tls, wss: require a client certificate signed by a CA in this PEM `FILE`", EnvVars: env("client-ca")},
		&cli.BoolFlag{Name: "reuseport", Usage: "share --listen with other processes (SO_REUSEPORT: the kernel splits the requests); without it a port already held is refused", EnvVars: env("reuseport")},
		&cli.BoolFlag{Name: "auth", Usage: "require digest authentication", EnvVars: env("auth")},
		&cli.StringFlag{Name: "realm", Usage: "digest realm (default: the AOR's domain)", EnvVars: env("realm")},
		&cli.StringFlag{Name: "password", Value: "secret", Usage: "password pattern; %d is the number in the user name", EnvVars: env("registrar-password")},
		&cli.StringFlag{Name: "users", Usage: "SIPp CSV of user;domain;password (overrides --password)", EnvVars: env("registrar-users")},
		&cli.GenericFlag{Name: "min-expires", Value: seconds(0), Usage: "answer 423 below this, seconds or a duration (0: no minimum)", EnvVars: env("min-expires")},
		&cli.GenericFlag{Name: "max-expires", Value: seconds(0), Usage: "clamp requested intervals to this, seconds or a duration (0: no maximum)", EnvVars: env("max-expires")},
		&cli.StringFlag{Name: "expires-style", Value: "contact", Usage: "granted interval in Contact ;expires (contact) or only in the Expires header (header)", EnvVars: env("expires-style")},
		&cli.Float64Flag{Name: "drop", Usage: "fraction of requests silently ignored", EnvVars: env("drop")},
		&cli.DurationFlag{Name: "delay", Usage: "answer this late", EnvVars: env("delay")},
		&cli.StringFlag{Name: "reject", Usage: "CODE:P: answer CODE to a share P of the transactions (a retransmission gets its original's answer), e.g. 503:0.05", EnvVars: env("reject")},
		&cli.BoolFlag{Name: "silent", Usage: "never answer", EnvVars: env("silent")},
		&cli.Float64Flag{Name: "max-rate", Usage: "serve at most N requests a second, all transports together (a token bucket); over it answer 503 with Retry-After, as a Kamailio answering 503 when ratelimit's rl_check() fails (0: no cap)", EnvVars: env("max-rate")},
		&cli.IntFlag{Name: "max-burst", Usage: "with --max-rate: requests served at once from a full bucket (default: --max-rate, a second's worth)", EnvVars: env("max-burst")},
		&cli.GenericFlag{Name: "retry-after", Value: seconds(1), Usage: "with --max-rate: seconds in the 503's Retry-After (or a duration, e.g. 2s)", EnvVars: env("retry-after")},
		&cli.BoolFlag{Name: "close-after-answer", Usage: "TCP, TLS, WS, WSS: close the connection right after each answer", EnvVars: env("close-after-answer")},
	}
}

// runRegistrar is the registrar command: the embedded registrar alone,
// until SIGINT or SIGTERM.
func runRegistrar(c *cli.Context, stderr io.Writer) error {
	cfg, err := registrarConfig(c)
	if err != nil {
		return err
	}
	l, err := registrarEndpoints(c)
	if err != nil {
		return err
	}
	if err := loadCertificates(c, &cfg, l.eps); err != nil {
		return err
	}
	srv, err := registrar.Listen(registrar.New(cfg), l.host, l.port, l.transports)
	var held *registrar.PortInUseError
	if errors.As(err, &held) {
		flag := "--listen"
		for _, ep := range l.eps {
			if ep.Transport == held.Transport && ep.Named && !l.alone {
				flag = "--transport"
			}
		}
		return usagef("%s: %v (--reuseport shares it)", flag, err)
	}
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	return serveRegistrar(srv, l.eps, stderr)
}

// registrarConfig is the registrar's behaviour from its flags.
func registrarConfig(c *cli.Context) (registrar.Config, error) {
	cfg := registrar.Config{
		Auth: c.Bool("auth"), Realm: c.String("realm"),
		Drop: c.Float64("drop"), Delay: c.Duration("delay"), Silent: c.Bool("silent"),
		ReusePort: c.Bool("reuseport"), CloseAfterAnswer: c.Bool("close-after-answer"),
		Logf: logTo(os.Stderr, "regstorm registrar: "),
	}
	if v := secondsOf(c, "min-expires"); v < 0 || v > math.MaxUint32 {
		return cfg, usagef("--min-expires %d: want 0..%d seconds", v, uint32(math.MaxUint32))
	} else {
		cfg.MinExpires = uint32(v)
	}
	if v := secondsOf(c, "max-expires"); v < 0 || v > math.MaxUint32 {
		return cfg, usagef("--max-expires %d: want 0..%d seconds", v, uint32(math.MaxUint32))
	} else {
		cfg.MaxExpires = uint32(v)
	}
	if cfg.MaxExpires > 0 && cfg.MinExpires > cfg.MaxExpires {
		return cfg, usagef("--min-expires %d is above --max-expires %d", cfg.MinExpires, cfg.MaxExpires)
	}
	switch c.String("expires-style") {
	case "contact":
	case "header":
		cfg.Style = registrar.StyleHeader
	default:
		return cfg, usagef("--expires-style %q: want contact or header", c.String("expires-style"))
	}
	// Written so that NaN fails too.
	if !(cfg.Drop >= 0 && cfg.Drop <= 1) {
		return cfg, usagef("--drop %v: want a fraction 0..1", cfg.Drop)
	}
	if cfg.Delay < 0 {
		return cfg, usagef("--delay %v: must not be negative", cfg.Delay)
	}
	if cfg.MaxRate = c.Float64("max-rate"); !(cfg.MaxRate >= 0) || math.IsInf(cfg.MaxRate, 0) {
		return cfg, usagef("--max-rate %v: want requests a second, 0 (no cap) or more", cfg.MaxRate)
	}
	if cfg.MaxBurst = c.Int("max-burst"); cfg.MaxBurst < 0 || (cfg.MaxBurst > 0 && cfg.MaxRate == 0) {
		return cfg, usagef("--max-burst %d: want a number of requests, with --max-rate", cfg.MaxBurst)
	}
	if ra := secondsOf(c, "retry-after"); ra < 1 || ra > math.MaxUint32 {
		return cfg, usagef("--retry-after %d: want 1..%d seconds", ra, uint32(math.MaxUint32))
	} else if cfg.RetryAfter = int(ra); c.IsSet("retry-after") && cfg.MaxRate == 0 {
		return cfg, usagef("--retry-after %d: only with --max-rate", cfg.RetryAfter)
	}
	if r := c.String("reject"); r != "" {
		code, p, ok := strings.Cut(r, ":")
		n, err1 := strconv.Atoi(code)
		f, err2 := strconv.ParseFloat(p, 64)
		if !ok || err1 != nil || err2 != nil || n < 300 || n > 699 || !(f >= 0 && f <= 1) {
			return cfg, usagef("--reject %q: want CODE:P with CODE 300..699 and P 0..1, e.g. 503:0.05", r)
		}
		cfg.RejectCode, cfg.RejectProb = n, f
	}
	pass, err := passwordLookup(c)
	if err != nil {
		return cfg, err
	}
	cfg.Password = pass
	return cfg, nil
}

// listenOn is where the registrar listens: --listen's host and port, and
// the endpoints of --transport.
type listenOn struct {
	host       string
	port       int
	transports []string
	eps        []registrar.Endpoint
	alone      bool // one tls, ws or wss transport on --listen's port
}

// registrarEndpoints reads --listen and --transport.
func registrarEndpoints(c *cli.Context) (listenOn, error) {
	var l listenOn
	host, portS, err := net.SplitHostPort(c.String("listen"))
	port, perr := strconv.Atoi(portS)
	if err != nil || perr != nil || port < 0 || port > 65535 {
		return l, usagef("--listen %q: want host:port", c.String("listen"))
	}
	var transports []string
	for _, t := range strings.Split(c.String("transport"), ",") {
		transports = append(transports, strings.TrimSpace(strings.ToLower(t)))
	}
	// One transport and the port --listen gives: that port, for tls, ws
	// and wss too (who names one transport and one port means that port).
	// Among others, they take the listen port +1, +2, +3 unless named.
	alone := false
	if len(transports) == 1 && c.IsSet("listen") {
		switch transports[0] {
		case "tls", "ws", "wss":
			transports[0] += ":" + strconv.Itoa(port)
			alone = true
		}
	}
	eps, err := registrar.ParseTransports(transports, port)
	if err != nil {
		return l, usagef("--transport %q: %v", c.String("transport"), err)
	}
	l.host, l.port, l.transports, l.eps, l.alone = host, port, transports, eps, alone
	return l, nil
}

// serveRegistrar serves until SIGINT or SIGTERM, then closes and prints
// the counts.
func serveRegistrar(srv *registrar.Server, eps []registrar.Endpoint, stderr io.Writer) error {
	// The registrar's own signals, not signalContext's: it has nothing to
	// un-register, and SIGHUP (a closed terminal, a service manager's
	// reload) must not kill it. Caught before "listening on" is printed,
	// so that whoever waits for that line may signal at once.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	if fp := srv.Fingerprint(); fp != "" {
		fmt.Fprintf(stderr, "regstorm registrar: certificate SHA256 Fingerprint=%s\n", fp)
	}
	fmt.Fprintf(stderr, "regstorm registrar: listening on %s\n", listeningOn(srv, eps))
	for sig := range sigs {
		if sig == syscall.SIGUSR1 {
			// Approximate while requests are being handled.
			printRegistrarStats(stderr, srv)
			continue
		}
		if sig == syscall.SIGHUP {
			fmt.Fprintln(stderr, "regstorm registrar: SIGHUP received: nothing to reload (bindings kept)")
			continue
		}
		name := "SIGTERM"
		if sig == os.Interrupt {
			name = "SIGINT"
		}
		fmt.Fprintf(stderr, "regstorm registrar: %s received: stopping\n", name)
		signal.Reset(os.Interrupt, syscall.SIGTERM) // a second one quits at once
		break
	}
	err := srv.Close()
	printRegistrarStats(stderr, srv)
	return err
}

// listeningOn names each address with its transports, UDP and TCP first
// as they always were: "127.0.0.1:5060 (udp,tcp); 127.0.0.1:5061 (tls)".
func listeningOn(srv *registrar.Server, eps []registrar.Endpoint) string {
	var parts, shared []string
	for _, ep := range eps {
		if ep.Transport == "udp" || ep.Transport == "tcp" {
			shared = append(shared, ep.Transport)
		}
	}
	if len(shared) > 0 {
		parts = append(parts, fmt.Sprintf("%s (%s)", srv.Addr, strings.Join(shared, ",")))
	}
	for _, ep := range eps {
		if ep.Transport != "udp" && ep.Transport != "tcp" {
			parts = append(parts, fmt.Sprintf("%s (%s)", srv.AddrOf(ep.Transport), ep.Transport))
		}
	}
	return strings.Join(parts, "; ")
}

func printRegistrarStats(w io.Writer, srv *registrar.Server) {
	st := srv.Stats()
	held, aors := srv.Reg.Loc.Count(time.Now())
	tlsStats := ""
	if srv.Fingerprint() != "" {
		tlsStats = fmt.Sprintf(", %d TLS handshakes, %d failed", st.TLSHandshakes, st.TLSFailures)
	}
	capStats := ""
	if srv.Reg.Config().MaxRate > 0 {
		capStats = fmt.Sprintf(", %d refused over --max-rate (503)", st.Throttled)
	}
	fmt.Fprintf(w, "regstorm registrar: %d requests, %d bindings made, %d removed, %d held for %d AoRs, %d challenges, %d auth failures, %d replays refused, %d malformed%s%s\n",
		st.Requests, st.Registered, st.Unregistered, held, aors, st.Challenges, st.AuthFailures, st.Replays, st.Malformed, capStats, tlsStats)
}

// loadCertificates reads --cert/--key and --client-ca into cfg. They
// serve tls and wss only: given without either, they are refused rather
// than ignored.
func loadCertificates(c *cli.Context, cfg *registrar.Config, eps []registrar.Endpoint) error {
	certF, keyF, caF := c.String("cert"), c.String("key"), c.String("client-ca")
	if (certF == "") != (keyF == "") {
		return usagef("--cert and --key: give both or neither")
	}
	if certF == "" && caF == "" {
		return nil
	}
	usesTLS := false
	for _, ep := range eps {
		usesTLS = usesTLS || ep.Transport == "tls" || ep.Transport == "wss"
	}
	if !usesTLS {
		if certF != "" {
			return usagef("--cert: --transport %q has no tls or wss", c.String("transport"))
		}
		return usagef("--client-ca: --transport %q has no tls or wss", c.String("transport"))
	}
	if certF != "" {
		cert, err := tls.LoadX509KeyPair(certF, keyF)
		if err != nil {
			return usagef("--cert/--key: %v", err)
		}
		cfg.Cert = &cert
	}
	if caF != "" {
		pem, err := os.ReadFile(caF)
		if err != nil {
			return usagef("--client-ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return usagef("--client-ca %s: no PEM certificate in it", caF)
		}
		cfg.ClientCAs = pool
	}
	return nil
}

// passwordLookup builds the registrar's password function from --users or
// the --password pattern (%d is the number found in the user name).
func passwordLookup(c *cli.Context) (func(user []byte) ([]byte, bool), error) {
	if f := c.String("users"); f != "" {
		users, err := identity.LoadUsers(f)
		if err != nil {
			return nil, usagef("--users: %v", err)
		}
		m := make(map[string][]byte, len(users))
		for _, u := range users {
			m[u.Name] = []byte(u.Password)
		}
		return func(user []byte) ([]byte, bool) { p, ok := m[string(user)]; return p, ok }, nil
	}
	pat, err := identity.ParsePattern(c.String("password"))
	if err != nil {
		return nil, usagef("--password: the pattern is invalid (only %%d or %%0Nd is supported)")
	}
	return func(user []byte) ([]byte, bool) {
		// The number in the user name ("nap000042" → 42) fills the pattern.
		var n uint64
		seen := false
		for _, ch := range user {
			if ch >= '0' && ch <= '9' {
				n = n*10 + uint64(ch-'0')
				seen = true
			}
		}
		if !seen {
			n = 0
		}
		return pat.Append(nil, n), true
	}, nil
}
