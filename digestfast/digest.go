package digestfast

import (
	"crypto/md5"
	crand "crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"hash/maphash"
	"math/rand/v2"

	"github.com/regstorm/regstorm/sipwire"
)

// hbuf assembles "a:b:c" hash inputs in a fixed array on the caller's
// stack. Quoted-string escapes are removed as values are written (RFC 7616
// hashes the unquoted, unescaped value).
type hbuf struct {
	b        [4 * maxParam]byte
	n        int
	overflow bool
}

func (h *hbuf) raw(p []byte) {
	if h.n+len(p) > len(h.b) {
		h.overflow = true
		return
	}
	h.n += copy(h.b[h.n:], p)
}

func (h *hbuf) str(s string) {
	if h.n+len(s) > len(h.b) {
		h.overflow = true
		return
	}
	h.n += copy(h.b[h.n:], s)
}

func (h *hbuf) colon() { h.str(":") }

// val writes a parameter value, dropping the backslash of each quoted-pair.
func (h *hbuf) val(p []byte) {
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' && i+1 < len(p) {
			i++
		}
		if h.n == len(h.b) {
			h.overflow = true
			return
		}
		h.b[h.n] = p[i]
		h.n++
	}
}

// sumHex hashes the buffer with alg and writes the lower-case hex digest
// into out, returning its length (32 or 64).
func (h *hbuf) sumHex(alg Algorithm, out *[64]byte) int {
	if alg.hashLen() == 32 {
		s := sha256.Sum256(h.b[:h.n])
		hex.Encode(out[:], s[:])
		return 64
	}
	s := md5.Sum(h.b[:h.n])
	hex.Encode(out[:], s[:])
	return 32
}

// HA1 holds H(username:realm:password) as lower-case hex.
type HA1 struct {
	hex [64]byte
	n   uint8
}

// Bytes returns the hex digest.
func (h *HA1) Bytes() []byte { return h.hex[:h.n] }

// ComputeHA1 computes H(username ":" realm ":" password) for alg (the
// plain hash; -sess variants apply nonce and cnonce later).
func ComputeHA1(alg Algorithm, username, realm, password []byte) (HA1, error) {
	var h hbuf
	h.val(username)
	h.colon()
	h.val(realm)
	h.colon()
	h.raw(password)
	if h.overflow {
		return HA1{}, ErrTooLong
	}
	var out HA1
	out.n = uint8(h.sumHex(alg, &out.hex))
	return out, nil
}

var seed = maphash.MakeSeed()

// HA1Cache remembers the HA1 of one (username, realm, algorithm), so that
// refreshes do not rehash the password. It is 80 bytes: one per NAP.
type HA1Cache struct {
	key uint64
	ha1 HA1
}

func cacheKey(alg Algorithm, username, realm, password []byte) uint64 {
	var mh maphash.Hash
	mh.SetSeed(seed)
	mh.Write(username)
	mh.WriteByte(0)
	mh.Write(realm)
	mh.WriteByte(0)
	mh.Write(password)
	mh.WriteByte(byte(alg))
	return mh.Sum64() | 1 // never 0, the empty cache
}

// Get returns the cached HA1, computing it on a miss.
func (c *HA1Cache) Get(alg Algorithm, username, realm, password []byte) (*HA1, error) {
	k := cacheKey(alg, username, realm, password)
	if c.key == k {
		return &c.ha1, nil
	}
	ha1, err := ComputeHA1(alg, username, realm, password)
	if err != nil {
		return nil, err
	}
	c.ha1, c.key = ha1, k
	return &c.ha1, nil
}

// Request is what one response computation needs besides HA1.
type Request struct {
	Method []byte // "REGISTER"
	URI    []byte // digest-uri: the Request-URI, as sent
	CNonce []byte // client nonce; required with qop or -sess
	NC     uint32 // nonce count, 1 for the first use of a nonce
	Qop    bool   // answer with qop=auth
}

// sessionHA1 applies the -sess step: H(HA1 ":" nonce ":" cnonce).
func sessionHA1(alg Algorithm, ha1 []byte, nonce, cnonce []byte, out *[64]byte) int {
	var h hbuf
	h.raw(ha1)
	h.colon()
	h.val(nonce)
	h.colon()
	h.val(cnonce)
	return h.sumHex(alg, out)
}

// Response computes the request-digest (RFC 7616 §3.4.1) as hex into out.
func Response(alg Algorithm, ha1 []byte, nonce []byte, r *Request, out *[64]byte) (int, error) {
	if alg == Unknown {
		return 0, ErrAlgorithm
	}
	if len(nonce) > maxParam || len(r.CNonce) > maxParam || len(r.URI) > 2*maxParam {
		return 0, ErrTooLong
	}
	var sess [64]byte
	if alg.sess() {
		n := sessionHA1(alg, ha1, nonce, r.CNonce, &sess)
		ha1 = sess[:n]
	}
	var ha2 [64]byte
	var h hbuf
	h.raw(r.Method)
	h.colon()
	h.raw(r.URI)
	n2 := h.sumHex(alg, &ha2)

	h = hbuf{}
	h.raw(ha1)
	h.colon()
	h.val(nonce)
	h.colon()
	if r.Qop {
		var nc [8]byte
		putHex32(&nc, r.NC)
		h.raw(nc[:])
		h.colon()
		h.val(r.CNonce)
		h.str(":auth:")
	}
	h.raw(ha2[:n2])
	if h.overflow {
		return 0, ErrTooLong
	}
	return h.sumHex(alg, out), nil
}

