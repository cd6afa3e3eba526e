package sipwire

import (
	"bytes"
	"errors"
)

// Bounds that keep hostile input from costing memory or time.
const (
	MaxMessageSize = 64 << 10 // bytes in one message, headers and body
	MaxHeaders     = 256      // header fields in one message
	MaxContacts    = 32       // parsed Contact values kept per message
	MaxViaHeaders  = 16       // raw Via header fields kept (the registrar echoes them)
	MaxAuthHeaders = 4        // WWW-/Proxy-Authenticate and (Proxy-)Authorization fields kept
)

// Parse errors. They are values, so returning one never allocates.
var (
	ErrTooLarge        = errors.New("sipwire: message larger than 64 KiB")
	ErrIncomplete      = errors.New("sipwire: header section not terminated")
	ErrStartLine       = errors.New("sipwire: malformed start line")
	ErrVersion         = errors.New("sipwire: unsupported SIP version")
	ErrHeader          = errors.New("sipwire: malformed header field")
	ErrTooManyHeaders  = errors.New("sipwire: too many header fields")
	ErrContentLength   = errors.New("sipwire: malformed Content-Length")
	ErrTruncatedBody   = errors.New("sipwire: body shorter than Content-Length")
	ErrCSeq            = errors.New("sipwire: malformed CSeq")
	ErrVia             = errors.New("sipwire: malformed Via")
	ErrNameAddr        = errors.New("sipwire: malformed From/To/Contact")
	ErrNumber          = errors.New("sipwire: malformed numeric header")
	ErrMissingHeader   = errors.New("sipwire: mandatory header missing (Via, From, To, Call-ID or CSeq)")
	ErrDuplicateHeader = errors.New("sipwire: single-valued header repeated with another value")
)

// Via is the parsed top-most Via value.
type Via struct {
	Transport []byte // "UDP", "TCP", ...
	Host      []byte // without brackets for IPv6
	Port      int    // 0 when absent
	Branch    []byte
	Received  []byte
	RPort     int // -1 absent, 0 present without value
	Params    []byte
}

// NameAddr is a From, To or Contact value: display name, URI and the
// header parameters that follow the URI.
type NameAddr struct {
	Display []byte // unquoted but not unescaped
	URI     []byte
	Params  []byte // raw ";a=b;c" header parameters
	Tag     []byte // From/To tag parameter
}

// Contact is one binding of a Contact header.
type Contact struct {
	NameAddr
	Expires int64 // the binding's expires header parameter, -1 when absent
	Q       []byte
}

// Msg is a parsed SIP message. Every []byte is a view into the buffer
// given to Parse; the Msg is reusable and holds no pointers of its own, so
// one per event loop is enough.
type Msg struct {
	IsRequest  bool
	StatusCode int
	Reason     []byte
	Method     []byte
	RequestURI []byte

	Via        Via
	ViaHeaders [MaxViaHeaders][]byte // raw Via field values, in order
	NumVia     int
	// FromRaw and ToRaw are located by Parse; From and To are decoded from
	// them by ParseAddresses, since a UAC never needs them (responses match
	// by Via branch and CSeq method, RFC 3261 §17.1.3).
	FromRaw, ToRaw []byte
	From, To       NameAddr
	CallID         []byte
	CSeq           uint32
	CSeqMethod     []byte

	Contacts        [MaxContacts]Contact
	NumContacts     int
	ContactStar     bool // "Contact: *"
	ContactOverflow bool // more bindings than MaxContacts; the rest were not parsed

	Expires       int64 // Expires header, -1 when absent
	MinExpires    int64 // -1 when absent
	RetryAfter    int64 // -1 when absent
	MaxForwards   int64 // -1 when absent
	ContentLength int   // -1 when absent

	WWWAuthenticate       [MaxAuthHeaders][]byte
	NumWWWAuthenticate    int
	ProxyAuthenticate     [MaxAuthHeaders][]byte
	NumProxyAuthenticate  int
	Authorization         [MaxAuthHeaders][]byte
	NumAuthorization      int
	ProxyAuthorization    [MaxAuthHeaders][]byte
	NumProxyAuthorization int
	AuthenticationInfo    []byte
	UserAgent             []byte
	Server                []byte

	NumHeaders int
	Body       []byte
}

