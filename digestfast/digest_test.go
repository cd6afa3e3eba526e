package digestfast

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// RFC 2617 §3.5: the classic MD5, qop=auth example.
func TestRFC2617Vector(t *testing.T) {
	ch := `Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"`
	var c Challenge
	if err := ParseChallenge([]byte(ch), &c); err != nil {
		t.Fatal(err)
	}
	if c.Algorithm != MD5 || !c.QopAuth || !c.QopAuthInt || string(c.Opaque) != "5ccc069c403ebaf9f0171e9517f40e41" {
		t.Fatalf("parsed %+v", c)
	}
	ha1, err := ComputeHA1(MD5, []byte("Mufasa"), c.Realm, []byte("Circle Of Life"))
	if err != nil {
		t.Fatal(err)
	}
	r := &Request{Method: []byte("GET"), URI: []byte("/dir/index.html"), CNonce: []byte("0a4f113b"), NC: 1}
	h, err := AppendAuthorization(nil, "Authorization", &c, []byte("Mufasa"), &ha1, r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(h), `response="6629fae49393a05397450978507c4ef1"`) {
		t.Errorf("RFC 2617 response wrong:\n%s", h)
	}
	// And the server side accepts it.
	var cr Credentials
	if err := ParseCredentials(h[len("Authorization: "):], &cr); err != nil {
		t.Fatal(err)
	}
	if !cr.Verify([]byte("GET"), ha1.Bytes()) {
		t.Error("Verify rejects the RFC 2617 response")
	}
}

