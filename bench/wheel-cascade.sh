#!/usr/bin/env bash
# The timer wheel before and after a change (issue 17), two builds of the
# scheduler package alternately, RUNS times each, medians. OLD is the
# package at OLDREF (default main) with this checkout's bench_test.go;
# NEW is this checkout's.
# By default BenchmarkRefreshHold: 10^6 timers re-armed 150-450 s ahead,
# advanced a millisecond at a time for 600 simulated seconds; its slowest
# Advance call is how long an event loop stalls inside the wheel (with one
# cascade per coarse slot, the whole level-3 slot moved in one call, every
# 262 s). BENCH picks other benchmarks of scheduler/bench_test.go, and
# BENCHTIME their -test.benchtime (default 1x: right for RefreshHold only).
#   RUNS=5 OLDREF=860bdc7 bench/wheel-cascade.sh
#   BENCH='SetCancel|SetWith1MPending|Fire1M' BENCHTIME=1s RUNS=5 OLDREF=860bdc7 bench/wheel-cascade.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-5}"; OLDREF="${OLDREF:-main}"; BENCH="${BENCH:-RefreshHold}"
OUT="${OUT:-bench/out/wheel-cascade}"; rm -rf "$OUT"; mkdir -p "$OUT/old/scheduler"
OUT="$(cd "$OUT" && pwd)"
git archive --format=tar "$OLDREF" scheduler | tar -x -C "$OUT/old"
cp scheduler/bench_test.go "$OUT/old/scheduler/"
rm -f "$OUT/old/scheduler/wheel_test.go" # may test what the old wheel lacks
(cd "$OUT/old" && printf 'module wheelold\n\ngo 1.26\n' > go.mod && go test -c -o "$OUT/old.test" ./scheduler)
go test -c -o "$OUT/new.test" ./scheduler
for i in $(seq "$RUNS"); do
  for b in old new; do
    # One line per build, benchmark and unit: "old BenchmarkFire1M-2 ns/op 58204712".
    timeout 600 "$OUT/$b.test" -test.run '^$' -test.bench "^Benchmark($BENCH)\$" -test.benchtime "${BENCHTIME:-1x}" |
      awk -v b="$b" '/^Benchmark/ { for (i = 3; i < NF; i += 2) print b, $1, $(i+1), $i }' >> "$OUT/runs"
  done
done
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
awk '{ print $2, $3 }' "$OUT/runs" | sort -u | while read -r bench unit; do
  case "$unit" in B/op|allocs/op) continue ;; esac
  for b in old new; do
    vals=$(awk -v b="$b" -v n="$bench" -v u="$unit" '$1 == b && $2 == n && $3 == u { print $4 }' "$OUT/runs")
    printf '%s %s %s: %s (median of %s; runs %s)\n' "$b" "$bench" "$unit" "$(median <<< "$vals")" "$RUNS" "$(tr '\n' ' ' <<< "$vals" | sed 's/ $//')"
  done
done
