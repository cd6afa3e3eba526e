package trace

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// packet is one packet of a capture, decoded.
type packet struct {
	at       time.Time
	src, dst netip.AddrPort
	tcp      *layers.TCP
	payload  []byte
	checksum bool // the transport checksum verifies
}

func readPcap(t *testing.T, path string) []packet {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Fatalf("link type %v", r.LinkType())
	}
	var out []packet
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if ci.CaptureLength != ci.Length {
			t.Fatalf("packet cut: %d of %d bytes", ci.CaptureLength, ci.Length)
		}
		pk := gopacket.NewPacket(data, layers.LinkTypeEthernet, gopacket.Default)
		if el := pk.ErrorLayer(); el != nil {
			t.Fatalf("decoding: %v", el.Error())
		}
		var p packet
		p.at = ci.Timestamp
		var sa, da netip.Addr
		var proto byte
		switch ip := pk.NetworkLayer().(type) {
		case *layers.IPv4:
			sa, _ = netip.AddrFromSlice(ip.SrcIP.To4())
			da, _ = netip.AddrFromSlice(ip.DstIP.To4())
			proto = byte(ip.Protocol)
			if onesSum(ip.Contents) != 0xffff {
				t.Errorf("IPv4 header checksum %04x does not verify", ip.Checksum)
			}
		case *layers.IPv6:
			sa, _ = netip.AddrFromSlice(ip.SrcIP)
			da, _ = netip.AddrFromSlice(ip.DstIP)
			proto = byte(ip.NextHeader)
		default:
			t.Fatalf("no IP layer: %v", pk)
		}
		var seg []byte
		switch l := pk.TransportLayer().(type) {
		case *layers.UDP:
			p.src, p.dst = netip.AddrPortFrom(sa, uint16(l.SrcPort)), netip.AddrPortFrom(da, uint16(l.DstPort))
			seg = append(l.Contents, l.Payload...)
		case *layers.TCP:
			p.src, p.dst = netip.AddrPortFrom(sa, uint16(l.SrcPort)), netip.AddrPortFrom(da, uint16(l.DstPort))
			p.tcp = l
			seg = append(l.Contents, l.Payload...)
		default:
			t.Fatalf("no UDP or TCP layer: %v", pk)
		}
		p.payload = pk.TransportLayer().LayerPayload()
		// The pseudo-header: addresses, protocol, length (RFC 768, 8200).
		pseudo := append(sa.AsSlice(), da.AsSlice()...)
		if sa.Is4() {
			pseudo = binary.BigEndian.AppendUint16(append(pseudo, 0, proto), uint16(len(seg)))
		} else {
			pseudo = append(binary.BigEndian.AppendUint32(pseudo, uint32(len(seg))), 0, 0, 0, proto)
		}
		p.checksum = onesSum(append(pseudo, seg...)) == 0xffff
		out = append(out, p)
	}
}

// onesSum is the Internet checksum's one's complement sum of b.
func onesSum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

var (
	napV4  = netip.MustParseAddrPort("127.0.0.1:40001")
	regV4  = netip.MustParseAddrPort("127.0.0.2:5060")
	napV6  = netip.MustParseAddrPort("[::1]:40002")
	regV6  = netip.MustParseAddrPort("[2001:db8::5]:5061")
	start0 = time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)
)

func sipMsg(first string, n int) []byte {
	return []byte(fmt.Sprintf("%s\r\nCall-ID: c%d\r\nCSeq: %d REGISTER\r\nContent-Length: 0\r\n\r\n", first, n, n))
}

