package sipwire

import (
	"bufio"
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
		ParseBranchID(m.Via.Branch)
	})
}

// FuzzSplitMessage: framing arbitrary streams never panics, never returns
// a token larger than the cap, and each token is a prefix of the input.
func FuzzSplitMessage(f *testing.F) {
	seedCorpus(f)
	f.Add(append(append([]byte("\r\n\r\n"), ok200...), challenge401...))
	f.Fuzz(func(t *testing.T, b []byte) {
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 0, 4096), 2*MaxMessageSize)
		sc.Split(SplitMessage)
		total := 0
		for sc.Scan() {
			tok := sc.Bytes()
			if len(tok) > MaxMessageSize {
				t.Fatalf("token of %d bytes", len(tok))
			}
			total += len(tok)
		}
		if total > len(b) {
			t.Fatalf("tokens %d > input %d", total, len(b))
		}
	})
}
