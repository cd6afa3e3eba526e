package netio

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regstorm/regstorm/sipwire"
)

// TestIdleStreamMemory measures what one idle tls or wss connection costs
// this side: N connections dialled as the engine dials them (its TLS
// configuration, a session cache per connection, 64 dials at a time), one
// REGISTER and its answer on each, then held idle; the Go heap, goroutine
// stacks and the rest of the runtime's memory before and after, per
// connection. It needs a registrar in another process, so that only the
// client's memory is counted:
//
//	regstorm registrar --listen 127.0.0.1:25300 --transport tls,wss &
//	REGSTORM_MEM_TARGET=127.0.0.1:25301 REGSTORM_MEM_N=5000 \
//	  REGSTORM_MEM_PROFILE=/tmp/heap.prof go test ./netio -run TestIdleStreamMemory -v
//
// REGSTORM_MEM_TRANSPORT is tls (default) or wss; REGSTORM_MEM_PROFILE
// writes a heap profile of the idle connections (go tool pprof
// -sample_index=inuse_space). bench/RESULTS.md, issue 15, has the figures.
func TestIdleStreamMemory(t *testing.T) {
	target := os.Getenv("REGSTORM_MEM_TARGET")
	if target == "" {
		t.Skip("REGSTORM_MEM_TARGET unset: needs a registrar in another process")
	}
	transport := os.Getenv("REGSTORM_MEM_TRANSPORT")
	if transport == "" {
		transport = "tls"
	}
	n := 5000
	if v := os.Getenv("REGSTORM_MEM_N"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	if err := RaiseFileLimit(uint64(n) + 100); err != nil {
		t.Skip(err)
	}
	var got atomic.Int64
	answered := make(chan struct{}, n)
	r := recvFunc(func(msg []byte) {
		got.Add(1)
		answered <- struct{}{}
	})
	l, err := Start(r, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	caches := make([]onceCacheSafe, n)
	l.SetStreamOptions(StreamOptions{
		TLS:      &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true},
		Sessions: func(tag any) tls.ClientSessionCache { return &caches[tag.(int)] },
	})

	tr, ok := sipwire.ParseTransport(transport)
	if !ok {
		t.Fatalf("REGSTORM_MEM_TRANSPORT: no transport %q", transport)
	}
	before := memNow()
	conns := make([]Conn, n)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := l.Dial(tr, netip.MustParseAddrPort("127.0.0.1:0"), target, i)
			if err != nil {
				t.Error(err)
				return
			}
			conns[i] = c
			msg := fmt.Sprintf("REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/%s %s;rport;branch=z9hG4bKmem%d\r\n"+
				"Max-Forwards: 70\r\nFrom: <sip:mem%06d@127.0.0.1>;tag=%d\r\nTo: <sip:mem%06d@127.0.0.1>\r\n"+
				"Call-ID: mem%d\r\nCSeq: 1 REGISTER\r\nContact: <sip:mem%06d@%s;transport=%s>;expires=3600\r\nContent-Length: 0\r\n\r\n",
				map[string]string{"tls": "TLS", "wss": "WSS"}[transport], c.LocalAddr(), i, i, i, i, i, i, c.LocalAddr(), transport)
			if err := c.Send([]byte(msg)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	deadline := time.After(60 * time.Second)
	for range n {
		select {
		case <-answered:
		case <-deadline:
			t.Fatalf("%d of %d answered", got.Load(), n)
		}
	}
	took := time.Since(start)
	time.Sleep(2 * time.Second) // TLS 1.3 session tickets read, stacks settled
	after := memNow()
	per := func(k string) float64 { return float64(int64(after[k])-int64(before[k])) / float64(n) }
	t.Logf("%s: %d connections made and answered in %v", transport, n, took.Round(time.Millisecond))
	t.Logf("per idle connection, after GC: heap objects %.0f B, goroutine stacks %.0f B, "+
		"runtime total (heap spans incl. free, stacks, metadata) %.0f B, RSS %.0f B; goroutines %.2f",
		per("/memory/classes/heap/objects:bytes"), per("/memory/classes/heap/stacks:bytes"),
		per("/memory/classes/total:bytes")-per("/memory/classes/heap/released:bytes"), per("rss"), per("/sched/goroutines:goroutines"))
	if f := os.Getenv("REGSTORM_MEM_PROFILE"); f != "" {
		out, err := os.Create(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.Lookup("heap").WriteTo(out, 0); err != nil {
			t.Fatal(err)
		}
		out.Close()
	}
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

// onceCacheSafe is a one-session cache that its reader goroutine and a
// dial may use at once (the engine's session).
type onceCacheSafe struct {
	p atomic.Pointer[tls.ClientSessionState]
}

func (c *onceCacheSafe) Get(string) (*tls.ClientSessionState, bool) {
	s := c.p.Load()
	return s, s != nil
}
func (c *onceCacheSafe) Put(_ string, s *tls.ClientSessionState) { c.p.Store(s) }

type recvFunc func(msg []byte)

func (f recvFunc) OnMessageAt(_ any, msg []byte, _ time.Time, _ netip.AddrPort) { f(msg) }
func (f recvFunc) OnClosed(any, error)                                          {}
func (f recvFunc) OnPong(any)                                                   {}

// memNow is the runtime's memory after a full collection, and the RSS.
func memNow() map[string]uint64 {
	runtime.GC()
	runtime.GC()
	names := []string{"/memory/classes/heap/objects:bytes", "/memory/classes/heap/stacks:bytes",
		"/memory/classes/total:bytes", "/memory/classes/heap/released:bytes", "/sched/goroutines:goroutines"}
	s := make([]metrics.Sample, len(names))
	for i, n := range names {
		s[i].Name = n
	}
	metrics.Read(s)
	m := map[string]uint64{}
	for _, x := range s {
		m[x.Name] = x.Value.Uint64()
	}
	m["rss"] = rss()
	return m
}

func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, res uint64
	fmt.Sscan(string(b), &size, &res)
	return res * uint64(os.Getpagesize())
}
