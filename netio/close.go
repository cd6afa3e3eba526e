package netio

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// How connections end.
//
// Conn.Close and Loops.Stop close as a well-behaved client does. A
// registrar logs a reset, or a WebSocket dropped without a Close frame, as
// an error (Kamailio: two ERROR lines per TCP or WS connection), and a run
// that ends 10^4 connections that way floods its log.
//   - TCP: a FIN, after anything still queued (no SO_LINGER).
//   - TLS: close_notify, then the FIN once the peer has closed too, or
//     after closeWait.
//   - WS, WSS: a Close frame (1000), then the FIN once the peer has closed
//     the TCP connection (RFC 6455 §7.1.1: the server closes first), or
//     after closeWait. A peer's Close is echoed with its status, and its
//     FIN awaited the same way.
//
// Conn.Abort resets (SO_LINGER 0): a device that vanishes or reboots says
// nothing, and a reset is the nearest a socket comes to that. A write the
// peer does not take within writeTimeout aborts too: a FIN would wait
// behind the bytes it does not read.
//
// TIME-WAIT. Whoever sends the first FIN keeps the connection's 4-tuple in
// TIME-WAIT for 60 s. On TLS and WebSocket the peer closes first when it
// answers the goodbye (Kamailio does), so TIME-WAIT is its own. On TCP,
// SIP has no goodbye: regstorm closes first and keeps 10^4 TIME-WAIT
// sockets after a 10^4-NAP per-nap run. Left to connect() (port 0 and
// IP_BIND_ADDRESS_NO_PORT), the next run's ports would crawl past them:
// connect() takes a TIME-WAIT 4-tuple over only on loopback (with the
// default net.ipv4.tcp_tw_reuse 2), so toward a registrar elsewhere a
// second 10^4-NAP run right after a first one connected 5 320 NAPs in its
// 5 s, its system CPU spent probing ports. dialTCP therefore picks and
// binds the port itself, and an explicitly bound port may take a
// TIME-WAIT 4-tuple over (as a reconnect from the same port does): three
// such runs in a row each registered all 10^4 in 2.0–2.9 s
// (bench/RESULTS.md, 2026-12-07). So the FIN no longer slows the next
// run, and a reset is kept only for what it stands for.

// closeWait bounds the wait for the peer to close after a goodbye (a
// WebSocket Close, a TLS close_notify): then regstorm closes first.
const closeWait = 2 * time.Second

// stopWait bounds Stop's wait for the streams to close in order: a
// goodbye's write (writeTimeout), then closeWait.
const stopWait = writeTimeout + closeWait

// A stream's closing, in streamConn.closing.
const (
	streamOpen int32 = iota
	closeAsked       // Close was called: the reader is to say goodbye
	closeSaid        // goodbye said: waiting for the peer to close
	peerClosed       // the peer said Close (WebSocket) and heard it back
	aborted          // reset
)

// wsNormalClose is the body of the Close frame regstorm sends.
var wsNormalClose = ws.NewCloseFrameBody(ws.StatusNormalClosure, "")

// aLongTimeAgo is a deadline already past: it wakes a blocked Read.
var aLongTimeAgo = time.Unix(1, 0)

// requestClose asks the reader to close in order: its Read returns at
// once, and it says goodbye (readEnded). The reader owns the closing, so
// that Close returns at once and a goodbye never meets the reader's own
// writes (pongs) half-way.
func (c *streamConn) requestClose() {
	if c.closing.CompareAndSwap(streamOpen, closeAsked) {
		_ = c.nc.SetReadDeadline(aLongTimeAgo)
	}
}

// raw is the TCP connection under the stream.
func (c *streamConn) raw() net.Conn {
	if tc, ok := c.nc.(*tls.Conn); ok {
		return tc.NetConn()
	}
	return c.nc
}

// reset resets the connection; the reader ends.
func (c *streamConn) reset() {
	c.closing.Store(aborted)
	raw := c.raw()
	if tc, ok := raw.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = raw.Close()
}

// hangUp closes the TCP connection now, with a FIN: a peer that did not
// answer the goodbye in time (Stop).
func (c *streamConn) hangUp() { _ = c.raw().Close() }

// readEnded: the reader's Read failed with err. While closing, that is
// a step of the closing: Close's wake-up (say goodbye, then read on for
// the peer's answer), or the peer's close, which on TLS is close_notify
// first and the FIN after. It returns nil to read on, else why the
// reading ends.
func (c *streamConn) readEnded(err error) error {
	switch c.closing.Load() {
	case closeAsked:
		if errors.Is(err, os.ErrDeadlineExceeded) && c.closing.CompareAndSwap(closeAsked, closeSaid) {
			c.framing.goodbye(c) // a WebSocket Close frame, or TLS's close_notify
			_ = c.nc.SetReadDeadline(time.Now().Add(closeWait))
			return nil
		}
	case closeSaid, peerClosed:
		if tc, ok := c.nc.(*tls.Conn); ok && err == io.EOF {
			return drain(tc.NetConn()) // the peer's close_notify: its FIN next
		}
	}
	return err
}

// drain reads and drops what comes until the connection ends or its read
// deadline passes.
func drain(c net.Conn) error {
	var b [64]byte
	for {
		if _, err := c.Read(b[:]); err != nil {
			return err
		}
	}
}

// finish closes what is left of the connection once its reader ends,
// and says what to report: ErrClosed for a closing of regstorm's own,
// errWSClosed for the peer's Close, else why the reading ended.
func (c *streamConn) finish(err error) error {
	why := err
	switch c.closing.Load() {
	case aborted:
		return ErrClosed // already reset
	case closeAsked, closeSaid:
		why = ErrClosed
	case peerClosed:
		why = errWSClosed
	}
	if err == io.EOF && c.closing.Load() != streamOpen {
		_ = c.raw().Close() // the peer closed after the goodbyes: nothing is left to say
	} else {
		_ = c.nc.Close() // TLS: close_notify first, unless already sent
	}
	return why
}

// waitGroup waits for wg at most d; true if it is done.
func waitGroup(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