type hdrID uint8

const (
	hOther hdrID = iota
	hVia
	hFrom
	hTo
	hCallID
	hCSeq
	hContact
	hExpires
	hMinExpires
	hRetryAfter
	hMaxForwards
	hContentLength
	hWWWAuth
	hProxyAuth
	hAuthorization
	hProxyAuthorization
	hAuthInfo
	hUserAgent
	hServer
)

// lookupHeader maps a header name, long or compact form, any case, to its
// id. A switch on length keeps it to one or two comparisons per header.
func lookupHeader(n []byte) hdrID {
	switch len(n) {
	case 1:
		switch lower(n[0]) {
		case 'v':
			return hVia
		case 'f':
			return hFrom
		case 't':
			return hTo
		case 'i':
			return hCallID
		case 'm':
			return hContact
		case 'l':
			return hContentLength
		}
	case 2:
		if nameEq(n, "to") {
			return hTo
		}
	case 3:
		if nameEq(n, "via") {
			return hVia
		}
	case 4:
		if nameEq(n, "from") {
			return hFrom
		}
		if nameEq(n, "cseq") {
			return hCSeq
		}
	case 6:
		if nameEq(n, "server") {
			return hServer
		}
	case 7:
		switch lower(n[0]) {
		case 'c':
			if nameEq(n, "call-id") {
				return hCallID
			}
			if nameEq(n, "contact") {
				return hContact
			}
		case 'e':
			if nameEq(n, "expires") {
				return hExpires
			}
		}
	case 10:
		if nameEq(n, "user-agent") {
			return hUserAgent
		}
	case 11:
		if nameEq(n, "min-expires") {
			return hMinExpires
		}
		if nameEq(n, "retry-after") {
			return hRetryAfter
		}
	case 12:
		if nameEq(n, "max-forwards") {
			return hMaxForwards
		}
	case 13:
		if nameEq(n, "authorization") {
			return hAuthorization
		}
	case 14:
		if nameEq(n, "content-length") {
			return hContentLength
		}
	case 16:
		if nameEq(n, "www-authenticate") {
			return hWWWAuth
		}
	case 18:
		if nameEq(n, "proxy-authenticate") {
			return hProxyAuth
		}
	case 19:
		if nameEq(n, "authentication-info") {
			return hAuthInfo
		}
		if nameEq(n, "proxy-authorization") {
			return hProxyAuthorization
		}
	}
	return hOther
}

// reset clears the fields a previous Parse may have set. The fixed arrays
// are not cleared: their counts say what is valid.
func (m *Msg) reset() {
	m.IsRequest = false
	m.StatusCode = 0
	m.Reason, m.Method, m.RequestURI = nil, nil, nil
	m.Via = Via{RPort: -1}
	m.NumVia = 0
	m.FromRaw, m.ToRaw = nil, nil
	m.From, m.To = NameAddr{}, NameAddr{}
	m.CallID = nil
	m.CSeq, m.CSeqMethod = 0, nil
	m.NumContacts, m.ContactStar, m.ContactOverflow = 0, false, false
	m.Expires, m.MinExpires, m.RetryAfter, m.MaxForwards = -1, -1, -1, -1
	m.ContentLength = -1
	m.NumWWWAuthenticate, m.NumProxyAuthenticate = 0, 0
	m.NumAuthorization, m.NumProxyAuthorization = 0, 0
	m.AuthenticationInfo, m.UserAgent, m.Server = nil, nil, nil
	m.NumHeaders = 0
	m.Body = nil
}

