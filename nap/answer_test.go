package nap

import (
	"bytes"
	"testing"

	"github.com/regstorm/regstorm/sipwire"
)

const optionsPing = "OPTIONS sip:nap000001@127.0.0.1:40001 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-ping-1\r\n" +
	"From: <sip:pinger@127.0.0.1>;tag=p1\r\nTo: <sip:nap000001@127.0.0.1:40001>\r\n" +
	"Call-ID: ping-1\r\nCSeq: 7 OPTIONS\r\nContent-Length: 0\r\n\r\n"

// The answer to an OPTIONS ping is a 200 with Allow and Accept, its To
// tag the same for a retransmission, and answering allocates nothing.
func TestAnswerOptions(t *testing.T) {
	var m sipwire.Msg
	if err := m.Parse([]byte(optionsPing)); err != nil || m.ParseAddresses() != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 1024)
	out, ok, err := AppendAnswer(buf, &m, []byte("regstorm"))
	if !ok || err != nil {
		t.Fatalf("ok %v, err %v", ok, err)
	}
	want := "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-ping-1\r\n" +
		"From: <sip:pinger@127.0.0.1>;tag=p1\r\nTo: <sip:nap000001@127.0.0.1:40001>;tag="
	if !bytes.HasPrefix(out, []byte(want)) || !bytes.HasSuffix(out, []byte("\r\nCall-ID: ping-1\r\nCSeq: 7 OPTIONS\r\n"+
		"Allow: OPTIONS\r\nAccept: application/sdp\r\nServer: regstorm\r\nContent-Length: 0\r\n\r\n")) {
		t.Fatalf("answer:\n%s", out)
	}
	again, _, _ := AppendAnswer(nil, &m, []byte("regstorm"))
	if !bytes.Equal(out, again) {
		t.Errorf("a retransmitted ping got another answer:\n%s\n%s", out, again)
	}
	if n := testing.AllocsPerRun(100, func() { out, _, _ = AppendAnswer(buf[:0], &m, []byte("regstorm")) }); n != 0 {
		t.Errorf("%v allocs per answer", n)
	}
}