// RFC 7616 §3.9.1: the same user with MD5 and with SHA-256.
func TestRFC7616Vectors(t *testing.T) {
	for _, tc := range []struct {
		alg  string
		want string
	}{
		{"MD5", "8ca523f5e9506fed4657c9700eebdbec"},
		{"SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
	} {
		ch := fmt.Sprintf(`Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=%s, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`, tc.alg)
		var c Challenge
		if err := ParseChallenge([]byte(ch), &c); err != nil {
			t.Fatal(err)
		}
		ha1, _ := ComputeHA1(c.Algorithm, []byte("Mufasa"), c.Realm, []byte("Circle of Life"))
		var out [64]byte
		n, err := Response(c.Algorithm, ha1.Bytes(), c.Nonce, &Request{
			Method: []byte("GET"), URI: []byte("/dir/index.html"),
			CNonce: []byte("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"), NC: 1, Qop: true,
		}, &out)
		if err != nil || string(out[:n]) != tc.want {
			t.Errorf("%s: %s (%v), want %s", tc.alg, out[:n], err, tc.want)
		}
	}
}

// ref is an independent, allocation-happy reference of RFC 7616 §3.4.
func ref(alg, user, realm, pass, nonce, cnonce, nc, qop, method, uri string) string {
	h := func(s string) string {
		if strings.HasPrefix(alg, "SHA-256") {
			x := sha256.Sum256([]byte(s))
			return hex.EncodeToString(x[:])
		}
		x := md5.Sum([]byte(s))
		return hex.EncodeToString(x[:])
	}
	ha1 := h(user + ":" + realm + ":" + pass)
	if strings.HasSuffix(alg, "-sess") {
		ha1 = h(ha1 + ":" + nonce + ":" + cnonce)
	}
	ha2 := h(method + ":" + uri)
	if qop == "" {
		return h(ha1 + ":" + nonce + ":" + ha2)
	}
	return h(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":" + qop + ":" + ha2)
}

func TestAllAlgorithmsAgainstReference(t *testing.T) {
	for _, alg := range []string{"MD5", "MD5-sess", "SHA-256", "SHA-256-sess"} {
		for _, qop := range []bool{true, false} {
			ch := `Digest realm="example.com", nonce="abc123==", algorithm=` + alg
			if qop {
				ch += `, qop="auth"`
			}
			var c Challenge
			if err := ParseChallenge([]byte(ch), &c); err != nil {
				t.Fatal(err)
			}
			ha1, _ := ComputeHA1(c.Algorithm, []byte("nap000042"), c.Realm, []byte("s3cret"))
			cn := NewCNonceSource().Draw()
			r := &Request{Method: []byte("REGISTER"), URI: []byte("sip:example.com"), CNonce: cn.Append(nil), NC: 7}
			h, err := AppendAuthorization(nil, "Authorization", &c, []byte("nap000042"), &ha1, r)
			if err != nil {
				t.Fatal(err)
			}
			var cr Credentials
			if err := ParseCredentials(h[len("Authorization: "):], &cr); err != nil {
				t.Fatalf("%s: %v", h, err)
			}
			q, nc := "", ""
			if qop {
				q, nc = "auth", "00000007"
			}
			want := ref(alg, "nap000042", "example.com", "s3cret", "abc123==", string(r.CNonce), nc, q, "REGISTER", "sip:example.com")
			if string(cr.Response) != want {
				t.Errorf("%s qop=%v: response %s, reference %s", alg, qop, cr.Response, want)
			}
			if cr.Algorithm != c.Algorithm || (qop && cr.NC != 7) {
				t.Errorf("%s: echoed alg %v nc %d", alg, cr.Algorithm, cr.NC)
			}
			if !cr.Verify([]byte("REGISTER"), ha1.Bytes()) {
				t.Errorf("%s qop=%v: Verify rejects a good response", alg, qop)
			}
			wrong, _ := ComputeHA1(c.Algorithm, []byte("nap000042"), c.Realm, []byte("wrong"))
			if cr.Verify([]byte("REGISTER"), wrong.Bytes()) {
				t.Errorf("%s: Verify accepts a wrong password", alg)
			}
			if cr.Verify([]byte("INVITE"), ha1.Bytes()) {
				t.Errorf("%s: Verify accepts another method", alg)
			}
		}
	}
}

func TestEscapedRealmIsHashedUnescaped(t *testing.T) {
	var c Challenge
	if err := ParseChallenge([]byte(`Digest realm="a\"b", nonce="n"`), &c); err != nil {
		t.Fatal(err)
	}
	ha1, _ := ComputeHA1(MD5, []byte("u"), c.Realm, []byte("p"))
	x := md5.Sum([]byte(`u:a"b:p`))
	if string(ha1.Bytes()) != hex.EncodeToString(x[:]) {
		t.Errorf("escaped realm hashed as %s", ha1.Bytes())
	}
}

func TestParseChallengeVariants(t *testing.T) {
	var c Challenge
	ok := []string{
		`Digest realm="r",nonce="n",stale=TRUE,domain="sip:a sip:b",algorithm=md5-sess`,
		"digest realm=\"r\",\r\n nonce=\"n\"",
		`Digest realm=r, nonce=ab/c+d==, algorithm=MD5`,
		`DIGEST realm="r", nonce="n", qop="auth-int,auth", opaque="", unknown="x,y", algorithm="SHA-256"`,
	}
	for _, s := range ok {
		if err := ParseChallenge([]byte(s), &c); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	_ = ParseChallenge([]byte(ok[0]), &c)
	if !c.Stale || c.Algorithm != MD5Sess || string(c.Domain) != "sip:a sip:b" {
		t.Errorf("%+v", c)
	}
	_ = ParseChallenge([]byte(ok[3]), &c)
	if c.Algorithm != SHA256 || !c.QopAuth {
		t.Errorf("quoted algorithm / qop list: %+v", c)
	}
	bad := map[string]error{
		`Basic realm="r"`:            ErrNotDigest,
		`Digest realm="r"`:           ErrMissing,
		`Digest realm="r, nonce="n"`: ErrSyntax,
		`Digest realm="r", nonce`:    ErrSyntax,
		`Digest nonce="n"`:           ErrMissing,
		`Digest`:                     ErrNotDigest,
		`Digest realm="r", nonce="` + strings.Repeat("x", 300) + `"`: ErrTooLong,
	}
	for s, want := range bad {
		if err := ParseChallenge([]byte(s), &c); !errors.Is(err, want) {
			t.Errorf("%q: %v, want %v", s, err, want)
		}
	}
	_ = ParseChallenge([]byte(`Digest realm="r", nonce="n", algorithm=SHA-512-256`), &c)
	if !errors.Is(c.Usable(), ErrAlgorithm) {
		t.Error("unknown algorithm accepted")
	}
	_ = ParseChallenge([]byte(`Digest realm="r", nonce="n", qop="auth-int"`), &c)
	if !errors.Is(c.Usable(), ErrQop) {
		t.Error("auth-int only accepted")
	}
}

// Several challenges: First takes the topmost usable one (RFC 8760 §2.4),
// Strongest the strongest; neither answers one it cannot.
func TestSelectChallengeFirstOrStrongest(t *testing.T) {
	md5 := []byte(`Digest realm="r", nonce="n1", algorithm=MD5, qop="auth"`)
	sha := []byte(`Digest realm="r", nonce="n2", algorithm=SHA-256, qop="auth"`)
	sha512 := []byte(`Digest realm="r", nonce="n3", algorithm=SHA-512-256, qop="auth"`)
	authInt := []byte(`Digest realm="r", nonce="n4", algorithm=SHA-256, qop="auth-int"`)
	for _, tc := range []struct {
		by    Choice
		vs    [][]byte
		nonce string
	}{
		{First, [][]byte{md5, sha}, "n1"},
		{Strongest, [][]byte{md5, sha}, "n2"},
		{First, [][]byte{sha, md5}, "n2"},
		{Strongest, [][]byte{sha, md5}, "n2"},
		{First, [][]byte{sha512, authInt, md5, sha}, "n1"}, // unsupported topmost ones skipped
		{Strongest, [][]byte{sha512, md5, authInt}, "n1"},
	} {
		var c Challenge
		if err := SelectChallenge(tc.vs, tc.by, &c); err != nil || string(c.Nonce) != tc.nonce {
			t.Errorf("%v of %q: selected %v %s (%v), want nonce %s", tc.by, tc.vs, c.Algorithm, c.Nonce, err, tc.nonce)
		}
	}
	var c Challenge
	for _, by := range []Choice{First, Strongest} {
		if err := SelectChallenge([][]byte{sha512}, by, &c); !errors.Is(err, ErrAlgorithm) {
			t.Errorf("%v, only an unknown algorithm: %v", by, err)
		}
	}
}

func TestParseChoice(t *testing.T) {
	for s, want := range map[string]Choice{"first": First, "strongest": Strongest, "Strongest": Strongest} {
		if c, err := ParseChoice(s); err != nil || c != want {
			t.Errorf("%q: %v %v", s, c, err)
		}
	}
	if First.String() != "first" || Strongest.String() != "strongest" {
		t.Errorf("names %s %s", First, Strongest)
	}
	if _, err := ParseChoice("best"); !errors.Is(err, ErrChoice) {
		t.Errorf("best: %v", err)
	}
}

func TestAuthInfo(t *testing.T) {
	var a AuthInfo
	if err := ParseAuthInfo([]byte(`nextnonce="47364c23432d2e131a5fb210812c", qop=auth, rspauth="abc", cnonce="x", nc=00000001`), &a); err != nil {
		t.Fatal(err)
	}
	if string(a.NextNonce) != "47364c23432d2e131a5fb210812c" || string(a.Qop) != "auth" || string(a.NC) != "00000001" {
		t.Errorf("%+v", a)
	}
}

func TestParseCredentialsErrors(t *testing.T) {
	var c Credentials
	bad := map[string]error{
		`Digest username="u", realm="r", nonce="n", uri="sip:x"`:                            ErrMissing,
		`Digest username="u", realm="r", nonce="n", uri="sip:x", response="1", nc=1`:        ErrSyntax,
		`Digest username="u", realm="r", nonce="n", uri="sip:x", response="1", nc=0000000g`: ErrSyntax,
		`Basic dTpw`: ErrNotDigest,
	}
	for s, want := range bad {
		if err := ParseCredentials([]byte(s), &c); !errors.Is(err, want) {
			t.Errorf("%q: %v, want %v", s, err, want)
		}
	}
}

func TestHA1CacheHitsAndMisses(t *testing.T) {
	var c HA1Cache
	a, _ := c.Get(MD5, []byte("u"), []byte("r1"), []byte("p"))
	first := string(a.Bytes())
	b, _ := c.Get(MD5, []byte("u"), []byte("r1"), []byte("p"))
	if string(b.Bytes()) != first {
		t.Fatal("cache changed value")
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = c.Get(MD5, []byte("u"), []byte("r1"), []byte("p")) }); n != 0 {
		t.Errorf("cache hit allocates %v", n)
	}
	d, _ := c.Get(MD5, []byte("u"), []byte("r2"), []byte("p"))
	if string(d.Bytes()) == first {
		t.Error("another realm returned the cached HA1")
	}
	e, _ := c.Get(SHA256, []byte("u"), []byte("r2"), []byte("p"))
	if len(e.Bytes()) != 64 {
		t.Error("algorithm change not seen by the cache")
	}
}

func TestDigestAllocs(t *testing.T) {
	ch := []byte(`Digest realm="example.com", nonce="ZvHfA2bx3sQBbw+pHhkKkK0rXyD5iKHh", qop="auth", algorithm=MD5, opaque="x"`)
	var c Challenge
	var cache HA1Cache
	buf := make([]byte, 0, 1024)
	cn := make([]byte, 0, 32)
	src := NewCNonceSource()
	n := testing.AllocsPerRun(100, func() {
		_ = ParseChallenge(ch, &c)
		ha1, _ := cache.Get(c.Algorithm, []byte("nap000001"), c.Realm, []byte("secret"))
		cnonce := src.Draw()
		cn = cnonce.Append(cn[:0])
		buf, _ = AppendAuthorization(buf[:0], "Authorization", &c, []byte("nap000001"), ha1,
			&Request{Method: []byte("REGISTER"), URI: []byte("sip:example.com"), CNonce: cn, NC: 1})
	})
	if n != 0 {
		t.Errorf("challenge → Authorization allocates %v times", n)
	}
	var cr Credentials
	hdr := buf[len("Authorization: "):]
	ha1, _ := cache.Get(c.Algorithm, []byte("nap000001"), c.Realm, []byte("secret"))
	n = testing.AllocsPerRun(100, func() {
		_ = ParseCredentials(hdr, &cr)
		if !cr.Verify([]byte("REGISTER"), ha1.Bytes()) {
			panic("verify")
		}
	})
	if n != 0 {
		t.Errorf("server verify allocates %v times", n)
	}
}

// Client nonces are 128 random bits as 32 hex digits, never repeated,
// within a source or between two (two runs, or two event loops).
func TestCNonceSource(t *testing.T) {
	a, b := NewCNonceSource(), NewCNonceSource()
	seen := map[CNonce]bool{}
	for i := 0; i < 1000; i++ {
		for _, src := range []*CNonceSource{a, b} {
			c := src.Draw()
			if seen[c] {
				t.Fatalf("cnonce %x drawn twice", c)
			}
			seen[c] = true
			if s := string(c.Append(nil)); len(s) != 32 || strings.Trim(s, "0123456789abcdef") != "" {
				t.Fatalf("cnonce written as %q, want 32 lower-case hex digits", s)
			}
		}
	}
}
