package netio

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/regstorm/regstorm/sipwire"
)

// Every Conn answers every method of the contract: what its transport
// cannot do it says with an error or a zero.
func TestConnContractOnEveryTransport(t *testing.T) {
	ln := tcpListener(t, nil)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	l, err := Start(sink{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()

	tcp, err := l.Dial(sipwire.TCP, netip.AddrPort{}, ln.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tcp.SendTo([]byte("x"), netip.MustParseAddrPort("127.0.0.1:9")); !errors.Is(err, ErrNotDatagram) {
		t.Errorf("SendTo on TCP: %v, want ErrNotDatagram", err)
	}
	if b := tcp.NewBatch(); b != nil {
		t.Errorf("NewBatch on TCP: %v, want nil", b)
	}
	if n := tcp.Drops(); n != 0 {
		t.Errorf("Drops on TCP: %d", n)
	}
	if hs := tcp.Handshake(); hs != (Handshake{}) {
		t.Errorf("Handshake on TCP: %+v, want zero", hs)
	}
	if err := tcp.Ping(); err != nil {
		t.Errorf("Ping on TCP: %v", err)
	}

	udp, err := l.Dial(sipwire.UDP, netip.AddrPort{}, pc.LocalAddr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := udp.Ping(); !errors.Is(err, ErrNotStream) {
		t.Errorf("Ping on UDP: %v, want ErrNotStream", err)
	}
	if b := udp.NewBatch(); b == nil {
		t.Error("NewBatch on UDP: nil")
	}
	if hs := udp.Handshake(); hs != (Handshake{}) {
		t.Errorf("Handshake on UDP: %+v, want zero", hs)
	}
	if _, err := l.Dial(sipwire.Transport(99), netip.AddrPort{}, pc.LocalAddr().String(), nil); err == nil {
		t.Error("Dial of an unknown transport succeeded")
	}
}
