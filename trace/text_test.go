package trace

import (
	"bytes"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

// memText is a Text sink writing to a buffer; opened tells whether the
// "file" was created.
func memText(o TextOptions) (*Text, *bytes.Buffer, *bool) {
	var buf bytes.Buffer
	opened := new(bool)
	if o.Location == nil {
		o.Location = time.UTC
	}
	t := NewTextTo("mem", func() (io.WriteCloser, error) { *opened = true; return nopCloser{&buf}, nil }, o)
	return t, &buf, opened
}

var (
	at     = time.Date(2026, 11, 30, 10, 0, 0, 123456000, time.UTC)
	local  = netip.MustParseAddrPort("127.0.0.1:40000")
	remote = netip.MustParseAddrPort("127.0.0.1:5060")
)

func msg(sent bool, group string, nap int64, data string) *Message {
	return &Message{At: at, Sent: sent, Transport: "udp", Local: local, Remote: remote, Group: group, NAP: nap, Data: []byte(data)}
}

const register = "REGISTER sip:example.com SIP/2.0\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
const ok200 = "SIP/2.0 200 OK\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"

// The blocks are SIPp's -trace_msg, with the addresses and the NAP after
// the time on the separator line.
func TestTraceTextLayout(t *testing.T) {
	tx, buf, _ := memText(TextOptions{})
	tx.Message(msg(true, "default", 42, register))
	tx.Message(msg(false, "default", 42, ok200))
	tx.Message(msg(false, "default", -1, "garbage"))
	tx.Outcome(&Outcome{Group: "default", NAP: -1, What: "malformed"})
	tx.Outcome(&Outcome{Group: "default", NAP: 42, OK: true, What: "200"})
	if err := tx.Close(); err != nil {
		t.Fatal(err)
	}
	want := "----------------------------------------------- 2026-11-30 10:00:00.123456 127.0.0.1:40000 -> 127.0.0.1:5060 nap default:42\n" +
		"UDP message sent (" + itoa(len(register)) + " bytes):\n\n" + register + "\n" +
		"----------------------------------------------- 2026-11-30 10:00:00.123456 127.0.0.1:40000 <- 127.0.0.1:5060 nap default:42\n" +
		"UDP message received [" + itoa(len(ok200)) + "] bytes :\n\n" + ok200 + "\n" +
		"----------------------------------------------- 2026-11-30 10:00:00.123456 127.0.0.1:40000 <- 127.0.0.1:5060 nap default:-\n" +
		"UDP message received [7] bytes :\n\ngarbage\n"
	got := buf.String()
	if !strings.HasPrefix(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	rest := got[len(want):]
	if !strings.HasPrefix(rest, "----------------------------------------------- ") ||
		!strings.HasSuffix(rest, "\nregstorm: nap default:-: transaction ended: malformed\n\n") || strings.Count(rest, "\n") != 3 {
		t.Errorf("the malformed message's note: %q", rest)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// Nothing written, nothing created.
func TestTraceTextCreatesNothingUntilAMessage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.log")
	tx := NewText(path, TextOptions{})
	tx.Outcome(&Outcome{Group: "g", NAP: 1, OK: true, What: "200"})
	if err := tx.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("file created for nothing: %v", err)
	}
	tx = NewText(path, TextOptions{})
	tx.Message(msg(true, "g", 1, register))
	tx.Close()
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "UDP message sent") {
		t.Errorf("file %q", b)
	}
}

// The cap: one final note in the file, one line on stderr, then nothing.
func TestTraceTextCap(t *testing.T) {
	var errb bytes.Buffer
	tx, buf, _ := memText(TextOptions{Max: 1000, Stderr: &errb})
	for i := 0; i < 50; i++ {
		tx.Message(msg(true, "g", int64(i), register))
		tx.Outcome(&Outcome{Group: "g", NAP: int64(i), What: "timeout"})
	}
	tx.Close()
	out := buf.String()
	if strings.Count(out, "--trace-max 1000 bytes reached") != 1 || !strings.HasSuffix(out, "nothing more is written to mem\n\n") {
		t.Errorf("no final note: %q", out)
	}
	if n := len(out) - strings.LastIndex(out, separator); len(out)-n > 1000 {
		t.Errorf("%d bytes before the note, cap 1000", len(out)-n)
	}
	if strings.Count(errb.String(), "\n") != 1 || !strings.Contains(errb.String(), "--trace-max 1000 bytes reached") {
		t.Errorf("stderr %q", errb.String())
	}
}

// --trace-errors: a failed transaction with every message it had, a
// successful one not at all.
func TestTraceTextErrorsOnly(t *testing.T) {
	tx, buf, opened := memText(TextOptions{ErrorsOnly: true})
	tx.Message(msg(true, "g", 1, register))
	tx.Message(msg(false, "g", 1, ok200))
	tx.Outcome(&Outcome{Group: "g", NAP: 1, OK: true, What: "200"})
	if *opened {
		t.Fatal("a successful transaction written")
	}
	for i := 0; i < 3; i++ {
		tx.Message(msg(true, "g", 2, register)) // retransmissions
	}
	tx.Message(msg(true, "h", 2, register)) // another group's NAP 2: not its transaction
	tx.Outcome(&Outcome{Group: "g", NAP: 2, What: "timeout"})
	tx.Outcome(&Outcome{Group: "h", NAP: 2, OK: true, What: "200"})
	tx.Message(msg(true, "g", 3, register)) // never ended: written at Close
	tx.Close()
	out := buf.String()
	if n := strings.Count(out, "message sent"); n != 4 || strings.Contains(out, "received") {
		t.Errorf("%d sent:\n%s", n, out)
	}
	if !strings.Contains(out, "regstorm: nap g:2: transaction ended: timeout") ||
		!strings.Contains(out, "regstorm: nap g:3: transaction not ended when the run did") || strings.Contains(out, "h:2") {
		t.Errorf("notes:\n%s", out)
	}
	if strings.Index(out, "nap g:2\n") > strings.Index(out, "g:2: transaction ended") {
		t.Errorf("the note before the messages:\n%s", out)
	}
}

// --trace-errors bounds what it holds: past it, messages are counted,
// not kept, and the note says so.
func TestTraceTextErrorsOnlyBounded(t *testing.T) {
	block := len(appendMessage(nil, msg(true, "g", 1, register), time.UTC))
	tx, buf, _ := memText(TextOptions{ErrorsOnly: true, PerNAP: 3 * block, Held: int64(4 * block)})
	for i := 0; i < 5; i++ {
		tx.Message(msg(true, "g", 1, register)) // 3 held, 2 past the bound per NAP
	}
	for i := 0; i < 5; i++ {
		tx.Message(msg(true, "g", 2, register)) // 1 held, 4 past the bound in all
	}
	if tx.total != int64(4*block) {
		t.Errorf("held %d bytes, bound %d", tx.total, 4*block)
	}
	tx.Outcome(&Outcome{Group: "g", NAP: 1, What: "timeout"})
	tx.Outcome(&Outcome{Group: "g", NAP: 2, OK: true, What: "200"})
	if tx.total != 0 || len(tx.held) != 0 {
		t.Errorf("still held: %d bytes, %d NAPs", tx.total, len(tx.held))
	}
	tx.Close()
	out := buf.String()
	if strings.Count(out, "message sent") != 3 || !strings.Contains(out, "timeout (2 of its messages not kept") {
		t.Errorf("%s", out)
	}
}

// --trace-naps keeps the NAPs listed, and no message without a NAP.
func TestTraceTextSelection(t *testing.T) {
	sel, err := ParseSelection("0-1,core:7")
	if err != nil {
		t.Fatal(err)
	}
	tx, buf, _ := memText(TextOptions{NAPs: sel})
	for _, g := range []string{"edge", "core"} {
		for i := int64(-1); i < 10; i++ {
			tx.Message(msg(true, g, i, register))
		}
	}
	tx.Close()
	var got []string
	for _, line := range strings.Split(buf.String(), "\n") {
		if i := strings.Index(line, " nap "); strings.HasPrefix(line, separator) && i > 0 {
			got = append(got, line[i+5:])
		}
	}
	if strings.Join(got, " ") != "edge:0 edge:1 core:0 core:1 core:7" {
		t.Errorf("traced %v", got)
	}
}

func TestTraceParseSelection(t *testing.T) {
	good := map[string][][3]any{
		"0-9,42":        {{"", int64(0), int64(9)}, {"", int64(42), int64(42)}},
		"edge:3":        {{"edge", int64(3), int64(3)}},
		" a:1-2 , 5 ":   {{"a", int64(1), int64(2)}, {"", int64(5), int64(5)}},
		"x:y:0-0":       {{"x:y", int64(0), int64(0)}},
		"1000000-10000": nil,
	}
	for s, want := range good {
		sel, err := ParseSelection(s)
		if want == nil {
			if err == nil {
				t.Errorf("%q accepted", s)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", s, err)
			continue
		}
		for i, w := range want {
			r := sel.ranges[i]
			if r.group != w[0] || r.lo != w[1] || r.hi != w[2] {
				t.Errorf("%q: item %d is %+v", s, i, r)
			}
		}
	}
	for _, bad := range []string{"", ",", "1,", "a", "-1", "1-", "-", ":3", "g:", "3-1", "+4", "1.5", "0x10"} {
		if _, err := ParseSelection(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// The cost of one traced message (400 bytes) written to a file.
func BenchmarkTextMessage(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "t.log"))
	if err != nil {
		b.Fatal(err)
	}
	tx := NewTextTo("bench", func() (io.WriteCloser, error) { return f, nil }, TextOptions{})
	m := msg(true, "default", 4242, strings.Repeat("x", 400))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Sent = i&1 == 0
		tx.Message(m)
	}
	b.StopTimer()
	tx.Close()
}
