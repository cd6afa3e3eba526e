package trace

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"sync"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Pcap writes every message of a run to a pcap file (--pcap) that
// tshark, Wireshark and sngrep open: each SIP message is one packet with
// the real addresses and ports, in headers the capture synthesises, since
// the engine sees SIP, not frames.
//
// Link type: Ethernet (DLT_EN10MB), with fixed locally administered MACs
// (02:00:00:00:00:01 the NAP's side, :02 the far side). Every reader
// decodes it, sngrep included, and its EtherType tells IPv4 from IPv6 in
// one file; a raw-IP or Linux SLL file would save 14 or 2 bytes a packet
// and no more. IP, UDP and TCP checksums are computed, so no tool flags
// them.
//
// UDP: one datagram per message. TCP: one segment per message (PSH, ACK)
// in a stream per connection, whose sequence numbers start at 1 in each
// direction and advance by the payload, so tshark reassembles SIP over
// TCP; no handshake is made up. A message longer than an IP datagram
// carries (64 KiB) goes in several segments; nothing is cut (snap length
// 256 KiB). The streams' state stays until Close: about 100 B a connection.
//
// TLS (when it lands): the engine hands the Sink the cleartext SIP, which
// is what goes here. A real capture of the encrypted wire (tcpdump) would
// rather need the session keys: an SSLKEYLOGFILE-style key log written
// next to this file (--tls-keylog), or embedded in a pcapng file as a
// Decryption Secrets Block (pcapgo's NgWriter writes those).
type Pcap struct {
	path string

	mu      sync.Mutex
	f       *os.File
	bw      *bufio.Writer
	w       *pcapgo.Writer
	err     error // the first write error: later messages are dropped
	buf     gopacket.SerializeBuffer
	eth     layers.Ethernet
	ip4     layers.IPv4
	ip6     layers.IPv6
	udp     layers.UDP
	tcp     layers.TCP
	payload gopacket.Payload
	src     [16]byte
	dst     [16]byte
	ls      []gopacket.SerializableLayer
	streams map[connKey]*tcpSeq
}

// connKey names a TCP connection by its two ends.
type connKey struct{ local, remote netip.AddrPort }

// tcpSeq is a connection's next sequence number in each direction.
type tcpSeq struct{ nap, peer uint32 }

// pcapSnapLen is libpcap's MAXIMUM_SNAPLEN: no packet is cut.
const pcapSnapLen = 262144

// maxIPPayload is what an IPv4 datagram's 16-bit length leaves for UDP or
// TCP and their data (IPv6 counts without its own header, less is fine).
const maxIPPayload = 65535 - 20

var (
	macNAP  = []byte{0x02, 0, 0, 0, 0, 0x01}
	macPeer = []byte{0x02, 0, 0, 0, 0, 0x02}
)

// NewPcap returns a sink writing path; the file is created with the
// first message, so a run that sends nothing leaves none.
func NewPcap(path string) *Pcap {
	return &Pcap{
		path:    path,
		buf:     gopacket.NewSerializeBufferExpectedSize(14+40+20, 2048),
		streams: make(map[connKey]*tcpSeq),
		ls:      make([]gopacket.SerializableLayer, 0, 4),
	}
}

// Message writes m as one packet (Sent: Local → Remote; else Remote → Local).
func (p *Pcap) Message(m *Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return
	}
	if p.w == nil {
		if p.err = p.open(); p.err != nil {
			return
		}
	}
	if err := p.packet(m); err != nil {
		p.err = err
	}
}

// Outcome is not part of a capture.
func (p *Pcap) Outcome(*Outcome) {}

func (p *Pcap) open() error {
	f, err := os.Create(p.path)
	if err != nil {
		return err
	}
	p.f = f
	p.bw = bufio.NewWriterSize(f, 256<<10)
	// Microsecond timestamps: the classic pcap every reader takes.
	p.w = pcapgo.NewWriter(p.bw)
	return p.w.WriteFileHeader(pcapSnapLen, layers.LinkTypeEthernet)
}

