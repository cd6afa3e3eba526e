package digestfast

import "testing"

// FuzzParseChallenge: hostile challenges, credentials and Authentication-Info
// never panic; a usable challenge always yields an Authorization that our
// own verifier accepts.
func FuzzParseChallenge(f *testing.F) {
	for _, s := range []string{
		`Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"`,
		`Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"`,
		`Digest realm="a\"b", nonce="n", stale=true, algorithm=MD5-sess`,
		`Digest username="u", realm="r", nonce="n", uri="sip:x", response="00", nc=00000001, cnonce="c", qop=auth`,
		`nextnonce="abc", qop=auth, rspauth="x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var c Challenge
		var cr Credentials
		var ai AuthInfo
		_ = ParseAuthInfo(b, &ai)
		_ = ParseCredentials(b, &cr)
		_ = cr.Verify([]byte("REGISTER"), []byte("00000000000000000000000000000000"))
		if ParseChallenge(b, &c) != nil || c.Usable() != nil {
			return
		}
		var cache HA1Cache
		ha1, err := cache.Get(c.Algorithm, []byte("u"), c.Realm, []byte("p"))
		if err != nil {
			return
		}
		h, err := AppendAuthorization(nil, "Authorization", &c, []byte("u"), ha1,
			&Request{Method: []byte("REGISTER"), URI: []byte("sip:x"), CNonce: []byte("c1"), NC: 1})
		if err != nil {
			return
		}
		if err := ParseCredentials(h[len("Authorization: "):], &cr); err != nil {
			t.Fatalf("our own header does not parse: %v\n%s", err, h)
		}
		if !cr.Verify([]byte("REGISTER"), ha1.Bytes()) {
			t.Fatalf("our own header does not verify:\n%s", h)
		}
	})
}
