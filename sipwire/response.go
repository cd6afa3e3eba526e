package sipwire

import (
	"errors"
	"strconv"
)

// ErrNotAnswerable: a request without the headers a response must copy
// (Via, From, To, Call-ID, CSeq): it cannot be answered (RFC 3261 §8.2.6.2).
var ErrNotAnswerable = errors.New("sipwire: request lacks Via, From, To, Call-ID or CSeq")

// AppendResponseHead writes the start of a response to request m (parsed,
// with ParseAddresses done): the status line, every Via in order, From,
// To (with toTag added when the request's To has no tag), Call-ID and
// CSeq, as RFC 3261 §8.2.6.2 copies them. The caller adds its own header
// lines and ends the message (AppendResponseEnd).
func AppendResponseHead(dst []byte, m *Msg, code int, reason string, toTag []byte) []byte {
	dst = append(dst, "SIP/2.0 "...)
	dst = strconv.AppendInt(dst, int64(code), 10)
	dst = append(dst, ' ')
	dst = append(dst, reason...)
	dst = append(dst, "\r\n"...)
	for i := 0; i < m.NumVia && i < MaxViaHeaders; i++ {
		dst = append(dst, "Via: "...)
		dst = append(dst, m.ViaHeaders[i]...)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "From: "...)
	dst = append(dst, m.FromRaw...)
	dst = append(dst, "\r\nTo: "...)
	dst = append(dst, m.ToRaw...)
	if m.To.Tag == nil && len(toTag) > 0 {
		dst = append(dst, ";tag="...)
		dst = append(dst, toTag...)
	}
	dst = append(dst, "\r\nCall-ID: "...)
	dst = append(dst, m.CallID...)
	dst = append(dst, "\r\nCSeq: "...)
	dst = strconv.AppendUint(dst, uint64(m.CSeq), 10)
	dst = append(dst, ' ')
	dst = append(dst, m.CSeqMethod...)
	return append(dst, "\r\n"...)
}

// FNV-1a's 64-bit offset and prime.
const (
	fnvOffset uint64 = 14695981039346656037
	fnvPrime  uint64 = 1099511628211
)

// TagHash is a number fixed by a request's Call-ID (FNV-1a), and by its
// CSeq too when given, for a response's To tag: a retransmitted request
// gets the tag its original got, without keeping any state.
func TagHash(m *Msg, withCSeq bool) uint64 {
	h := fnvOffset
	for _, c := range m.CallID {
		h = (h ^ uint64(c)) * fnvPrime
	}
	if withCSeq {
		h = (h ^ uint64(m.CSeq)) * fnvPrime
	}
	return h
}

// AppendResponseEnd ends a response without a body.
func AppendResponseEnd(dst []byte) []byte {
	return append(dst, "Content-Length: 0\r\n\r\n"...)
}

// Answerable reports whether request m carries what a response copies.
// ParseAddresses must have succeeded.
func (m *Msg) Answerable() error {
	if !m.IsRequest || m.NumVia == 0 || m.FromRaw == nil || m.ToRaw == nil || m.CallID == nil || m.CSeqMethod == nil {
		return ErrNotAnswerable
	}
	return nil
}
