package locate

// Order gives NAP n's order over res.Targets, as indexes into it.
//
// Targets fall into tiers: runs of one transport and one SRV priority,
// tried in the Result's order. In a tier, the SRV records (the targets of
// one name and port) are weighted: record i comes first for Weight[i] of
// every W consecutive NAPs, W the tier's total weight (all records count
// as 1 when every weight is 0; a record of weight 0 among others is never
// first). So 400 NAPs over weights 3:1 give exactly 300 and 100. The
// records after the first follow in the tier's order, wrapping around.
// Within a record, IPv4 addresses come before IPv6 ones, and each family
// is rotated by n/W, so that NAPs spread over a name's A records too.
//
// The first record is chosen by (n mod W)·s mod W, s coprime with W near
// W/φ: the same counts as plain n mod W over every W NAPs, but consecutive
// NAPs alternate between records instead of coming in blocks, so a ramp
// reaches every server from its start.
func Order(res Result, n uint64) []int {
	ts := res.Targets
	out := make([]int, 0, len(ts))
	for start := 0; start < len(ts); {
		end := start + 1
		for end < len(ts) && ts[end].Transport == ts[start].Transport && ts[end].Priority == ts[start].Priority {
			end++
		}
		out = tier(out, ts, start, end, n)
		start = end
	}
	return out
}

// span is one SRV record's targets: ts[start:end].
type span struct{ start, end int }

// tier appends the order of ts[start:end], one tier, for NAP n.
func tier(out []int, ts []Target, start, end int, n uint64) []int {
	var recs []span
	for i := start; i < end; i++ {
		if i == start || !sameRecord(ts[i], ts[i-1]) {
			recs = append(recs, span{i, i})
		}
		recs[len(recs)-1].end = i + 1
	}
	weight := func(r span) uint64 { return uint64(ts[r.start].Weight) }
	var total uint64
	for _, r := range recs {
		total += weight(r)
	}
	if total == 0 {
		weight = func(span) uint64 { return 1 }
		total = uint64(len(recs))
	}
	point := n % total * spreadStep(total) % total
	first := 0
	for acc := uint64(0); first < len(recs); first++ {
		if acc += weight(recs[first]); point < acc {
			break
		}
	}
	for k := range recs {
		out = appendRecord(out, ts, recs[(first+k)%len(recs)], n/total)
	}
	return out
}

func sameRecord(a, b Target) bool {
	return a.Name == b.Name && a.Addr.Port() == b.Addr.Port() && a.Weight == b.Weight
}

// appendRecord appends a record's targets: its IPv4 ones rotated by rot,
// then its IPv6 ones rotated by rot.
func appendRecord(out []int, ts []Target, r span, rot uint64) []int {
	split := r.start
	for split < r.end && ts[split].Addr.Addr().Is4() {
		split++
	}
	for _, fam := range []span{{r.start, split}, {split, r.end}} {
		size := uint64(fam.end - fam.start)
		for k := range size {
			out = append(out, fam.start+int((rot+k)%size))
		}
	}
	return out
}

// spreadStep is the multiplier that scatters consecutive NAPs over a
// tier: coprime with total, so that it permutes 0..total-1, and near
// total/φ, so that neighbours land far apart.
func spreadStep(total uint64) uint64 {
	s := max(1, total*618/1000)
	for gcd(s, total) != 1 {
		s++
	}
	return s
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