// A capture of UDP and TCP messages, over IPv4 and IPv6, reads back with
// the real addresses and ports in the message's direction, the payloads
// exact, checksums that verify, and TCP streams whose sequence numbers
// advance by the payload in each direction.
func TestPcapReadsBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.pcap")
	p := NewPcap(path)
	big := append(sipMsg("REGISTER sip:big SIP/2.0", 9), bytes.Repeat([]byte("x"), 70000)...)
	in := []Message{
		{Sent: true, Transport: "udp", Local: napV4, Remote: regV4, Data: sipMsg("REGISTER sip:a SIP/2.0", 1)},
		{Sent: false, Transport: "udp", Local: napV4, Remote: regV4, Data: sipMsg("SIP/2.0 401 Unauthorized", 1)},
		{Sent: true, Transport: "udp", Local: napV6, Remote: regV6, Data: sipMsg("REGISTER sip:b SIP/2.0", 2)},
		{Sent: false, Transport: "udp", Local: napV6, Remote: regV6, Data: sipMsg("SIP/2.0 200 OK", 2)},
		{Sent: true, Transport: "tcp", Local: napV4, Remote: regV4, Data: sipMsg("REGISTER sip:c SIP/2.0", 3)},
		{Sent: false, Transport: "tcp", Local: napV4, Remote: regV4, Data: sipMsg("SIP/2.0 401 Unauthorized", 3)},
		{Sent: true, Transport: "tcp", Local: napV4, Remote: regV4, Data: sipMsg("REGISTER sip:c SIP/2.0", 4)},
		{Sent: true, Transport: "tcp", Local: napV6, Remote: regV6, Data: sipMsg("REGISTER sip:d SIP/2.0", 5)},
		{Sent: false, Transport: "tcp", Local: napV6, Remote: regV6, Data: sipMsg("SIP/2.0 200 OK", 5)},
		{Sent: false, Transport: "tcp", Local: napV4, Remote: regV4, Data: sipMsg("SIP/2.0 200 OK", 4)},
		{Sent: true, Transport: "tcp", Local: napV4, Remote: regV4, Data: big},
	}
	for i := range in {
		in[i].At = start0.Add(time.Duration(i) * time.Millisecond)
		p.Message(&in[i])
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	got := readPcap(t, path)
	if len(got) != len(in)+1 { // the big one in two segments
		t.Fatalf("%d packets for %d messages", len(got), len(in))
	}
	// The big message: two segments whose payloads make it up.
	last := got[len(got)-2]
	last.payload = append(append([]byte{}, last.payload...), got[len(got)-1].payload...)
	if second := got[len(got)-1].tcp; second.Seq != last.tcp.Seq+uint32(len(got[len(got)-2].payload)) {
		t.Errorf("the big message's second segment at seq %d, after %d", second.Seq, last.tcp.Seq)
	}
	got = append(got[:len(got)-2], last)

	type seqs struct{ nap, peer uint32 }
	next := map[netip.AddrPort]*seqs{}
	for i, m := range in {
		g := got[i]
		src, dst := m.Local, m.Remote
		if !m.Sent {
			src, dst = dst, src
		}
		if g.src != src || g.dst != dst {
			t.Errorf("message %d: %s → %s, want %s → %s", i, g.src, g.dst, src, dst)
		}
		if !bytes.Equal(g.payload, m.Data) {
			t.Errorf("message %d: payload %q, want %q", i, trunc(g.payload), trunc(m.Data))
		}
		if !g.at.Equal(m.At) {
			t.Errorf("message %d: at %v, want %v", i, g.at, m.At)
		}
		if !g.checksum {
			t.Errorf("message %d: transport checksum does not verify", i)
		}
		if (g.tcp != nil) != (m.Transport == "tcp") {
			t.Fatalf("message %d: %s in a TCP segment: %v", i, m.Transport, g.tcp != nil)
		}
		if g.tcp == nil {
			continue
		}
		s := next[m.Local]
		if s == nil {
			s = &seqs{nap: g.tcp.Seq, peer: g.tcp.Ack}
			if !m.Sent {
				s = &seqs{nap: g.tcp.Ack, peer: g.tcp.Seq}
			}
			next[m.Local] = s
		}
		want := seqs{s.nap, s.peer}
		if !m.Sent {
			want = seqs{s.peer, s.nap}
		}
		if g.tcp.Seq != want.nap || g.tcp.Ack != want.peer || !g.tcp.ACK || !g.tcp.PSH || g.tcp.SYN || g.tcp.FIN || g.tcp.RST {
			t.Errorf("message %d: seq %d ack %d (ACK %v PSH %v), want seq %d ack %d", i, g.tcp.Seq, g.tcp.Ack, g.tcp.ACK, g.tcp.PSH, want.nap, want.peer)
		}
		if m.Sent {
			s.nap += uint32(len(m.Data))
		} else {
			s.peer += uint32(len(m.Data))
		}
	}
}

func trunc(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "…"
	}
	return string(b)
}

// No message, no file; a message after Close is dropped.
func TestPcapNoMessageNoFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.pcap")
	p := NewPcap(path)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p.Message(&Message{Sent: true, Transport: "udp", Local: napV4, Remote: regV4, Data: []byte("x")})
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("a file for a run that wrote nothing: %v", err)
	}
}

// A file that cannot be created: Close says so, naming it.
func TestPcapCreateFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "run.pcap")
	p := NewPcap(path)
	p.Message(&Message{Sent: true, Transport: "udp", Local: napV4, Remote: regV4, Data: []byte("x")})
	if err := p.Close(); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Close: %v", err)
	}
}

// Several goroutines at once (the engine's lanes): every packet whole.
func TestPcapConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.pcap")
	p := NewPcap(path)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				local := netip.AddrPortFrom(napV4.Addr(), uint16(41000+g))
				p.Message(&Message{At: start0, Sent: i%2 == 0, Transport: []string{"udp", "tcp"}[g%2], Local: local, Remote: regV4, Data: sipMsg("REGISTER sip:x SIP/2.0", i)})
			}
		})
	}
	wg.Wait()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	got := readPcap(t, path)
	if len(got) != 800 {
		t.Fatalf("%d packets, want 800", len(got))
	}
	for i, g := range got {
		if !bytes.HasPrefix(g.payload, []byte("REGISTER sip:x SIP/2.0\r\n")) || !g.checksum {
			t.Fatalf("packet %d: %q checksum %v", i, trunc(g.payload), g.checksum)
		}
	}
}

// The cost of one captured message (a REGISTER of a typical size, UDP).
func BenchmarkPcapMessage(b *testing.B) {
	p := NewPcap(filepath.Join(b.TempDir(), "run.pcap"))
	data := []byte("REGISTER sip:example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:40001;branch=z9hG4bK-0000001-1-abcdef;rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:nap000001@example.com>;tag=1a2b3c4d\r\n" +
		"To: <sip:nap000001@example.com>\r\nCall-ID: 0000001-abcdef@127.0.0.1\r\nCSeq: 2 REGISTER\r\n" +
		"Contact: <sip:nap000001@127.0.0.1:40001>;expires=3600\r\n" +
		"Authorization: Digest username=\"nap000001\", realm=\"example.com\", nonce=\"0123456789abcdef\", uri=\"sip:example.com\", response=\"0123456789abcdef0123456789abcdef\", algorithm=MD5\r\n" +
		"Content-Length: 0\r\n\r\n")
	for _, tr := range []string{"udp", "tcp"} {
		b.Run(tr, func(b *testing.B) {
			m := &Message{At: start0, Sent: true, Transport: tr, Local: napV4, Remote: regV4, Data: data}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				m.Sent = i%2 == 0
				p.Message(m)
			}
		})
	}
	if err := p.Close(); err != nil {
		b.Fatal(err)
	}
}
