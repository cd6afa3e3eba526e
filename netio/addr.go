package netio

import (
	"fmt"
	"math/big"
	"net/netip"
	"strings"

	"golang.org/x/sys/unix"
)

// AddrPool is the set of local addresses NAPs send from (--local-ip): a
// list, a CIDR, or both, handed out round-robin by index without
// materialising a large CIDR.
type AddrPool struct {
	list   []netip.Addr
	prefix []netip.Prefix
	sizes  []uint64
	total  uint64
}

// ParseAddrPool parses "127.0.0.1,127.0.0.2" or "127.0.0.0/16" (or a mix).
// A CIDR's network and broadcast addresses are kept on loopback, where
// every 127.x.y.z works.
func ParseAddrPool(s string) (*AddrPool, error) {
	p := &AddrPool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			pr, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not an address or CIDR: %v", f, err)
			}
			pr = pr.Masked()
			bits := pr.Addr().BitLen() - pr.Bits()
			size := uint64(1) << min(bits, 32)
			p.prefix = append(p.prefix, pr)
			p.sizes = append(p.sizes, size)
			p.total += size
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or CIDR: %v", f, err)
		}
		p.list = append(p.list, a)
		p.total++
	}
	if p.total == 0 {
		return nil, fmt.Errorf("no address in %q", s)
	}
	return p, nil
}

// Len is the number of addresses.
func (p *AddrPool) Len() uint64 { return p.total }

// At returns address i mod Len.
func (p *AddrPool) At(i uint64) netip.Addr {
	i %= p.total
	if i < uint64(len(p.list)) {
		return p.list[i]
	}
	i -= uint64(len(p.list))
	for k, pr := range p.prefix {
		if i < p.sizes[k] {
			b := new(big.Int).SetBytes(pr.Addr().AsSlice())
			b.Add(b, new(big.Int).SetUint64(i))
			raw := b.FillBytes(make([]byte, pr.Addr().BitLen()/8))
			a, _ := netip.AddrFromSlice(raw)
			return a
		}
		i -= p.sizes[k]
	}
	return p.list[0]
}

// RaiseFileLimit raises RLIMIT_NOFILE so that need descriptors fit: the
// soft limit up to the hard one, and the hard one too when allowed (root,
// up to fs.nr_open). It says clearly when the limit stays too low.
func RaiseFileLimit(need uint64) error {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	if need <= rl.Cur {
		return nil
	}
	want := unix.Rlimit{Cur: max(need, rl.Max), Max: max(need, rl.Max)}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &want); err != nil {
		rl.Cur = rl.Max // not allowed to raise the hard limit: take what there is
		_ = unix.Setrlimit(unix.RLIMIT_NOFILE, &rl)
	}
	_ = unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
	if need > rl.Cur {
		return fmt.Errorf("needs %d file descriptors, but the limit is %d (hard limit %d): raise it with `ulimit -n` or use --sockets shared", need, rl.Cur, rl.Max)
	}
	return nil
}
