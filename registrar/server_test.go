package registrar

import (
	"bufio"
	"net"
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
