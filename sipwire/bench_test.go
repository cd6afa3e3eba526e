package sipwire

import (
	"testing"

	"github.com/regstorm/regstorm/sipwire/fixtures"
)

func benchParse(b *testing.B, msg []byte) {
	var m Msg
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Parse(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse200OK(b *testing.B)         { benchParse(b, fixtures.OK200) }
func BenchmarkParse200OKAuthInfo(b *testing.B) { benchParse(b, fixtures.OK200AuthInfo) }
func BenchmarkParse401(b *testing.B)           { benchParse(b, fixtures.Challenge401) }
func BenchmarkParseRegister(b *testing.B)      { benchParse(b, fixtures.Register) }

func BenchmarkBuildRegister(b *testing.B) {
	r := sampleRegister()
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		r.CSeq++
		r.Branch++
		buf = AppendRegister(buf[:0], r)
	}
}

// BenchmarkParse200OKWithAddresses adds the From/To decoding a UAC skips.
func BenchmarkParse200OKWithAddresses(b *testing.B) {
	var m Msg
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Parse(fixtures.OK200AuthInfo); err != nil {
			b.Fatal(err)
		}
		if err := m.ParseAddresses(); err != nil {
			b.Fatal(err)
		}
	}
}
