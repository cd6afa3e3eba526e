// Package trace is what regstorm records of the wire when asked to: every
// SIP message a NAP sends or receives (--trace, SIPp -trace_msg style;
// --pcap, a capture), and how each transaction ended, so that only the
// failed ones can be kept (--trace-errors). The engine hands each message
// to a Sink when one is set; with none, nothing is done and nothing is
// allocated.
package trace

import (
	"net/netip"
	"time"
)

// Message is one SIP message on the wire, as a NAP's socket saw it.
type Message struct {
	At        time.Time
	Sent      bool   // sent by the NAP (else received)
	Transport string // "udp", "tcp"
	Local     netip.AddrPort
	Remote    netip.AddrPort
	Group     string
	// NAP is the NAP's index in its group; -1 when a received message
	// names no NAP of ours (malformed, or a branch that is not ours).
	NAP int64
	// Data is the message as on the wire; valid only during the call.
	// Credentials are a digest, never a password.
	Data []byte
}

// Outcome is how a NAP's transaction ended.
type Outcome struct {
	Group string
	NAP   int64
	OK    bool   // a 2xx (or a challenge answered): nothing went wrong
	What  string // "200", "403", "timeout", "connect-failed", "abandoned" …
}

// Sink takes the messages and outcomes of a run. Calls come from the
// engine's goroutines (one lane at a time each, several lanes at once):
// a Sink serialises what it must.
type Sink interface {
	Message(m *Message)
	Outcome(o *Outcome)
}
