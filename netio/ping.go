package netio

// Keep-alive pings on streams (RFC 5626 §4.4.1): a double CRLF on TCP and
// TLS, answered by a single CRLF; a WebSocket ping frame on WS and WSS,
// answered by a pong frame (CRLFs there would be a SIP message frame).
// Each transport's Ping sends its own: tcpConn's and tlsFraming's the
// CRLFs, wsFraming's the frame; a udpConn has none (ErrNotStream).

var crlfPing = []byte("\r\n\r\n")