// Parse parses one complete message (a UDP datagram, or a frame cut by
// SplitMessage). Lines may end in CRLF or a bare LF; folded header lines
// are joined in place (the returned value keeps the CRLF and white space,
// which every consumer treats as LWS). On error m is partly filled and must
// not be used.
func (m *Msg) Parse(b []byte) error {
	m.reset()
	if len(b) > MaxMessageSize {
		return ErrTooLarge
	}
	// RFC 3261 §7.5: ignore CRLFs before the start line.
	i := 0
	for i < len(b) && (b[i] == '\r' || b[i] == '\n') {
		i++
	}
	line, i, ok := nextLine(b, i)
	if !ok {
		return ErrIncomplete
	}
	if err := m.parseStartLine(line); err != nil {
		return err
	}
	for {
		// nextLine, inlined by hand: this loop runs once per header.
		n := bytes.IndexByte(b[i:], '\n')
		if n < 0 {
			return ErrIncomplete
		}
		start := i
		end := i + n
		i = end + 1
		if end > start && b[end-1] == '\r' {
			end--
		}
		if end == start {
			break // empty line: end of headers
		}
		if b[start] == ' ' || b[start] == '\t' {
			return ErrHeader // continuation with no header before it
		}
		// Fold continuation lines into this field.
		for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
			n = bytes.IndexByte(b[i:], '\n')
			if n < 0 {
				return ErrIncomplete
			}
			end = i + n
			i = end + 1
			if b[end-1] == '\r' {
				end--
			}
		}
		m.NumHeaders++
		if m.NumHeaders > MaxHeaders {
			return ErrTooManyHeaders
		}
		if err := m.parseField(b[start:end]); err != nil {
			return err
		}
	}
	if m.NumVia == 0 || len(m.FromRaw) == 0 || len(m.ToRaw) == 0 || m.CallID == nil || m.CSeqMethod == nil {
		return ErrMissingHeader
	}
	body := b[i:]
	if m.ContentLength >= 0 {
		if m.ContentLength > len(body) {
			return ErrTruncatedBody
		}
		body = body[:m.ContentLength]
	}
	m.Body = body
	return nil
}

// indexOfLineEnd returns the index of the end of the line content whose
// terminating '\n' is at b[nl] (that is, before an optional '\r').
func indexOfLineEnd(b []byte, nl int) int {
	if nl > 0 && b[nl-1] == '\r' {
		return nl - 1
	}
	return nl
}

// nextLine returns the line starting at i without its terminator, and the
// index after the terminator. ok is false when no '\n' follows.
func nextLine(b []byte, i int) (line []byte, next int, ok bool) {
	n := bytes.IndexByte(b[i:], '\n')
	if n < 0 {
		return nil, len(b), false
	}
	nl := i + n
	return b[i:indexOfLineEnd(b, nl)], nl + 1, true
}

func (m *Msg) parseStartLine(line []byte) error {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return ErrStartLine
	}
	if sp1 == 7 && EqualFold(line[:4], "sip/") {
		// Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
		if !EqualFold(line[:7], "sip/2.0") {
			return ErrVersion
		}
		rest := line[8:]
		if len(rest) < 3 || (len(rest) > 3 && rest[3] != ' ') {
			return ErrStartLine
		}
		code, ok := ParseUint(rest[:3], 999)
		if !ok || code < 100 {
			return ErrStartLine
		}
		m.StatusCode = int(code)
		if len(rest) > 4 {
			m.Reason = rest[4:]
		}
		return nil
	}
	// Request-Line = Method SP Request-URI SP SIP-Version
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp2 <= sp1+1 {
		return ErrStartLine
	}
	version := line[sp2+1:]
	if len(version) < 4 || !EqualFold(version[:4], "sip/") {
		return ErrStartLine
	}
	if !EqualFold(version, "sip/2.0") {
		return ErrVersion
	}
	m.IsRequest = true
	m.Method = line[:sp1]
	m.RequestURI = line[sp1+1 : sp2]
	if bytes.IndexByte(m.RequestURI, ' ') >= 0 || len(m.RequestURI) == 0 {
		return ErrStartLine // RFC 4475 lwsruri: no LWS inside the Request-URI
	}
	for _, c := range m.Method {
		if c <= ' ' || c >= 0x7f {
			return ErrStartLine
		}
	}
	return nil
}

