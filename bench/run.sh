#!/usr/bin/env bash
# Reproduces the micro-benchmark table of bench/RESULTS.md: every hot-path
# benchmark COUNT times (default 6), and regstorm's parser against sipgo's
# on the same bytes in one run. Summaries by benchstat (median ± spread).
# Run it on an otherwise idle machine: fuzzers or builds in parallel halve
# the figures on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${COUNT:-6}"
OUT="${OUT:-bench/out}"
mkdir -p "$OUT"
go test -run '^$' -bench . -benchmem -count "$COUNT" ./sipwire ./digestfast ./nap | tee "$OUT/hotpath.txt"
go test -run '^$' -bench 'SetCancel|SetWith1MPending' -benchmem -count "$COUNT" ./scheduler | tee "$OUT/wheel.txt"
go test -run '^$' -bench 'Fire1M' -benchtime 3x -benchmem -count "$COUNT" ./scheduler | tee -a "$OUT/wheel.txt"
go test -run 'TestMemoryFor1MTimers' -v ./scheduler | tee -a "$OUT/wheel.txt"
(cd bench && go test -run '^$' -bench . -benchmem -count "$COUNT" ./sipgo) | tee "$OUT/sipgo.txt"
BENCHSTAT="$(go env GOPATH)/bin/benchstat"
if [ ! -x "$BENCHSTAT" ]; then
  GOFLAGS=-mod=mod go install golang.org/x/perf/cmd/benchstat@latest
fi
"$BENCHSTAT" "$OUT/hotpath.txt" "$OUT/wheel.txt" "$OUT/sipgo.txt" | tee "$OUT/summary.txt"
