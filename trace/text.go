package trace

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
)

// The layout of SIPp's -trace_msg file, block by block:
//
//	----------------------------------------------- 2026-11-30 10:00:00.123456
//	UDP message sent (431 bytes):
//
//	REGISTER sip:… (the message as on the wire)
//
// and "UDP message received [431] bytes :" for a received one. regstorm
// adds what SIPp leaves out after the time on the separator line, where
// a script splitting blocks on the dashes or reading the time as the
// line's 2nd and 3rd fields still finds what it expects:
//
//	----------------------------------------------- 2026-11-30 10:00:00.123456 127.0.0.1:40000 -> 127.0.0.1:5060 nap default:42
//
// (local address first; "->" sent, "<-" received; "nap GROUP:-" for a
// received message that names no NAP). regstorm's own notes (how a
// transaction ended, the size cap) are blocks of their own whose second
// line starts with "regstorm:", never "message sent" or "message
// received".
const separator = "-----------------------------------------------"

// TextOptions are a Text sink's choices.
type TextOptions struct {
	// Max bounds the file's size in bytes (0: no bound). Reaching it
	// writes one final note in the file and one line to Stderr, then
	// nothing more.
	Max int64
	// NAPs, when set, keeps only the messages of these NAPs (a message
	// that names no NAP is then not kept).
	NAPs *Selection
	// ErrorsOnly keeps only the transactions that ended badly, with all
	// their messages (each NAP's are held until its transaction ends).
	ErrorsOnly bool
	// PerNAP and Held bound what ErrorsOnly holds: per NAP, and in all
	// (defaults 64 KiB and 64 MiB). A message past a bound is not held;
	// the transaction's note says how many were left out.
	PerNAP int
	Held   int64
	// Location of the times written (default: local time, as SIPp).
	Location *time.Location
	// Stderr gets the one line saying the cap was reached (and a file
	// that could not be created).
	Stderr io.Writer
}

// Text is a Sink writing SIPp's -trace_msg layout. Its file is created
// by open at the first block written: a run that traces nothing leaves
// none.
type Text struct {
	mu      sync.Mutex
	o       TextOptions
	name    string
	open    func() (io.WriteCloser, error)
	f       io.WriteCloser
	w       *bufio.Writer
	err     error // the file could not be created or written: nothing more
	size    int64
	full    bool
	held    map[napKey]*pending
	total   int64 // bytes held, all NAPs
	spare   [][]byte
	scratch []byte
}

type napKey struct {
	group string
	nap   int64
}

// pending is one NAP's messages since its last outcome (ErrorsOnly).
type pending struct {
	blocks  []byte
	dropped int
}

// NewText returns a Text sink writing to the file at path, created at
// the first block.
func NewText(path string, o TextOptions) *Text {
	return NewTextTo(path, func() (io.WriteCloser, error) { return os.Create(path) }, o)
}