func (m *Msg) parseField(field []byte) error {
	colon := -1
	for j, c := range field { // names are short: a loop beats IndexByte here
		if c == ':' {
			colon = j
			break
		}
	}
	if colon <= 0 {
		return ErrHeader
	}
	name := field[:colon]
	// header-name HCOLON: white space may precede the colon.
	for len(name) > 0 && (name[len(name)-1] == ' ' || name[len(name)-1] == '\t') {
		name = name[:len(name)-1]
	}
	if len(name) == 0 {
		return ErrHeader
	}
	v := TrimLWS(field[colon+1:])
	switch lookupHeader(name) {
	case hVia:
		if m.NumVia == 0 {
			if err := parseTopVia(v, &m.Via); err != nil {
				return err
			}
		}
		if m.NumVia < MaxViaHeaders {
			m.ViaHeaders[m.NumVia] = v
			m.NumVia++
		}
	case hFrom:
		return setOnce(&m.FromRaw, v)
	case hTo:
		return setOnce(&m.ToRaw, v)
	case hCallID:
		if len(v) == 0 {
			return ErrHeader
		}
		return setOnce(&m.CallID, v)
	case hCSeq:
		return m.parseCSeq(v)
	case hContact:
		return m.parseContacts(v)
	case hExpires:
		return parseDelta(v, &m.Expires)
	case hMinExpires:
		return parseDelta(v, &m.MinExpires)
	case hRetryAfter:
		// Retry-After = delta-seconds [comment] *(SEMI param)
		end := 0
		for end < len(v) && v[end] >= '0' && v[end] <= '9' {
			end++
		}
		return parseDelta(v[:end], &m.RetryAfter)
	case hMaxForwards:
		return parseDelta(v, &m.MaxForwards)
	case hContentLength:
		n, ok := ParseUint(v, MaxMessageSize+1)
		if !ok {
			return ErrContentLength
		}
		if m.ContentLength >= 0 && m.ContentLength != int(n) {
			return ErrContentLength
		}
		m.ContentLength = int(n)
	case hWWWAuth:
		addAuth(&m.WWWAuthenticate, &m.NumWWWAuthenticate, v)
	case hProxyAuth:
		addAuth(&m.ProxyAuthenticate, &m.NumProxyAuthenticate, v)
	case hAuthorization:
		addAuth(&m.Authorization, &m.NumAuthorization, v)
	case hProxyAuthorization:
		addAuth(&m.ProxyAuthorization, &m.NumProxyAuthorization, v)
	case hAuthInfo:
		m.AuthenticationInfo = v
	case hUserAgent:
		m.UserAgent = v
	case hServer:
		m.Server = v
	}
	return nil
}

func addAuth(arr *[MaxAuthHeaders][]byte, n *int, v []byte) {
	if *n < MaxAuthHeaders {
		arr[*n] = v
		*n++
	}
}

func parseDelta(v []byte, dst *int64) error {
	n, ok := ParseUint(v, MaxDelta)
	if !ok {
		return ErrNumber
	}
	*dst = int64(n)
	return nil
}