func putHex32(dst *[8]byte, v uint32) {
	const digits = "0123456789abcdef"
	for i := 7; i >= 0; i-- {
		dst[i] = digits[v&0xf]
		v >>= 4
	}
}

// AppendAuthorization answers challenge c: it appends a complete
// "<header>: Digest ..." field (no CRLF) to dst, where header is
// "Authorization" (401) or "Proxy-Authorization" (407).
func AppendAuthorization(dst []byte, header string, c *Challenge, username []byte, ha1 *HA1, r *Request) ([]byte, error) {
	if err := c.Usable(); err != nil {
		return dst, err
	}
	req := *r
	req.Qop = c.QopAuth
	var resp [64]byte
	n, err := Response(c.Algorithm, ha1.Bytes(), c.Nonce, &req, &resp)
	if err != nil {
		return dst, err
	}
	dst = append(dst, header...)
	dst = append(dst, `: Digest username="`...)
	dst = append(dst, username...)
	dst = append(dst, `", realm="`...)
	dst = append(dst, c.Realm...)
	dst = append(dst, `", nonce="`...)
	dst = append(dst, c.Nonce...)
	dst = append(dst, `", uri="`...)
	dst = append(dst, r.URI...)
	dst = append(dst, `", response="`...)
	dst = append(dst, resp[:n]...)
	dst = append(dst, `", algorithm=`...)
	dst = append(dst, c.Algorithm.String()...)
	if len(c.Opaque) > 0 {
		dst = append(dst, `, opaque="`...)
		dst = append(dst, c.Opaque...)
		dst = append(dst, '"')
	}
	if req.Qop {
		var nc [8]byte
		putHex32(&nc, r.NC)
		dst = append(dst, `, qop=auth, nc=`...)
		dst = append(dst, nc[:]...)
		dst = append(dst, `, cnonce="`...)
		dst = append(dst, r.CNonce...)
		dst = append(dst, '"')
	} else if c.Algorithm.sess() {
		dst = append(dst, `, cnonce="`...)
		dst = append(dst, r.CNonce...)
		dst = append(dst, '"')
	}
	return dst, nil
}

// CNonce is a client nonce: 128 random bits. RFC 7616 §5.12 wants it
// unpredictable, because it is the client's defence against a server that
// picks nonces for a chosen-plaintext attack (§5.9); a counter is not.
type CNonce [16]byte

// Append writes c as 32 lower-case hex digits.
func (c *CNonce) Append(dst []byte) []byte { return hex.AppendEncode(dst, c[:]) }

// CNonceSource draws client nonces from ChaCha8 seeded by crypto/rand:
// as unpredictable as crypto/rand, without a system call or a lock per
// nonce. It is not safe for concurrent use: one per nap.Machine.
type CNonceSource struct{ r *rand.ChaCha8 }

// NewCNonceSource seeds a source from the operating system.
func NewCNonceSource() *CNonceSource {
	var seed [32]byte
	crand.Read(seed[:]) // never fails: the program stops if the OS has no randomness
	return &CNonceSource{r: rand.NewChaCha8(seed)}
}

// Draw returns a fresh client nonce.
func (s *CNonceSource) Draw() CNonce {
	var c CNonce
	binary.LittleEndian.PutUint64(c[:8], s.r.Uint64())
	binary.LittleEndian.PutUint64(c[8:], s.r.Uint64())
	return c
}

// Verify checks credentials against the expected HA1 for their user and
// realm (server side). The comparison is constant-time.
func (c *Credentials) Verify(method []byte, ha1 []byte) bool {
	if c.Algorithm == Unknown {
		return false
	}
	qop := len(c.Qop) > 0
	if qop && (!sipwire.EqualFold(c.Qop, "auth") || !c.HasNC || len(c.CNonce) == 0) {
		return false
	}
	if c.Algorithm.sess() && len(c.CNonce) == 0 {
		return false
	}
	var want [64]byte
	n, err := Response(c.Algorithm, ha1, c.Nonce, &Request{Method: method, URI: c.URI, CNonce: c.CNonce, NC: c.NC, Qop: qop}, &want)
	if err != nil || len(c.Response) != n {
		return false
	}
	var got [64]byte
	for i := 0; i < n; i++ { // responses may arrive in upper-case hex
		got[i] = lowerHex(c.Response[i])
	}
	return subtle.ConstantTimeCompare(got[:n], want[:n]) == 1
}

func lowerHex(c byte) byte {
	if c >= 'A' && c <= 'F' {
		return c + ('a' - 'A')
	}
	return c
}
