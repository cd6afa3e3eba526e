//go:build race

package netio

// raceEnabled: the race detector's instrumentation allocates, so
// allocation counts are only asserted in normal builds (as .ci/run runs).
const raceEnabled = true