func (m *Msg) parseCSeq(v []byte) error {
	i := 0
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	if i == 0 || i > 10 {
		return ErrCSeq
	}
	n, _ := ParseUint(v[:i], MaxDelta+1)
	if n > MaxDelta { // RFC 3261 §8.1.1.5: CSeq must be < 2^31, we accept < 2^32
		return ErrCSeq
	}
	method := TrimLWS(v[i:])
	if len(method) == 0 || i == len(v) || !isLWS(v[i]) {
		return ErrCSeq
	}
	if m.CSeqMethod != nil && (m.CSeq != uint32(n) || !bytes.Equal(m.CSeqMethod, method)) {
		return ErrDuplicateHeader
	}
	m.CSeq = uint32(n)
	m.CSeqMethod = method
	return nil
}

// parseTopVia parses the first via-parm of a Via field value:
// "SIP / 2.0 / UDP host[:port] *(;param)".
func parseTopVia(v []byte, via *Via) error {
	elem, _, ok := NextElement(v, 0)
	if !ok {
		return ErrVia
	}
	elem = TrimLWS(elem)
	// sent-protocol: three tokens separated by '/', LWS allowed around them.
	i := 0
	var tok []byte
	part := 0
	if len(elem) > 8 && EqualFold(elem[:8], "sip/2.0/") {
		i, part = 8, 2 // the usual spelling: only the transport is left
	}
	for ; part < 3; part++ {
		for i < len(elem) && isLWS(elem[i]) {
			i++
		}
		start := i
		for i < len(elem) && elem[i] != '/' && !isLWS(elem[i]) {
			i++
		}
		tok = elem[start:i]
		if len(tok) == 0 {
			return ErrVia
		}
		for i < len(elem) && isLWS(elem[i]) {
			i++
		}
		if part < 2 {
			if i >= len(elem) || elem[i] != '/' {
				return ErrVia
			}
			i++
		}
	}
	via.Transport = tok
	// sent-by = host [":" port]
	start := i
	if i < len(elem) && elem[i] == '[' {
		end := bytes.IndexByte(elem[i:], ']')
		if end < 0 {
			return ErrVia
		}
		via.Host = elem[i+1 : i+end]
		i += end + 1
	} else {
		for i < len(elem) && elem[i] != ':' && elem[i] != ';' && !isLWS(elem[i]) {
			i++
		}
		via.Host = elem[start:i]
	}
	if len(via.Host) == 0 {
		return ErrVia
	}
	for i < len(elem) && isLWS(elem[i]) {
		i++
	}
	if i < len(elem) && elem[i] == ':' {
		i++
		ps := i
		for i < len(elem) && elem[i] != ';' && !isLWS(elem[i]) {
			i++
		}
		p, ok := ParseUint(elem[ps:i], 65536)
		if !ok || p == 0 || p > 65535 {
			return ErrVia
		}
		via.Port = int(p)
	}
	via.Params = elem[i:]
	if len(TrimLWS(via.Params)) > 0 && TrimLWS(via.Params)[0] != ';' {
		return ErrVia // junk after sent-by that is not a parameter
	}
	for j := i; ; {
		name, val, next, found := NextParam(elem, j)
		if !found {
			break
		}
		switch {
		case nameEq(name, "branch"):
			via.Branch = val
		case nameEq(name, "received"):
			via.Received = val
		case nameEq(name, "rport"):
			via.RPort = 0
			if len(val) > 0 {
				p, ok := ParseUint(val, 65536)
				if !ok || p > 65535 {
					return ErrVia
				}
				via.RPort = int(p)
			}
		}
		j = next
	}
	return nil
}

