package sipwire

import (
	"strings"

	"github.com/regstorm/regstorm/sipwire/fixtures"
)

// crlf turns a readable multi-line literal into wire form: every "\n"
// becomes CRLF.
func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

var ok200 = fixtures.OK200
var challenge401 = fixtures.Challenge401
var register = fixtures.Register

// compactFolded uses compact forms, odd case, white space before colons,
// folded lines and two Contacts on one line plus one on another line; the
// display names hold ',', ';' and '>' inside quotes.
var compactFolded = crlf(`SIP/2.0 200 OK
v: SIP / 2.0 / UDP [2001:db8::9]:5070;branch=z9hG4bKrs5a17c0de1234567800000000000000aa
V : SIP/2.0/TCP proxy.example.com;branch=z9hG4bKproxy1
f: "Bob, \"the; gateway\" >" <sip:bob@example.com;expires=99>;tag=ab
t:sip:bob@example.com
i: folded-call-id
cSeQ:
   42
   REGISTER
m: "A, B" <sip:bob@[2001:db8::9]:5070;transport=udp>;expires=300;q=0.5,
 <sip:bob@10.0.0.9:5070;expires=77>, sip:bob@host.example.com;expires=120
CONTACT: <sip:other@example.net>;expires=50
EXPIRES: 180
l: 4

body`)

// Torture cases after RFC 4475, rewritten for REGISTER and responses. Each
// must fail with a clear error, never a panic.
var tortureInvalid = map[string][]byte{
	// 3.1.2.1 badvers-like: unknown SIP version.
	"badvers": crlf("SIP/7.0 200 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nFrom: <sip:a@b>;tag=1\nTo: <sip:a@b>\nCall-ID: c\nCSeq: 1 REGISTER\nContent-Length: 0\n\n"),
	// 3.1.2.7 clerr: Content-Length larger than the datagram.
	"clerr": crlf("SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nFrom: <sip:a@b>;tag=1\nTo: <sip:a@b>\nCall-ID: c\nCSeq: 1 REGISTER\nContent-Length: 9999\n\nshort"),
	// 3.1.2.3 ncl: negative Content-Length.
	"ncl": crlf("SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nFrom: <sip:a@b>;tag=1\nTo: <sip:a@b>\nCall-ID: c\nCSeq: 1 REGISTER\nContent-Length: -999\n\n"),
	// 3.1.2.5 quotbal: unterminated quoted display name.
	"quotbal": crlf("SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nFrom: \"Bob <sip:a@b>;tag=1\nTo: <sip:a@b>\nCall-ID: c\nCSeq: 1 REGISTER\nContent-Length: 0\n\n"),
	// 3.1.2.8 lwsruri: LWS inside the Request-URI.
	"lwsruri": crlf("REGISTER sip:exa mple.com SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nFrom: <sip:a@b>;tag=1\nTo: <sip:a@b>\nCall-ID: c\nCSeq: 1 REGISTER\nContent-Length: 0\n\n"),
	// 3.1.2.11 mcl01-like: two different Content-Length values.
	"mcl01": crlf("SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nFrom: <sip:a@b>;tag=1\nTo: <sip:a@b>\nCall-ID: c\nCSeq: 1 REGISTER\nContent-Length: 0\nl: 3\n\nabc"),
	// 3.1.2.10 regbadct-like: an unbracketed Contact URI followed by '>'.
	"badaspec": crlf("SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nFrom: <sip:a@b>;tag=1\nTo: <sip:a@b>\nCall-ID: c\nCSeq: 1 REGISTER\nContact: sip:a@b>\nContent-Length: 0\n\n"),
	// 3.1.2.14 multi01-like: two different CSeq values.
	"multi01": crlf("SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nFrom: <sip:a@b>;tag=1\nTo: <sip:a@b>\nCall-ID: c\nCSeq: 1 REGISTER\nCSeq: 2 REGISTER\nContent-Length: 0\n\n"),
	// 3.1.2.? a status code that is not three digits.
	"badcode": crlf("SIP/2.0 20 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nFrom: <sip:a@b>;tag=1\nTo: <sip:a@b>\nCall-ID: c\nCSeq: 1 REGISTER\nContent-Length: 0\n\n"),
	// CSeq with no method.
	"cseqnomethod": crlf("SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nFrom: <sip:a@b>;tag=1\nTo: <sip:a@b>\nCall-ID: c\nCSeq: 1\nContent-Length: 0\n\n"),
	// A Via without sent-by.
	"badvia": crlf("SIP/2.0 200 OK\nVia: SIP/2.0/UDP\nFrom: <sip:a@b>;tag=1\nTo: <sip:a@b>\nCall-ID: c\nCSeq: 1 REGISTER\nContent-Length: 0\n\n"),
	// Missing Call-ID.
	"nocallid": crlf("SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nFrom: <sip:a@b>;tag=1\nTo: <sip:a@b>\nCSeq: 1 REGISTER\nContent-Length: 0\n\n"),
	// Header section never ends.
	"unterminated": crlf("SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nFrom: <sip:a@b>;tag=1\n"),
	// Continuation line before any header.
	"leadingfold": crlf("SIP/2.0 200 OK\n  Via: SIP/2.0/UDP h;branch=z9hG4bKx\n\n"),
	// A header line with no colon.
	"nocolon": crlf("SIP/2.0 200 OK\nVia SIP/2.0/UDP h;branch=z9hG4bKx\n\n"),
	// Expires that is not a number.
	"badexpires": crlf("SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nFrom: <sip:a@b>;tag=1\nTo: <sip:a@b>\nCall-ID: c\nCSeq: 1 REGISTER\nExpires: soon\nContent-Length: 0\n\n"),
	// Contact ;expires that is not a number.
	"badcexpires": crlf("SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nFrom: <sip:a@b>;tag=1\nTo: <sip:a@b>\nCall-ID: c\nCSeq: 1 REGISTER\nContact: <sip:a@b>;expires=-1\nContent-Length: 0\n\n"),
	// Unterminated '<' in Contact.
	"openangle": crlf("SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nFrom: <sip:a@b>;tag=1\nTo: <sip:a@b>\nCall-ID: c\nCSeq: 1 REGISTER\nContact: <sip:a@b;expires=3\nContent-Length: 0\n\n"),
}

