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

// Tee hands every call to each of sinks; nil sinks are skipped, and Tee
// of none is nil (tracing off).
func Tee(sinks ...Sink) Sink {
	var out tee
	for _, s := range sinks {
		if s != nil {
			out = append(out, s)
		}
	}
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	return out
}

type tee []Sink

func (t tee) Message(m *Message) {
	for _, s := range t {
		s.Message(m)
	}
}

func (t tee) Outcome(o *Outcome) {
	for _, s := range t {
		s.Outcome(o)
	}
}

// Closer is a Sink with something to flush and close at the end of a run.
type Closer interface {
	Sink
	Close() error
}

// Sinks are the sinks s hands its calls to: those of a Tee, or s
// itself (none for nil).
func Sinks(s Sink) []Sink {
	if t, ok := s.(tee); ok {
		return t
	}
	if s == nil {
		return nil
	}
	return []Sink{s}
}

// Close closes each sink of s that is a Closer (s may be a Tee).
func Close(s Sink) error {
	var first error
	for _, x := range Sinks(s) {
		if c, ok := x.(Closer); ok {
			if err := c.Close(); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}
