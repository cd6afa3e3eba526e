package sipwire

import (
	"bytes"
	"testing"
)

func seedCorpus(f *testing.F) {
	for _, b := range [][]byte{ok200, challenge401, register, compactFolded} {
		f.Add(b)
	}
	for _, b := range tortureValid {
		f.Add(b)
	}
	for _, b := range tortureInvalid {
		f.Add(b)
	}
}

// FuzzParse: no input may panic, and a message that parses must keep its
// views inside the input and honour the documented bounds.
func FuzzParse(f *testing.F) {
	seedCorpus(f)
	var m Msg
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := m.Parse(b); err != nil {
			return
		}
		if m.NumHeaders > MaxHeaders || m.NumContacts > MaxContacts || m.NumVia > MaxViaHeaders {
			t.Fatalf("bounds exceeded: %d headers %d contacts %d vias", m.NumHeaders, m.NumContacts, m.NumVia)
		}
		if len(m.Body) > len(b) || (m.ContentLength >= 0 && len(m.Body) != m.ContentLength) {
			t.Fatalf("body %d / cl %d / input %d", len(m.Body), m.ContentLength, len(b))
		}
		if !m.IsRequest && (m.StatusCode < 100 || m.StatusCode > 999) {
			t.Fatalf("status %d", m.StatusCode)
		}
		// Helpers on a parsed message must not panic either.
		_ = m.ParseAddresses()
		m.GrantedExpires([]byte("sip:nap000001@127.0.0.1:5070"))
		ParseBranch(m.Via.Branch)
	})
}

// FuzzSplitMessage: framing arbitrary streams never panics, never returns
// a token larger than the cap, and each token is a prefix of what is left.
// The stream is fed whole and, to exercise partial reads, grown in steps.
func FuzzSplitMessage(f *testing.F) {
	seedCorpus(f)
	f.Add(append(append([]byte("\r\n\r\n"), ok200...), challenge401...))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 2*MaxMessageSize {
			b = b[:2*MaxMessageSize] // larger inputs only cost time
		}
		frame := func(stream []byte, atEOF bool) int {
			used := 0
			for used < len(stream) {
				adv, tok, err := SplitMessage(stream[used:], atEOF)
				if err != nil || adv == 0 {
					break
				}
				if len(tok) > MaxMessageSize || adv > len(stream)-used || (tok != nil && !bytes.HasPrefix(stream[used:], tok)) {
					t.Fatalf("advance %d, token %d bytes, %d left", adv, len(tok), len(stream)-used)
				}
				used += adv
			}
			return used
		}
		whole := frame(b, true)
		// The same stream arriving in pieces frames to the same point.
		used := 0
		for end := 0; end < len(b); {
			end = min(len(b), end+1+len(b)/7)
			used += frame(b[used:end], end == len(b))
		}
		if used != whole {
			t.Fatalf("framed %d bytes in pieces, %d at once", used, whole)
		}
	})
}
