package trace

import (
	"fmt"
	"strconv"
	"strings"
)

// Selection is a set of NAPs, as --trace-naps writes it: indexes and
// ranges ("0-9,42"), each either for every group or for one
// ("edge:0-9", "core:3").
type Selection struct {
	ranges []napRange
}

type napRange struct {
	group  string // "": every group
	lo, hi int64
}

// ParseSelection reads a --trace-naps list.
func ParseSelection(s string) (*Selection, error) {
	sel := &Selection{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("%q: an empty item (want e.g. 0-9,42 or group:0-9)", s)
		}
		r := napRange{}
		span := item
		if i := strings.LastIndexByte(item, ':'); i >= 0 {
			r.group, span = item[:i], item[i+1:]
			if r.group == "" {
				return nil, fmt.Errorf("%q: no group before ':'", item)
			}
		}
		lo, hi, isRange := strings.Cut(span, "-")
		var err error
		if r.lo, err = index(lo); err != nil {
			return nil, fmt.Errorf("%q: %v", item, err)
		}
		r.hi = r.lo
		if isRange {
			if r.hi, err = index(hi); err != nil {
				return nil, fmt.Errorf("%q: %v", item, err)
			}
			if r.hi < r.lo {
				return nil, fmt.Errorf("%q: the range ends before it starts", item)
			}
		}
		sel.ranges = append(sel.ranges, r)
	}
	return sel, nil
}

func index(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || s[0] == '+' {
		return 0, fmt.Errorf("%q is not a NAP index (0, 1, …)", s)
	}
	return n, nil
}

// Has tells whether NAP nap of group is selected; a message naming no
// NAP (-1) is not.
func (s *Selection) Has(group string, nap int64) bool {
	for i := range s.ranges {
		r := &s.ranges[i]
		if nap >= r.lo && nap <= r.hi && (r.group == "" || r.group == group) {
			return true
		}
	}
	return false
}

// Groups are the groups the selection names.
func (s *Selection) Groups() []string {
	var gs []string
	for _, r := range s.ranges {
		if r.group != "" {
			gs = append(gs, r.group)
		}
	}
	return gs
}
