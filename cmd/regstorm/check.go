package main

// Checks of the run's input that need more than a flag's type: SIP
// syntax, the target URI and its name, AoRs, local addresses, memory
// (output paths: outputs.go). They all run before anything starts (DESIGN §7: exit 2,
// nothing started).

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/identity"
	"github.com/regstorm/regstorm/locate"
	"github.com/regstorm/regstorm/runspec"
)

// target is a parsed --target or --proxy URI.
type target = locate.URI

// parseTarget reads --target (locate.ParseURI).
func parseTarget(s string) (target, error) { return parseURI("--target", s, false) }

// parseProxy reads an outbound proxy's URI as parseTarget does, ;lr
// allowed, and gives the Route field's value that names it.
func parseProxy(s string) (target, string, error) {
	t, err := parseURI("--proxy", s, true)
	if err != nil {
		return t, "", err
	}
	return t, t.Route(), nil
}

func parseURI(flag, s string, lr bool) (target, error) {
	u, err := locate.ParseURI(s, lr)
	if err != nil {
		return target{}, usagef("%s %q: %v", flag, s, err)
	}
	return u, nil
}

// checkAoRsApart refuses NAPs that would share an AoR without
// --shared-aor: a --user-pattern without %d, or a --users file with fewer
// users than NAPs (NAP i takes user i mod the file's). The registrar would
// hold one binding where the run counts many registered. With
// --shared-aor, each NAP has a socket of its own, so that its contact
// (user@address:port) is its own too.
func checkAoRsApart(c runspec.Values, o *engine.Options) error {
	if !c.Bool("shared-aor") {
		if us := o.Identity.Users; len(us) > 0 {
			if n := identity.DistinctAoRs(us, o.Identity.Domain); n < o.NAPs {
				return usagef("--users %s: %d different users for --naps %d: NAP i takes user i mod %d, so NAPs would share an AoR and the registrar hold fewer bindings than the run counts registered; give a user per NAP, or --shared-aor to share on purpose",
					c.String("users"), n, o.NAPs, len(us))
			}
		} else if !o.Identity.UserPattern.Numbered() && o.NAPs > 1 {
			p := c.String("user-pattern")
			return usagef("--user-pattern %q has no %%d: all %d NAPs would register one AoR, and the registrar hold one binding where the run counts %d registered; number the users (e.g. %q), or give --shared-aor to share one AoR on purpose",
				p, o.NAPs, o.NAPs, p+"%d")
		}
		return nil
	}
	switch {
	case !c.IsSet("sockets"):
		o.PerNAP = true
	case !o.PerNAP:
		return usagef("--shared-aor with --sockets shared: the NAPs on one socket would send one contact (user@address:port), and the registrar keep one binding for them; use --sockets per-nap (the default with --shared-aor)")
	}
	return nil
}

// checkListenAddr checks the syntax of a host:port to listen on.
func checkListenAddr(flag, s string) error {
	host, port, err := net.SplitHostPort(s)
	p, perr := strconv.Atoi(port)
	if err != nil || !locate.AllDigits(port) || perr != nil || p > 65535 {
		return usagef("%s %q: want host:port, e.g. 127.0.0.1:9090", flag, s)
	}
	if _, err := netip.ParseAddr(host); err != nil && host != "" && !locate.IsHostName(host) {
		return usagef("%s %q: %q is not an address or a host name", flag, s, host)
	}
	return nil
}

// family is 4 or 6.
func family(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}

// poolFamily is the address family of a --local-ip list (already parsed
// by netio.ParseAddrPool); a list that mixes them is refused, since one
// target has one family.
func poolFamily(s string) (int, error) {
	fam := 0
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		a, err := netip.ParseAddr(f)
		if pr, perr := netip.ParsePrefix(f); perr == nil {
			a, err = pr.Addr(), nil
		}
		if err != nil {
			return 0, fmt.Errorf("%q is not an address or CIDR", f)
		}
		if fam != 0 && family(a) != fam {
			return 0, fmt.Errorf("%q mixes IPv4 and IPv6 addresses", s)
		}
		fam = family(a)
	}
	return fam, nil
}

// checkLocalIPs refuses a --local-ip address this host does not have
// (exit 2 naming --local-ip, before anything starts): the NAPs could not
// bind it. An address of an interface is this host's, as is one within a
// loopback interface's prefix (127.0.0.0/8); any other is tried with a
// UDP socket bound to it and closed at once, nothing sent (an AnyIP
// route, ip_nonlocal_bind). Of a CIDR, the addresses the NAPs use: at
// most naps, and 65536.
func checkLocalIPs(s string, naps int) error {
	type ifPrefix struct {
		p        netip.Prefix
		loopback bool
	}
	var mine []ifPrefix
	ifs, _ := net.Interfaces()
	for _, ifc := range ifs {
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				ip, _ := netip.AddrFromSlice(n.IP)
				bits, _ := n.Mask.Size()
				mine = append(mine, ifPrefix{netip.PrefixFrom(ip.Unmap(), bits), ifc.Flags&net.FlagLoopback != 0})
			}
		}
	}
	have := func(a netip.Addr) error {
		for _, m := range mine {
			if m.p.Addr() == a || (m.loopback && m.p.Contains(a)) {
				return nil
			}
		}
		c, err := net.ListenPacket("udp", netip.AddrPortFrom(a, 0).String())
		if err != nil {
			if oe, ok := err.(*net.OpError); ok {
				err = oe.Err
			}
			return usagef("--local-ip %s: %s is not an address of this host (%v)", s, a, err)
		}
		c.Close()
		return nil
	}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if a, err := netip.ParseAddr(f); err == nil {
			if err := have(a); err != nil {
				return err
			}
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			continue // netio.ParseAddrPool said it
		}
		p = p.Masked()
		covered := false
		for _, m := range mine {
			covered = covered || (m.loopback && m.p.Bits() <= p.Bits() && m.p.Contains(p.Addr()))
		}
		if covered {
			continue
		}
		a := p.Addr()
		for k := 0; k < min(naps, 65536) && p.Contains(a); k++ {
			if err := have(a); err != nil {
				return err
			}
			a = a.Next()
		}
	}
	return nil
}

