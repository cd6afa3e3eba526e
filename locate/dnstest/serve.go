package dnstest

import (
	"net"
	"strings"

	"github.com/miekg/dns"
)

// ServeDNS answers one query from the records, or with the fault set for
// its name. It is the server's dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	if len(r.Question) != 1 {
		w.WriteMsg(m.SetRcode(r, dns.RcodeFormatError))
		return
	}
	m.SetReply(r)
	m.Authoritative, m.RecursionAvailable = true, true
	q := r.Question[0]
	name := canon(q.Name)
	_, udp := w.RemoteAddr().(*net.UDPAddr)

	s.mu.Lock()
	s.queries[key{name, q.Qtype}]++
	fault, ok := s.faults[key{name, q.Qtype}]
	if !ok {
		fault = s.faults[key{name, 0}]
	}
	switch fault {
	case Drop:
		s.mu.Unlock()
		return
	case ServFail:
		m.Rcode = dns.RcodeServerFailure
	case Refused:
		m.Rcode = dns.RcodeRefused
	case NXDomain:
		m.Rcode = dns.RcodeNameError
		m.Ns = s.soa(name)
	default:
		m.Answer = s.copyOf(name, q.Qtype)
		if len(m.Answer) == 0 {
			m.Ns = s.soa(name)
			if !s.exists(name) {
				m.Rcode = dns.RcodeNameError
			}
		}
		if s.additional {
			m.Extra = s.extra(m.Answer)
		}
		if udp && s.truncate && len(m.Answer) > 0 {
			m.Answer, m.Extra, m.Truncated = nil, nil, true
		}
	}
	s.mu.Unlock()
	if opt := r.IsEdns0(); opt != nil {
		m.SetEdns0(opt.UDPSize(), false)
	}
	w.WriteMsg(m)
}

// copyOf gives fresh copies, so that packing a reply never touches the
// records a test may be replacing.
func (s *Server) copyOf(name string, qtype uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range s.rrs[key{name, qtype}] {
		out = append(out, dns.Copy(rr))
	}
	return out
}

// exists says whether name owns records or has a descendant that does: an
// empty non-terminal (the parent of "_sip._udp.example.test.") is NODATA,
// not NXDOMAIN (RFC 8020).
func (s *Server) exists(name string) bool {
	for k := range s.rrs {
		if k.name == name || strings.HasSuffix(k.name, "."+name) {
			return true
		}
	}
	return false
}

// soa is the SOA record of the zone holding name, which a negative answer
// carries so that resolvers know how long it holds (RFC 2308); none when
// the test set no SOA.
func (s *Server) soa(name string) []dns.RR {
	for zone := name; ; {
		if rrs := s.copyOf(zone, dns.TypeSOA); len(rrs) > 0 {
			return rrs
		}
		i := strings.IndexByte(zone, '.')
		if i < 0 || i == len(zone)-1 {
			return nil
		}
		zone = zone[i+1:]
	}
}

// extra is the additional section for an answer: SRV records for NAPTR
// replacements, then addresses for every SRV target.
func (s *Server) extra(answer []dns.RR) []dns.RR {
	var out, srvs []dns.RR
	for _, rr := range answer {
		switch rr := rr.(type) {
		case *dns.NAPTR:
			set := s.copyOf(canon(rr.Replacement), dns.TypeSRV)
			out = append(out, set...)
			srvs = append(srvs, set...)
		case *dns.SRV:
			srvs = append(srvs, rr)
		}
	}
	for _, rr := range srvs {
		target := canon(rr.(*dns.SRV).Target)
		out = append(out, s.copyOf(target, dns.TypeA)...)
		out = append(out, s.copyOf(target, dns.TypeAAAA)...)
	}
	return out
}
