package metrics

import "github.com/HdrHistogram/hdrhistogram-go"

// Diff is what after recorded since before (a copy of it taken earlier):
// the latency of a stretch of the run, from the run's histogram.
func Diff(after, before *hdrhistogram.Histogram) *hdrhistogram.Histogram {
	a := after.Export()
	if before != nil {
		b := before.Export()
		for i := range a.Counts {
			if i < len(b.Counts) {
				a.Counts[i] -= b.Counts[i]
			}
		}
	}
	return hdrhistogram.Import(a)
}
