package runspec

import (
	"testing"
	"time"
)

func TestParseStages(t *testing.T) {
	st, err := ParseStages("30s:1000:200, 1m:5000,30s:0")
	if err != nil || len(st) != 3 || st[0] != (Stage{30 * time.Second, 1000, 200}) || st[1] != (Stage{time.Minute, 5000, 0}) || st[2].NAPs != 0 {
		t.Fatalf("%v %v", st, err)
	}
	for _, bad := range []string{"", "30s", "30s:x", "0s:10", "-1s:10", "30s:-1", "30s:10:x", "30s:10:-1", "30s:10:1:2"} {
		if _, err := ParseStages(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