// resolveTimeout bounds the lookup of a target's name: a name that does
// not resolve is a usage error, to be told at once.
const resolveTimeout = 3 * time.Second

// resolveTarget gives the address to send to: the target's own if it is
// one, else the first address of its name in the wanted family (0: any).
func resolveTarget(flag string, t target, fam int) (netip.AddrPort, error) {
	if a, err := netip.ParseAddr(t.Host); err == nil {
		return netip.AddrPortFrom(a, uint16(t.Port)), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", t.Host)
	if err != nil {
		return netip.AddrPort{}, usagef("%s: %s does not resolve: %v", flag, t.Host, err)
	}
	for _, a := range addrs {
		if a = a.Unmap(); fam == 0 || family(a) == fam {
			return netip.AddrPortFrom(a, uint16(t.Port)), nil
		}
	}
	return netip.AddrPort{}, usagef("%s: %s has no IPv%d address, the family of --local-ip", flag, t.Host, fam)
}

// memoryUse says what a run holds for each NAP.
type memoryUse struct {
	ownSocket bool // --sockets per-nap: a socket per NAP
	tcp       bool
	goroutine bool // tls, ws, wss: a goroutine per connection, and crypto/tls's state
	embedded  bool // the embedded registrar holds each NAP's binding in this process
}

// Memory per NAP, conservatively: about 110 B of Go heap per NAP was
// measured at 10^6 NAPs on shared UDP sockets (bench/RESULTS.md); the
// rest is the garbage collector's headroom.
const (
	baseBytes    = 64 << 20 // the process itself
	napBytes     = 250
	socketBytes  = 4 << 10 // a socket of its own: kernel structures and buffers, the connection's state
	bindingBytes = 200     // the embedded registrar's binding: 128-139 B of RSS measured at 10^6-10^7 (bench/RESULTS.md), with headroom
	// A tls, ws or wss connection's goroutine (its stack), read buffer and
	// crypto/tls state, on each side: ~18 KiB measured at the registrar's
	// end of 10^4 TLS connections (bench/RESULTS.md), with headroom.
	streamBytes = 24 << 10
)

// memoryNeeded estimates the memory a run of naps NAPs needs.
func memoryNeeded(naps int, u memoryUse) uint64 {
	per := uint64(napBytes)
	if u.ownSocket {
		per += socketBytes
		if u.goroutine {
			per += streamBytes
		}
	}
	if u.embedded {
		per += bindingBytes
		if u.tcp && u.ownSocket {
			per += socketBytes // the registrar's end of each connection
			if u.goroutine {
				per += streamBytes
			}
		}
	}
	if uint64(naps) > (math.MaxUint64-baseBytes)/per {
		return math.MaxUint64
	}
	return baseBytes + uint64(naps)*per
}

// checkMemory refuses a run that cannot fit in avail bytes (0: unknown,
// not checked), before it dies of it half-way through its ramp.
func checkMemory(naps int, u memoryUse, avail uint64, from string) error {
	need := memoryNeeded(naps, u)
	if avail == 0 || need <= avail {
		return nil
	}
	return usagef("--naps: %d NAPs in this process need about %s of memory, and %s is available (%s); run fewer, or spread them over processes with --shard k/N",
		naps, gib(need), gib(avail), from)
}

func gib(n uint64) string {
	if n == math.MaxUint64 {
		return "more than any machine has"
	}
	return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + " GiB"
}

// availableMemory is the lower of MemAvailable and the memory limit of the
// process's cgroup (v2 memory.max or v1 memory.limit_in_bytes), with where
// it came from; 0 when neither can be read.
func availableMemory(read func(string) ([]byte, error)) (uint64, string) {
	var best uint64
	var from string
	take := func(n uint64, src string) {
		if n > 0 && (best == 0 || n < best) {
			best, from = n, src
		}
	}
	if b, err := read("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
				if f := strings.Fields(rest); len(f) > 0 {
					if kb, err := strconv.ParseUint(f[0], 10, 64); err == nil {
						take(kb*1024, "MemAvailable in /proc/meminfo")
					}
				}
			}
		}
	}
	b, err := read("/proc/self/cgroup")
	if err != nil {
		return best, from
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var files []string
		switch {
		case parts[0] == "0" && parts[1] == "": // v2
			files = []string{path.Join("/sys/fs/cgroup", parts[2], "memory.max"), "/sys/fs/cgroup/memory.max"}
		case slices.Contains(strings.Split(parts[1], ","), "memory"): // v1
			files = []string{path.Join("/sys/fs/cgroup/memory", parts[2], "memory.limit_in_bytes"), "/sys/fs/cgroup/memory/memory.limit_in_bytes"}
		}
		// The cgroup's own file, or, in a cgroup namespace, the root's.
		for _, f := range files {
			b, err := read(f)
			if err != nil {
				continue
			}
			// "max" (v2) or a huge number (v1): no limit.
			if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && n < 1<<60 {
				take(n, "cgroup limit in "+f)
			}
			break
		}
	}
	return best, from
}
