package engine

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/regstorm/regstorm/registrar"
	"github.com/regstorm/regstorm/sipwire"
)

// splitRegistrar puts the embedded registrar behind a front that takes
// requests on one port and sends every answer from another port, as
// registrars with separate send sockets or clusters behind one address
// do. It returns the address requests go to.
func splitRegistrar(t *testing.T) string {
	t.Helper()
	srv := startRegistrar(t, registrar.Config{}, "udp")
	front, err := net.ListenPacket("udp", "127.0.0.1:0") // requests in
	if err != nil {
		t.Fatal(err)
	}
	back, err := net.ListenPacket("udp", "127.0.0.1:0") // to and from the registrar
	if err != nil {
		t.Fatal(err)
	}
	out, err := net.ListenPacket("udp", "127.0.0.1:0") // answers out, from another port
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { front.Close(); back.Close(); out.Close() })
	reg, _ := net.ResolveUDPAddr("udp", srv.Addr)
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := front.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = back.WriteTo(buf[:n], reg)
		}
	}()
	go func() {
		buf := make([]byte, 65536)
		var m sipwire.Msg
		for {
			n, _, err := back.ReadFrom(buf)
			if err != nil {
				return
			}
			// The Via sent-by names the NAP's socket.
			if m.Parse(buf[:n]) != nil {
				continue
			}
			to, err := net.ResolveUDPAddr("udp", net.JoinHostPort(string(m.Via.Host), strconv.Itoa(m.Via.Port)))
			if err == nil {
				_, _ = out.WriteTo(buf[:n], to)
			}
		}
	}()
	return front.LocalAddr().String()
}

// A registrar answering from another port than the one it was sent to:
// the answers are taken (matched by branch and CSeq, RFC 3261 §17.1.3),
// with no retransmission and no timeout. With connected sockets the
// kernel dropped every one of them.
func TestUDPAnswerFromAnotherPort(t *testing.T) {
	t.Parallel() // real sockets of its own: no state shared with another test
	for _, perNAP := range []bool{false, true} {
		t.Run("per-nap="+strconv.FormatBool(perNAP), func(t *testing.T) {
			t.Parallel()
			o := baseOptions(splitRegistrar(t), 200)
			o.PerNAP = perNAP
			o.Duration, o.Drain = 700*time.Millisecond, time.Second
			// Paced, and at most 20 un-REGISTERs in flight: the front's
			// socket buffer would drop a burst of 200 and hide what this
			// test is about behind retransmissions.
			o.Rate, o.Window = 1000, 20
			res, err := Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			checkCycle(t, res, 200)
			if s := res.Summary; s.Retransmissions != 0 {
				t.Errorf("retransmissions %d: answers from another port were lost", s.Retransmissions)
			}
			checkSums(t, res)
		})
	}
}
