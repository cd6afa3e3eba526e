#!/usr/bin/env bash
# The timer wheel's slowest Advance call under a refresh hold (issue 17):
# scheduler.BenchmarkRefreshHold (10^6 timers re-armed 150-450 s ahead,
# advanced a millisecond at a time for 600 simulated seconds) on two
# builds of the scheduler package, alternately, RUNS times each, medians.
# OLD is the package at OLDREF (default main) with this checkout's
# bench_test.go; NEW is this checkout's. The slowest call is how long an
# event loop stalls inside the wheel; with one cascade per coarse slot it
# was the whole level-3 slot (every 262 s) moved in one call.
#   RUNS=5 OLDREF=860bdc7 bench/wheel-cascade.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-5}"; OLDREF="${OLDREF:-main}"
OUT="${OUT:-bench/out/wheel-cascade}"; rm -rf "$OUT"; mkdir -p "$OUT/old/scheduler"
OUT="$(cd "$OUT" && pwd)"
git archive --format=tar "$OLDREF" scheduler | tar -x -C "$OUT/old"
cp scheduler/bench_test.go "$OUT/old/scheduler/"
rm -f "$OUT/old/scheduler/wheel_test.go" # may test what the old wheel lacks
(cd "$OUT/old" && printf 'module wheelold\n\ngo 1.26\n' > go.mod && go test -c -o "$OUT/old.test" ./scheduler)
go test -c -o "$OUT/new.test" ./scheduler
for i in $(seq "$RUNS"); do
  for b in old new; do
    timeout 300 "$OUT/$b.test" -test.run '^$' -test.bench '^BenchmarkRefreshHold$' -test.benchtime 1x |
      awk -v b="$b" '/^BenchmarkRefreshHold/ { for (i = 1; i <= NF; i++) { if ($(i+1) == "ns/firing") f = $i; if ($(i+1) == "worst-µs/advance") w = $i } print b, f, w }' |
      tee -a "$OUT/runs"
  done
done
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for b in old new; do
  printf '%s: worst Advance %s µs (median of %s; runs %s), %s ns per firing\n' "$b" \
    "$(awk -v b="$b" '$1 == b { print $3 }' "$OUT/runs" | median)" "$RUNS" \
    "$(awk -v b="$b" '$1 == b { printf "%s ", $3 }' "$OUT/runs" | sed 's/ $//')" \
    "$(awk -v b="$b" '$1 == b { print $2 }' "$OUT/runs" | median)"
done
