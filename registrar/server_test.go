package registrar

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/regstorm/regstorm/sipwire"
)

func reqBytes(user string, cseq uint32, tr sipwire.Transport) []byte {
	return sipwire.AppendRegister(nil, &sipwire.Register{
		Transport: tr, LocalHost: []byte("127.0.0.1"), LocalPort: 5070, Branch: uint64(cseq),
		User: []byte(user), Domain: []byte("example.com"), FromTag: []byte("f"),
		CallID: []byte("c-" + user), CSeq: cseq, Expires: 300,
	})
}

func TestServerUDPAndTCP(t *testing.T) {
	s, err := Listen(New(Config{}), "127.0.0.1", 0, []string{"udp", "tcp"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	u, err := net.Dial("udp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	_ = u.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := u.Write(reqBytes("nap000001", 1, sipwire.UDP)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	n, err := u.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	var m sipwire.Msg
	if err := m.Parse(buf[:n]); err != nil || m.StatusCode != 200 || m.Contacts[0].Expires != 300 {
		t.Fatalf("UDP: %v %d\n%s", err, m.StatusCode, buf[:n])
	}

	c, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	// Two requests in one write, and a third split in two writes.
	two := append(reqBytes("nap000002", 1, sipwire.TCP), reqBytes("nap000003", 1, sipwire.TCP)...)
	third := reqBytes("nap000004", 1, sipwire.TCP)
	if _, err := c.Write(append(two, third[:40]...)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if _, err := c.Write(third[40:]); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(c)
	sc.Split(sipwire.SplitMessage)
	for i := 0; i < 3; i++ {
		if !sc.Scan() {
			t.Fatalf("TCP response %d: %v", i, sc.Err())
		}
		if err := m.Parse(sc.Bytes()); err != nil || m.StatusCode != 200 {
			t.Fatalf("TCP response %d: %v %d", i, err, m.StatusCode)
		}
	}
	if n, aors := s.Reg.Loc.Count(time.Now()); n != 4 || aors != 4 {
		t.Errorf("%d bindings for %d AORs, want 4/4", n, aors)
	}
}

// A second registrar on a port one already holds is refused, for UDP and
// for TCP: the first one's SO_REUSEPORT sockets would otherwise let the
// kernel split the requests between the two. Config.ReusePort shares the
// port on purpose.
func TestListenRefusesAPortAlreadyHeld(t *testing.T) {
	first, err := Listen(New(Config{}), "127.0.0.1", 0, []string{"udp", "tcp"})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	_, portS, _ := net.SplitHostPort(first.Addr)
	port, _ := strconv.Atoi(portS)
	for _, tr := range []string{"udp", "tcp"} {
		second, err := Listen(New(Config{}), "127.0.0.1", port, []string{tr})
		if err == nil {
			second.Close()
			t.Errorf("%s: a second registrar listened on %s too", tr, first.Addr)
			continue
		}
		if !errors.Is(err, ErrPortInUse) {
			t.Errorf("%s: %v, want ErrPortInUse", tr, err)
		}
		shared, err := Listen(New(Config{ReusePort: true}), "127.0.0.1", port, []string{tr})
		if err != nil {
			t.Errorf("%s with ReusePort: %v", tr, err)
			continue
		}
		shared.Close()
	}
}

// The port check must not refuse a restart on the port just left: the
// closed TCP connections of the first registrar sit in TIME-WAIT on it.
func TestListenAgainAfterTCPConnectionsClosed(t *testing.T) {
	first, err := Listen(New(Config{}), "127.0.0.1", 0, []string{"udp", "tcp"})
	if err != nil {
		t.Fatal(err)
	}
	_, portS, _ := net.SplitHostPort(first.Addr)
	port, _ := strconv.Atoi(portS)
	c, err := net.Dial("tcp", first.Addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(reqBytes("nap000001", 1, sipwire.TCP)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	first.Close()                 // the registrar closes first: its side goes to TIME-WAIT
	_, _ = io.Copy(io.Discard, c) // until its FIN
	c.Close()
	again, err := Listen(New(Config{}), "127.0.0.1", port, []string{"udp", "tcp"})
	if err != nil {
		t.Fatalf("restart on port %d: %v", port, err)
	}
	again.Close()
}

// With CloseAfterAnswer, a TCP client gets its answer and then EOF, for
// answers sent at once and for delayed ones.
func TestCloseAfterAnswerTCP(t *testing.T) {
	for _, delay := range []time.Duration{0, 20 * time.Millisecond} {
		s, err := Listen(New(Config{CloseAfterAnswer: true, Delay: delay}), "127.0.0.1", 0, []string{"tcp"})
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write(reqBytes("nap000001", 1, sipwire.TCP)); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(c)
		sc.Split(sipwire.SplitMessage)
		var m sipwire.Msg
		if !sc.Scan() {
			t.Fatalf("delay %v: no answer: %v", delay, sc.Err())
		}
		if err := m.Parse(sc.Bytes()); err != nil || m.StatusCode != 200 {
			t.Fatalf("delay %v: %v %d", delay, err, m.StatusCode)
		}
		if sc.Scan() || sc.Err() != nil {
			t.Errorf("delay %v: after the answer: %q, %v; want EOF", delay, sc.Bytes(), sc.Err())
		}
		c.Close()
		s.Close()
	}
}

// A port Listen picked itself and found taken when it checked (another
// socket bound it in between) is picked again, not refused.
func TestPickedPortTakenIsPickedAgain(t *testing.T) {
	held, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	taken := held.LocalAddr().(*net.UDPAddr).Port
	calls := 0
	pickPort = func(host string, tr []string) (int, error) {
		calls++
		if calls == 1 {
			return taken, nil
		}
		return freePort(host, tr)
	}
	defer func() { pickPort = freePort }()
	srv, err := Listen(New(Config{}), "127.0.0.1", 0, []string{"udp"})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	defer srv.Close()
	if calls != 2 || srv.Addr == held.LocalAddr().String() {
		t.Errorf("%d picks, listening on %s (the taken port is %d)", calls, srv.Addr, taken)
	}
}