// NewTextTo is NewText with the file's opening given; name is what
// messages call it.
func NewTextTo(name string, open func() (io.WriteCloser, error), o TextOptions) *Text {
	if o.PerNAP <= 0 {
		o.PerNAP = 64 << 10
	}
	if o.Held <= 0 {
		o.Held = 64 << 20
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	return &Text{o: o, name: name, open: open}
}

// SetStderr sets where the cap's line goes (the command's stderr, known
// after the sink is made).
func (t *Text) SetStderr(w io.Writer) {
	t.mu.Lock()
	t.o.Stderr = w
	t.mu.Unlock()
}

// Message writes (or, with ErrorsOnly, holds) one message.
func (t *Text) Message(m *Message) {
	if t.o.NAPs != nil && !t.o.NAPs.Has(m.Group, m.NAP) {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.full || t.err != nil {
		return
	}
	t.scratch = appendMessage(t.scratch[:0], m, t.o.Location)
	if !t.o.ErrorsOnly {
		t.write(t.scratch)
		return
	}
	k := napKey{m.Group, m.NAP}
	p := t.held[k]
	if p == nil {
		if t.held == nil {
			t.held = map[napKey]*pending{}
		}
		p = &pending{}
		if n := len(t.spare); n > 0 {
			p.blocks, t.spare = t.spare[n-1], t.spare[:n-1]
		}
		t.held[k] = p
	}
	if len(p.blocks)+len(t.scratch) > t.o.PerNAP || t.total+int64(len(t.scratch)) > t.o.Held {
		p.dropped++
		return
	}
	p.blocks = append(p.blocks, t.scratch...)
	t.total += int64(len(t.scratch))
}

// Outcome ends a NAP's transaction: a failure is noted (with ErrorsOnly,
// after the messages held for it); a success drops what was held.
func (t *Text) Outcome(o *Outcome) {
	if t.o.NAPs != nil && !t.o.NAPs.Has(o.Group, o.NAP) {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.full || t.err != nil {
		return
	}
	k := napKey{o.Group, o.NAP}
	p := t.held[k]
	if p != nil {
		delete(t.held, k)
		t.total -= int64(len(p.blocks))
	}
	if !o.OK {
		if p != nil {
			t.write(p.blocks)
		}
		what := "transaction ended: " + o.What
		if p != nil && p.dropped > 0 {
			what += fmt.Sprintf(" (%d of its messages not kept: --trace-errors holds at most %d bytes per NAP and %d in all)",
				p.dropped, t.o.PerNAP, t.o.Held)
		}
		t.note(time.Now(), o.Group, o.NAP, what)
	}
	if p != nil && cap(p.blocks) <= 16<<10 && len(t.spare) < 1024 {
		t.spare = append(t.spare, p.blocks[:0])
	}
}

// Close writes what ErrorsOnly still holds (transactions the run ended
// before they did), flushes and closes the file.
func (t *Text) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, p := range t.held {
		if len(p.blocks) > 0 && !t.full && t.err == nil {
			t.write(p.blocks)
			t.note(time.Now(), k.group, k.nap, "transaction not ended when the run did")
		}
	}
	t.held, t.total = nil, 0
	if t.f == nil {
		return t.err
	}
	err := t.w.Flush()
	if cerr := t.f.Close(); err == nil {
		err = cerr
	}
	t.f = nil
	if t.err != nil {
		return t.err
	}
	return err
}

// note writes one of regstorm's notes, as a block of its own.
func (t *Text) note(at time.Time, group string, nap int64, what string) {
	b := appendHeader(t.scratch[:0], at, t.o.Location)
	b = append(b, "\nregstorm: nap "...)
	b = appendNAP(b, group, nap)
	b = append(b, ": "...)
	b = append(b, what...)
	b = append(b, "\n\n"...)
	t.scratch = b
	t.write(b)
}

// write appends blocks to the file, creating it first, up to the cap.
func (t *Text) write(b []byte) {
	if t.full || t.err != nil {
		return
	}
	if t.f == nil {
		f, err := t.open()
		if err != nil {
			t.err = err
			t.warn(fmt.Sprintf("regstorm: --trace %s: %v; nothing traced\n", t.name, err))
			return
		}
		t.f, t.w = f, bufio.NewWriterSize(f, 256<<10)
	}
	if t.o.Max > 0 && t.size+int64(len(b)) > t.o.Max {
		t.full = true
		msg := fmt.Sprintf("--trace-max %d bytes reached: nothing more is written to %s", t.o.Max, t.name)
		fin := appendHeader(nil, time.Now(), t.o.Location)
		fin = append(fin, "\nregstorm: "...)
		fin = append(fin, msg...)
		fin = append(fin, "\n\n"...)
		t.w.Write(fin)
		t.warn("regstorm: " + msg + "\n")
		return
	}
	if _, err := t.w.Write(b); err != nil {
		t.err = err
		t.warn(fmt.Sprintf("regstorm: --trace %s: %v; tracing stopped\n", t.name, err))
		return
	}
	t.size += int64(len(b))
}

func (t *Text) warn(s string) {
	if t.o.Stderr != nil {
		io.WriteString(t.o.Stderr, s)
	}
}

// appendMessage appends m's block.
func appendMessage(b []byte, m *Message, loc *time.Location) []byte {
	b = appendHeader(b, m.At, loc)
	b = append(b, ' ')
	b = m.Local.AppendTo(b)
	if m.Sent {
		b = append(b, " -> "...)
	} else {
		b = append(b, " <- "...)
	}
	b = m.Remote.AppendTo(b)
	b = append(b, " nap "...)
	b = appendNAP(b, m.Group, m.NAP)
	b = append(b, '\n')
	b = appendUpper(b, m.Transport)
	if m.Sent {
		b = append(b, " message sent ("...)
		b = strconv.AppendInt(b, int64(len(m.Data)), 10)
		b = append(b, " bytes):\n\n"...)
	} else {
		b = append(b, " message received ["...)
		b = strconv.AppendInt(b, int64(len(m.Data)), 10)
		b = append(b, "] bytes :\n\n"...)
	}
	b = append(b, m.Data...)
	return append(b, '\n')
}

// appendHeader appends the separator and the time, as SIPp writes them.
func appendHeader(b []byte, at time.Time, loc *time.Location) []byte {
	b = append(b, separator...)
	b = append(b, ' ')
	return at.In(loc).AppendFormat(b, "2006-01-02 15:04:05.000000")
}

func appendNAP(b []byte, group string, nap int64) []byte {
	b = append(b, group...)
	b = append(b, ':')
	if nap < 0 {
		return append(b, '-')
	}
	return strconv.AppendInt(b, nap, 10)
}

func appendUpper(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}
