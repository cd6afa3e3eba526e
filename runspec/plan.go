package runspec

import (
	"os"

	"github.com/regstorm/regstorm/netio"
	"github.com/regstorm/regstorm/sipwire"
)

// Plan does a level's I/O, once its settings are checked: the local
// addresses tried, the next hop resolved (a name as RFC 3263 says, an
// address as it is), the file limit raised and the memory checked for the
// level's NAPs. A resolver that fails or does not answer is a
// *DNSUnavailable, to try again after its Retry; anything else refused is
// a usage error.
func (l *Level) Plan() error {
	g := &l.Group
	if l.localIPs != "" {
		if err := checkLocalIPs(l.localIPs, g.NAPs); err != nil {
			return err
		}
	}
	if err := l.resolve(); err != nil {
		return err
	}
	return l.limits(os.ReadFile)
}

// resolve finds where the NAPs send: a name through DNS (the transport
// NAPTR chooses, unless given), an address as it is.
func (l *Level) resolve() error {
	g, hop := &l.Group, l.hop
	switch {
	case hop.Host != "" && isName(hop.Host):
		loc, err := locateHop(l.dnsServer, g.NAP.Retry, l.hopFlag, hop, l.given, l.localFamily)
		if err != nil {
			return err
		}
		if l.naptrChooses() {
			g.NAP.Transport, _ = sipwire.ParseTransport(loc.transport)
			if err := checkKeepalive(l.Run.Keepalive, g.NAP.Transport); err != nil {
				return err
			}
		}
		g.Target = loc.targets[0].Addr
		g.Targets, g.Order, g.Resolve, g.TTL = loc.targets, loc.order, loc.again, loc.ttl
	case hop.Host != "":
		ap, err := resolveTarget(l.hopFlag, hop, l.localFamily)
		if err != nil {
			return err
		}
		if l.localFamily != 0 && family(ap.Addr()) != l.localFamily {
			return usagef("--local-ip is IPv%d, %s %s is IPv%d", l.localFamily, l.hopFlag, ap.Addr(), family(ap.Addr()))
		}
		g.Target = ap.String()
	}
	return nil
}

// limits: descriptors and memory for this process's NAPs (docs/cli.md: refused
// with exit 2, not dying of it half-way through the ramp). read reads
// /proc and /sys.
func (l *Level) limits(read func(string) ([]byte, error)) error {
	o, g := &l.Run, &l.Group
	shardN := max(o.ShardN, 1)
	mine := (g.NAPs - o.ShardK + shardN - 1) / shardN
	embedded := l.hop.Host == ""
	tcp := g.NAP.Transport.Stream()
	switch {
	case embedded && (o.PerNAP || tcp):
		// The embedded registrar holds one descriptor per NAP connection as well.
		if err := netio.RaiseFileLimit(2*uint64(g.NAPs) + 512); err != nil {
			return usagef("--naps %d with the embedded registrar %v", g.NAPs, err)
		}
	case o.PerNAP:
		if err := netio.RaiseFileLimit(uint64(mine) + 256); err != nil {
			return usagef("--sockets per-nap with %d NAPs %v", mine, err)
		}
	}
	avail, from := availableMemory(read)
	return checkMemory(mine, memoryUse{ownSocket: o.PerNAP, tcp: tcp, goroutine: tcp && g.NAP.Transport != sipwire.TCP, embedded: embedded}, avail, from)
}
