package nap

import (
	"testing"
	"time"

	"github.com/regstorm/regstorm/scheduler"
	"github.com/regstorm/regstorm/sipwire"
)

type nopLink struct{ sent int }

func (l *nopLink) Send(uint32, []byte) { l.sent++ }
func (l *nopLink) Connect(uint32)      {}

type nopTally struct{ n int }

func (t *nopTally) Tally(uint32, Action, bool, time.Duration) { t.n++ }

// The hot path through the Driver allocates nothing: a refresh timer
// fires, the REGISTER goes out, its 200 is routed and handled, the next
// refresh is armed. (An Action handed to the Tally by pointer was moved
// to the heap: one allocation per action.)
func TestDriverRefreshAllocs(t *testing.T) {
	var clock scheduler.SimClock
	link, tally := &nopLink{}, &nopTally{}
	m := NewMachine(DefaultConfig(), benchDir{}) // an identity without fmt
	m.Salt = 0x5a17
	d := NewDriver(m, 1, &clock, time.Millisecond, link, tally)
	d.Start(0, false, 0)
	var req, resp sipwire.Msg
	_ = req.Parse(m.Out)
	raw := response(&req, 200, "OK", contactOf(&req, 3600))
	branch := make([]byte, 0, 64)
	cycle := func() {
		_ = resp.Parse(raw)
		branch = sipwire.AppendBranch(branch[:0], m.Salt, BranchID(0, d.NAPs[0].Txn))
		resp.Via.Branch, resp.CSeq = branch, d.NAPs[0].CSeq
		clock.Set(clock.Now() + 20*time.Millisecond)
		i, ok := d.Route(&resp)
		if !ok {
			t.Fatal("not routed")
		}
		d.Response(i, &resp, 0)
		due, _ := d.Wheel.Scheduled(0)
		clock.Set(due)
		d.Advance(due) // the refresh
	}
	cycle()
	if a := testing.AllocsPerRun(100, cycle); a != 0 && !raceEnabled {
		t.Errorf("%v allocations per refresh through the Driver, want 0", a)
	}
	if d.NAPs[0].State != Trying || link.sent < 100 {
		t.Errorf("state %v, %d sends", d.NAPs[0].State, link.sent)
	}
}
