package locate

import (
	"bytes"
	"net/netip"
	"os"
	"slices"
	"strings"
)

// fromHosts is name's addresses in a hosts file, IPv4 first. The system's
// resolver answers from it before DNS ("localhost", a lab's names), and so
// does Locate when it uses the system's servers. Nothing when the file
// cannot be read.
func fromHosts(path, name string) []netip.Addr {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	name = strings.TrimSuffix(name, ".")
	var v4, v6 []netip.Addr
	for line := range bytes.Lines(data) {
		if i := bytes.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(string(line))
		if len(f) < 2 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		for _, alias := range f[1:] {
			if strings.EqualFold(strings.TrimSuffix(alias, "."), name) {
				if a = a.Unmap(); a.Is4() {
					v4 = append(v4, a)
				} else {
					v6 = append(v6, a)
				}
				break
			}
		}
	}
	return slices.Concat(uniq(v4), uniq(v6))
}

func uniq(as []netip.Addr) []netip.Addr {
	slices.SortFunc(as, netip.Addr.Compare)
	return slices.Compact(as)
}
