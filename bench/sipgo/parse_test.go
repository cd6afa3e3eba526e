// Package sipgo puts regstorm's parser and sipgo's (github.com/emiago/sipgo)
// on the same bytes in one `go test -bench` run, so that the ratio between
// them is measured on the same machine at the same moment.
package sipgo

import (
	"testing"

	sgsip "github.com/emiago/sipgo/sip"

	"github.com/regstorm/regstorm/sipwire"
	"github.com/regstorm/regstorm/sipwire/fixtures"
)

var cases = []struct {
	name string
	msg  []byte
}{
	{"200OK", fixtures.OK200},
	{"200OKAuthInfo", fixtures.OK200AuthInfo},
	{"401", fixtures.Challenge401},
}

// What a registering UAC reads from a response: the branch to find its
// transaction, CSeq, status, and the granted expires of its Contact.
type extracted struct {
	status  int
	branch  string
	cseq    uint32
	expires string
}

// TestSameAnswers checks that both parsers read the same values from the
// fixtures, so that the benchmarks compare equal work.
func TestSameAnswers(t *testing.T) {
	p := sgsip.NewParser()
	for _, c := range cases {
		var m sipwire.Msg
		if err := m.Parse(c.msg); err != nil {
			t.Fatal(err)
		}
		res, err := p.ParseSIP(c.msg)
		if err != nil {
			t.Fatal(err)
		}
		r := res.(*sgsip.Response)
		br, _ := r.Via().Params.Get("branch")
		if string(m.Via.Branch) != br || m.CSeq != r.CSeq().SeqNo || m.StatusCode != int(r.StatusCode) {
			t.Errorf("%s: sipwire %q/%d/%d, sipgo %q/%d/%d", c.name, m.Via.Branch, m.CSeq, m.StatusCode, br, r.CSeq().SeqNo, r.StatusCode)
		}
		if ct := r.Contact(); ct != nil {
			exp, _ := ct.Params.Get("expires")
			if want := m.Contacts[0].Expires; exp == "" || want < 0 {
				t.Errorf("%s: contact expires %q / %d", c.name, exp, want)
			}
		}
	}
}

func BenchmarkRegstorm(b *testing.B) {
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var m sipwire.Msg
			b.SetBytes(int64(len(c.msg)))
			b.ReportAllocs()
			for b.Loop() {
				if err := m.Parse(c.msg); err != nil {
					b.Fatal(err)
				}
				if m.Via.Branch == nil || m.CSeq == 0 {
					b.Fatal("missing")
				}
			}
		})
	}
}

func BenchmarkSipgo(b *testing.B) {
	p := sgsip.NewParser()
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.msg)))
			b.ReportAllocs()
			for b.Loop() {
				msg, err := p.ParseSIP(c.msg)
				if err != nil {
					b.Fatal(err)
				}
				// Read what a UAC needs, as the regstorm benchmark does.
				r := msg.(*sgsip.Response)
				if br, _ := r.Via().Params.Get("branch"); br == "" || r.CSeq().SeqNo == 0 {
					b.Fatal("missing")
				}
				if ct := r.Contact(); ct != nil {
					_, _ = ct.Params.Get("expires")
				}
			}
		})
	}
}
