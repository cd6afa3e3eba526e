package sipwire

import (
	"bytes"
	"errors"
)

// Framing errors for stream transports.
var (
	ErrNoContentLength = errors.New("sipwire: message on a stream without Content-Length")
	ErrFrameTooLarge   = errors.New("sipwire: stream message larger than 64 KiB")
)

// SplitMessage is a bufio.SplitFunc that cuts a SIP byte stream (TCP) into
// whole messages by Content-Length (RFC 3261 §18.3). It skips CRLF
// keep-alives (RFC 5626 §4.4.1) between messages, asks for more data on a
// partial message, and fails on a message without Content-Length or one
// that would exceed MaxMessageSize: both leave the stream unsynchronised,
// so the connection must be closed.
func SplitMessage(data []byte, atEOF bool) (advance int, token []byte, err error) {
	skip := 0
	for skip < len(data) && (data[skip] == '\r' || data[skip] == '\n') {
		skip++
	}
	if skip > 0 {
		return skip, nil, nil
	}
	headEnd, bodyLen, err := frameHead(data)
	if err != nil {
		return 0, nil, err
	}
	if headEnd < 0 {
		if atEOF && len(data) > 0 {
			return 0, nil, ErrIncomplete
		}
		return 0, nil, nil
	}
	total := headEnd + bodyLen
	if total > MaxMessageSize {
		return 0, nil, ErrFrameTooLarge
	}
	if len(data) < total {
		if atEOF {
			return 0, nil, ErrTruncatedBody
		}
		return 0, nil, nil
	}
	return total, data[:total], nil
}

// frameHead finds the end of the header section (the index after the empty
// line; -1 when not yet received) and the Content-Length value.
func frameHead(data []byte) (headEnd, bodyLen int, err error) {
	limit := data
	if len(limit) > MaxMessageSize {
		limit = limit[:MaxMessageSize]
	}
	bodyLen = -1
	i := 0
	first := true
	for {
		n := bytes.IndexByte(limit[i:], '\n')
		if n < 0 {
			if len(data) >= MaxMessageSize {
				return 0, 0, ErrFrameTooLarge
			}
			return -1, 0, nil
		}
		line := limit[i:indexOfLineEnd(limit, i+n)]
		i += n + 1
		if len(line) == 0 {
			if bodyLen < 0 {
				return 0, 0, ErrNoContentLength
			}
			return i, bodyLen, nil
		}
		if first {
			first = false
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue // the parser reports malformed fields; framing only needs the length
		}
		name := TrimLWS(line[:colon])
		if lookupHeader(name) == hContentLength {
			v, ok := ParseUint(line[colon+1:], MaxMessageSize+1)
			if !ok {
				return 0, 0, ErrContentLength
			}
			bodyLen = int(v)
		}
	}
}
