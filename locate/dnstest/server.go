// Package dnstest is an in-process DNS server for tests: it serves records
// set from zone text, on 127.0.0.1 over UDP and TCP, and can be told to fail
// for a name. Records and faults can change while it runs, so that tests can
// watch a resolver follow a change.
package dnstest

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Fault is how the server answers a name it was told to fail for.
type Fault int

const (
	Answer   Fault = iota // answer from the records (clears a fault)
	ServFail              // rcode SERVFAIL
	NXDomain              // rcode NXDOMAIN, whatever records the name has
	Refused               // rcode REFUSED
	Drop                  // no answer at all: the client times out
)

type key struct {
	name  string // lower case, fully qualified
	qtype uint16 // 0 in faults: every type
}

// Server is a running test DNS server; Addr is its "127.0.0.1:port", the
// same port for UDP and TCP.
type Server struct {
	Addr string

	mu         sync.Mutex
	rrs        map[key][]dns.RR
	faults     map[key]Fault
	queries    map[key]int
	additional bool
	truncate   bool
}

// Start runs a server until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{rrs: map[key][]dns.RR{}, faults: map[key]Fault{}, queries: map[key]int{}}
	pc, ln := listen(t)
	s.Addr = pc.LocalAddr().String()
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: s}, {Listener: ln, Handler: s}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started // so that Shutdown cannot come first and leave it running
		t.Cleanup(func() { srv.Shutdown() })
	}
	return s
}

// listen binds UDP on a free port and TCP on the same one, trying again
// when another process already holds that TCP port.
func listen(t testing.TB) (net.PacketConn, net.Listener) {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("dnstest: %v", err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln
		}
		pc.Close()
	}
	t.Fatal("dnstest: no port free for both UDP and TCP")
	return nil, nil
}

func canon(name string) string { return strings.ToLower(dns.Fqdn(name)) }

// Zone sets records from zone-file lines ("a.example.test. 30 IN A
// 192.0.2.1"). Each (name, type) the text holds replaces that RRset, so
// that a test changes a record by giving it again; the others stay.
// It panics on text that does not parse: a test's own mistake.
func (s *Server) Zone(text ...string) {
	sets := map[key][]dns.RR{}
	zp := dns.NewZoneParser(strings.NewReader(strings.Join(text, "\n")), ".", "")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		k := key{canon(rr.Header().Name), rr.Header().Rrtype}
		sets[k] = append(sets[k], rr)
	}
	if err := zp.Err(); err != nil {
		panic("dnstest: " + err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, rrs := range sets {
		s.rrs[k] = rrs
	}
}

// Set replaces the RRset (name, qtype); no records deletes it.
func (s *Server) Set(name string, qtype uint16, rrs ...dns.RR) {
	k := key{canon(name), qtype}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(rrs) == 0 {
		delete(s.rrs, k)
		return
	}
	s.rrs[k] = rrs
}

// Fail makes the server answer queries for name of qtype (0: of every
// type) with f; Answer clears it.
func (s *Server) Fail(name string, qtype uint16, f Fault) {
	k := key{canon(name), qtype}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == Answer {
		delete(s.faults, k)
		return
	}
	s.faults[k] = f
}

// Additional makes answers carry what a real server adds (RFC 2782,
// RFC 3263 §4.1): the SRV records of a NAPTR's replacement, and the A and
// AAAA records of SRV targets.
func (s *Server) Additional(on bool) {
	s.mu.Lock()
	s.additional = on
	s.mu.Unlock()
}

// Truncate makes every UDP answer that has records come back empty with
// the TC bit set, so that the client must ask again over TCP.
func (s *Server) Truncate(on bool) {
	s.mu.Lock()
	s.truncate = on
	s.mu.Unlock()
}

// Queries counts the queries received for (name, qtype), over UDP and TCP,
// answered or not; qtype 0 counts every type.
func (s *Server) Queries(name string, qtype uint16) int {
	name = canon(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if qtype != 0 {
		return s.queries[key{name, qtype}]
	}
	n := 0
	for k, c := range s.queries {
		if k.name == name {
			n += c
		}
	}
	return n
}