// parseNameAddr parses one element of From/To/Contact:
// name-addr (`[display] <URI> *params`) or addr-spec (`URI *params`, where
// every ';' after the URI starts a header parameter).
func parseNameAddr(elem []byte, na *NameAddr, wantTag bool) error {
	elem = TrimLWS(elem)
	if len(elem) == 0 {
		return ErrNameAddr
	}
	i := 0
	if elem[0] == '"' {
		end, ok := SkipQuoted(elem, 0)
		if !ok {
			return ErrNameAddr
		}
		na.Display = elem[1 : end-1]
		i = end
		for i < len(elem) && isLWS(elem[i]) {
			i++
		}
		if i >= len(elem) || elem[i] != '<' {
			return ErrNameAddr
		}
	} else {
		// A token display name, or none, before '<'; an addr-spec has no '<'
		// before its first ';'.
		lt, semi := 0, -1
		if elem[0] != '<' { // "<uri>" with no display name is the common case
			lt = bytes.IndexByte(elem, '<')
			semi = bytes.IndexByte(elem, ';')
		}
		if lt < 0 || (semi >= 0 && semi < lt) {
			uriEnd := len(elem)
			if semi >= 0 {
				uriEnd = semi
			}
			na.URI = TrimLWS(elem[:uriEnd])
			if len(na.URI) == 0 || bytes.IndexAny(na.URI, " \t\r\n>") >= 0 {
				return ErrNameAddr
			}
			na.Params = elem[uriEnd:]
			return na.scanParams(wantTag)
		}
		na.Display = TrimLWS(elem[:lt])
		i = lt
	}
	// elem[i] == '<'
	gt := bytes.IndexByte(elem[i:], '>')
	if gt < 0 {
		return ErrNameAddr
	}
	na.URI = TrimLWS(elem[i+1 : i+gt])
	if len(na.URI) == 0 {
		return ErrNameAddr
	}
	na.Params = elem[i+gt+1:]
	return na.scanParams(wantTag)
}

// scanParams checks that only parameters follow the URI and, for From/To,
// finds the tag (Contact callers scan the parameters themselves).
func (na *NameAddr) scanParams(wantTag bool) error {
	rest := TrimLWS(na.Params)
	if len(rest) > 0 && rest[0] != ';' {
		return ErrNameAddr
	}
	if !wantTag {
		return nil
	}
	for j := 0; ; {
		name, val, next, found := NextParam(na.Params, j)
		if !found {
			return nil
		}
		if nameEq(name, "tag") {
			na.Tag = val
		}
		j = next
	}
}

// ParseAddresses decodes From and To (display name, URI, tag) from the
// values Parse located. The registrar needs them; a UAC does not.
func (m *Msg) ParseAddresses() error {
	if err := parseSingleNameAddr(m.FromRaw, &m.From); err != nil {
		return err
	}
	return parseSingleNameAddr(m.ToRaw, &m.To)
}

// setOnce stores a single-valued header, refusing a second, different one.
func setOnce(dst *[]byte, v []byte) error {
	if *dst != nil && !bytes.Equal(*dst, v) {
		return ErrDuplicateHeader
	}
	*dst = v
	return nil
}

func parseSingleNameAddr(v []byte, na *NameAddr) error {
	*na = NameAddr{}
	elem, next, ok := NextElement(v, 0)
	if !ok || next < len(v) {
		return ErrNameAddr // From/To take exactly one value
	}
	return parseNameAddr(elem, na, true)
}

func (m *Msg) parseContacts(v []byte) error {
	if len(v) == 1 && v[0] == '*' {
		m.ContactStar = true
		return nil
	}
	for i := 0; i < len(v); {
		elem, next, ok := NextElement(v, i)
		if !ok {
			return ErrNameAddr
		}
		i = next
		if m.NumContacts == MaxContacts {
			m.ContactOverflow = true
			return nil
		}
		c := &m.Contacts[m.NumContacts]
		*c = Contact{Expires: -1}
		if err := parseNameAddr(elem, &c.NameAddr, false); err != nil {
			return err
		}
		for j := 0; ; {
			name, val, nx, found := NextParam(c.Params, j)
			if !found {
				break
			}
			switch {
			case nameEq(name, "expires"):
				n, ok := ParseUint(val, MaxDelta)
				if !ok {
					return ErrNumber
				}
				c.Expires = int64(n)
			case nameEq(name, "q"):
				c.Q = val
			}
			j = nx
		}
		m.NumContacts++
	}
	return nil
}
