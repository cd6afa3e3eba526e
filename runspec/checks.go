package runspec

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/identity"
	"github.com/regstorm/regstorm/locate"
)

// checkAoRsApart refuses NAPs that would share an AoR without
// --shared-aor: a --user-pattern without %d, or a --users file with fewer
// users than NAPs (NAP i takes user i mod the file's). The registrar would
// hold one binding where the run counts many registered. With
// --shared-aor, each NAP has a socket of its own, so that its contact
// (user@address:port) is its own too.
func checkAoRsApart(c Values, g *engine.Group, o *engine.Options) error {
	if !c.Bool("shared-aor") {
		if us := g.Identity.Users; len(us) > 0 {
			if n := identity.DistinctAoRs(us, g.Identity.Domain); n < g.NAPs {
				return usagef("--users %s: %d different users for --naps %d: NAP i takes user i mod %d, so NAPs would share an AoR and the registrar hold fewer bindings than the run counts registered; give a user per NAP, or --shared-aor to share on purpose",
					c.String("users"), n, g.NAPs, len(us))
			}
		} else if !g.Identity.UserPattern.Numbered() && g.NAPs > 1 {
			p := c.String("user-pattern")
			return usagef("--user-pattern %q has no %%d: all %d NAPs would register one AoR, and the registrar hold one binding where the run counts %d registered; number the users (e.g. %q), or give --shared-aor to share one AoR on purpose",
				p, g.NAPs, g.NAPs, p+"%d")
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
func resolveTarget(flag string, t locate.URI, fam int) (netip.AddrPort, error) {
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