func (p *Pcap) packet(m *Message) error {
	src, dst := m.Local, m.Remote
	p.eth.SrcMAC, p.eth.DstMAC = macNAP, macPeer
	if !m.Sent {
		src, dst = dst, src
		p.eth.SrcMAC, p.eth.DstMAC = macPeer, macNAP
	}
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	if sa.Is4() != da.Is4() {
		return fmt.Errorf("pcap: %s and %s are not of one family", src, dst)
	}
	ls := append(p.ls[:0], &p.eth)
	var nl gopacket.NetworkLayer
	var proto layers.IPProtocol
	if m.Transport != "udp" { // tls, ws, wss: their SIP messages, decrypted and unframed, as TCP
		proto = layers.IPProtocolTCP
	} else {
		proto = layers.IPProtocolUDP
	}
	if sa.Is4() {
		p.eth.EthernetType = layers.EthernetTypeIPv4
		p.ip4 = layers.IPv4{Version: 4, TTL: 64, Protocol: proto, Flags: layers.IPv4DontFragment,
			SrcIP: p.ip(p.src[:], sa), DstIP: p.ip(p.dst[:], da)}
		ls, nl = append(ls, &p.ip4), &p.ip4
	} else {
		p.eth.EthernetType = layers.EthernetTypeIPv6
		p.ip6 = layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto,
			SrcIP: p.ip(p.src[:], sa), DstIP: p.ip(p.dst[:], da)}
		ls, nl = append(ls, &p.ip6), &p.ip6
	}
	if proto == layers.IPProtocolUDP {
		// A real datagram holds no more; the engine's cannot either.
		data := m.Data[:min(len(m.Data), maxIPPayload-8)]
		p.udp = layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
		if err := p.udp.SetNetworkLayerForChecksum(nl); err != nil {
			return err
		}
		return p.write(m, append(ls, &p.udp), data)
	}
	k := connKey{m.Local, m.Remote}
	s := p.streams[k]
	if s == nil {
		s = &tcpSeq{nap: 1, peer: 1}
		p.streams[k] = s
	}
	ls = append(ls, &p.tcp)
	for data := m.Data; len(data) > 0; {
		n := min(len(data), maxIPPayload-20)
		p.tcp = layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
			ACK: true, PSH: true, Window: 65535}
		if m.Sent {
			p.tcp.Seq, p.tcp.Ack = s.nap, s.peer
			s.nap += uint32(n)
		} else {
			p.tcp.Seq, p.tcp.Ack = s.peer, s.nap
			s.peer += uint32(n)
		}
		if err := p.tcp.SetNetworkLayerForChecksum(nl); err != nil {
			return err
		}
		if err := p.write(m, ls, data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// ip copies a into b (no allocation per packet) and returns its bytes.
func (p *Pcap) ip(b []byte, a netip.Addr) []byte {
	if a.Is4() {
		v := a.As4()
		return b[:copy(b, v[:])]
	}
	v := a.As16()
	return b[:copy(b, v[:])]
}

// write serialises the layers ls with data as payload into one packet.
func (p *Pcap) write(m *Message, ls []gopacket.SerializableLayer, data []byte) error {
	p.payload = data
	p.ls = append(ls, &p.payload)
	err := gopacket.SerializeLayers(p.buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, p.ls...)
	p.payload = nil
	if err != nil {
		return err
	}
	b := p.buf.Bytes()
	return p.w.WritePacket(gopacket.CaptureInfo{Timestamp: m.At, CaptureLength: len(b), Length: len(b)}, b)
}

// Close flushes and closes the file (nothing when no message came), and
// returns the first error met writing it.
func (p *Pcap) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	err := p.err
	if p.f != nil {
		ferr := p.bw.Flush()
		if cerr := p.f.Close(); ferr == nil {
			ferr = cerr
		}
		if err == nil {
			err = ferr
		}
		p.f = nil
	}
	if err == os.ErrClosed {
		return nil
	}
	if err == nil {
		p.err = os.ErrClosed // a late message is dropped
		return nil
	}
	p.err = os.ErrClosed
	return fmt.Errorf("pcap %s: %w", p.path, err)
}
