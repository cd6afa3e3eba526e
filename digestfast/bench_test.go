package digestfast

import (
	"testing"

	"github.com/regstorm/regstorm/sipwire"
	"github.com/regstorm/regstorm/sipwire/fixtures"
)

// BenchmarkBuildAuthRegister is the whole client-side cost of answering a
// 401: parse the challenge, HA1 from the cache, compute the response, write
// Authorization and the REGISTER around it.
func BenchmarkBuildAuthRegister(b *testing.B) {
	var m sipwire.Msg
	if err := m.Parse(fixtures.Challenge401); err != nil {
		b.Fatal(err)
	}
	r := &sipwire.Register{
		Transport: sipwire.UDP, LocalHost: []byte("127.0.0.1"), LocalPort: 5070,
		User: []byte("nap000001"), Domain: []byte("example.com"), FromTag: []byte("1a2b3c4d"),
		CallID: []byte("0000000100000001@regstorm"), CSeq: 7, Expires: 3600, UserAgent: []byte("regstorm"),
	}
	var c Challenge
	var cache HA1Cache
	auth := make([]byte, 0, 512)
	cn := make([]byte, 0, 32)
	src := NewCNonceSource()
	out := make([]byte, 0, 2048)
	uri := []byte("sip:example.com")
	method := []byte("REGISTER")
	b.ReportAllocs()
	var nc uint64
	for b.Loop() {
		nc++
		if err := SelectChallenge(m.WWWAuthenticate[:m.NumWWWAuthenticate], First, &c); err != nil {
			b.Fatal(err)
		}
		ha1, err := cache.Get(c.Algorithm, r.User, c.Realm, []byte("secret"))
		if err != nil {
			b.Fatal(err)
		}
		cnonce := src.Draw()
		cn = cnonce.Append(cn[:0])
		auth, err = AppendAuthorization(auth[:0], "Authorization", &c, r.User, ha1,
			&Request{Method: method, URI: uri, CNonce: cn, NC: 1})
		if err != nil {
			b.Fatal(err)
		}
		r.Auth = auth
		r.Branch = nc
		out = sipwire.AppendRegister(out[:0], r)
	}
}

// BenchmarkVerify is the registrar's cost per authenticated REGISTER.
func BenchmarkVerify(b *testing.B) {
	hdr := []byte(`Digest username="nap000001", realm="example.com", nonce="ZvHfA2bx3sQBbw+pHhkKkK0rXyD5iKHh", uri="sip:example.com", response="9a7c4b4e5d2d0f3ebd9d1b4f1bb33f1e", algorithm=MD5, qop=auth, nc=00000001, cnonce="0a4f113b"`)
	ha1, _ := ComputeHA1(MD5, []byte("nap000001"), []byte("example.com"), []byte("secret"))
	var cr Credentials
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseCredentials(hdr, &cr); err != nil {
			b.Fatal(err)
		}
		_ = cr.Verify([]byte("REGISTER"), ha1.Bytes())
	}
}

func BenchmarkHA1Miss(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, _ = ComputeHA1(MD5, []byte("nap000001"), []byte("example.com"), []byte("secret"))
	}
}