// Valid torture cases after RFC 4475 §3.1.1, rewritten for REGISTER.
var tortureValid = map[string][]byte{
	// 3.1.1.1 wsinv-like: LWS and folding everywhere it is allowed.
	"wsinv": crlf("REGISTER sip:example.com SIP/2.0\nTO :\n sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\nfrom   : \"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\n  ;\n  tag = 98asjd8\nMaX-fOrWaRdS: 0068\nCall-ID: wsinv.ndaksdj@192.0.2.1\nContent-Length   : 0\ncseq: 0009\n  REGISTER\nVia  : SIP  /   2.0\n /UDP\n    192.0.2.2;branch=390skdjuw\ns :\nNewFangledHeader:   newfangled value\n continued newfangled value\nUnknownHeaderWithUnusualValue: ;;,,;;,;\nm:\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam =\n      newvalue ;\n  secondparam ; q = 0.33\n\n"),
	// 3.1.1.6 escnull-like: escaped characters in the URIs.
	"esc02": crlf("REGISTER sip:example.com SIP/2.0\nTo: sip:null-%00-null@example.com\nFrom: sip:null-%00-null@example.com;tag=839923423\nMax-Forwards: 70\nCall-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd\nCSeq: 14398234 REGISTER\nVia: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw\nContact: <sip:%00@host5.example.com>\nContact: <sip:%00%00@host5.example.com>\nL:0\n\n"),
	// 3.1.1.13 scalar02-like: Expires above 2^32-1 is clamped.
	"scalarlg": crlf("REGISTER sip:example.com SIP/2.0\nVia: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3\nTo: <sip:user@example.com>\nFrom: <sip:user@example.com>;tag=239232jh3\nCSeq: 36612 REGISTER\nCall-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32\nMax-Forwards: 300\nExpires: 1000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\nContact: <sip:user@host129.example.com>\n  ;expires=280297596632815\nContent-Length: 0\n\n"),
	// 3.1.1.11 cparam01: an unbracketed Contact's params are header params.
	"cparam01": crlf("REGISTER sip:example.com SIP/2.0\nVia: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw\nMax-Forwards: 70\nFrom: sip:watson@example.com;tag=DkfVgjkrtMwaerKKpe\nTo: sip:watson@example.com\nCall-ID: cparam01.070ffbb3-8fd5-49c3-b9bb-7c21c22d6e5e\nCSeq: 2 REGISTER\nContact: sip:+19725552222@gw1.example.net;unknownparam;expires=60\nL:0\n\n"),
	// 3.1.1.12 cparam02: inside <> they are URI params.
	"cparam02": crlf("REGISTER sip:example.com SIP/2.0\nVia: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw\nMax-Forwards: 70\nFrom: sip:watson@example.com;tag=838293\nTo: sip:watson@example.com\nCall-ID: cparam02.070ffbb3-8fd5-49c3-b9bb-7c21c22d6e5e\nCSeq: 3 REGISTER\nContact: <sip:+19725552222@gw1.example.net;unknownparam;expires=60>\nl: 0\n\n"),
	// 3.1.1.12 regescrt: an escaped header inside a bracketed Contact URI.
	"regescrt": crlf("REGISTER sip:example.com SIP/2.0\nTo: sip:user@example.com\nFrom: sip:user@example.com;tag=8\nMax-Forwards: 70\nCall-ID: regescrt.k345asrl3fdbv@192.0.2.1\nCSeq: 14398234 REGISTER\nVia: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw\nContact: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>\nL:0\n\n"),
	// 3.1.1.3 noreason: a status line with no reason phrase.
	"noreason": crlf("SIP/2.0 100\nVia: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\nCall-ID: noreason.asndj203insdf99223ndf\nCSeq: 35 REGISTER\nFrom: <sip:user@example.com>;tag=39ansfi3\nTo: <sip:user@example.com>;tag=902jndnke3\nContent-Length: 0\n\n"),
	// 3.1.1.3 unreason: a reason phrase with odd but legal characters.
	"unreason": crlf("SIP/2.0 200 = 2**3 * 5**2 но сто девяносто девять - простое\nVia: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\nCall-ID: unreason.1234ksdfak3j2erwedfsASdf\nCSeq: 35 REGISTER\nFrom: sip:user@example.com;tag=11141343\nTo: sip:user@example.com;tag=2229\nContent-Length: 0\n\n"),
	// Bare LF line endings (RFC 3261 asks for CRLF; many stacks accept LF).
	"barelf": []byte("SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nFrom: <sip:a@b>;tag=1\nTo: <sip:a@b>\nCall-ID: c\nCSeq: 1 REGISTER\nContent-Length: 0\n\n"),
	// Contact: * (un-register all bindings).
	"star": crlf("REGISTER sip:example.com SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nFrom: <sip:a@b>;tag=1\nTo: <sip:a@b>\nCall-ID: c\nCSeq: 1 REGISTER\nContact: *\nExpires: 0\nContent-Length: 0\n\n"),
}
