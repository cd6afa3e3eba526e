#!/usr/bin/env bash
# The TLS handshake storm after a registrar restart, and TLS resumption on
# and off (issue 15), for bench/RESULTS.md: runs the integration tests
# TestTLSRestartStorm10k and TestTLSResumeOnAndOff1k RUNS times each
# (default 5) and prints each run's figures and their median, min and max.
# Each run starts `regstorm registrar` as its own process (10 000 TLS
# connections on each side: the descriptor limit is per process).
# Loopback only; a storm run takes about 30-45 s, a resumption run 20 s.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-5}"
OUT="${OUT:-bench/out}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
go test -tags integration -c -o "$OUT/integration.test" ./integration/

stats() { # name, then values on stdin
  sort -g | awk -v n="$1" '{v[NR]=$1} END {m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%-46s median %9.2f  min %9.2f  max %9.2f  (n=%d)\n", n, m, v[1], v[NR], NR}'
}

# field NAME: the value of NAME=... on each line of stdin.
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

: > "$OUT/storm.runs"
: > "$OUT/resume.runs"
for i in $(seq "$RUNS"); do
  # The tests find ../cmd/regstorm from the integration directory.
  (cd integration && "$OUT/integration.test" -test.run '^TestTLSRestartStorm10k$' -test.v -test.count=1) > "$OUT/storm.$i.log" 2>&1 ||
    { tail -30 "$OUT/storm.$i.log"; exit 1; }
  grep '^STORM' "$OUT/storm.$i.log" | tee -a "$OUT/storm.runs"
  (cd integration && "$OUT/integration.test" -test.run '^TestTLSResumeOnAndOff1k$' -test.v -test.count=1) > "$OUT/resume.$i.log" 2>&1 ||
    { tail -30 "$OUT/resume.$i.log"; exit 1; }
  grep '^RESUME' "$OUT/resume.$i.log" | tee -a "$OUT/resume.runs"
done

echo "== the storm: 10 000 per-nap TLS NAPs, registrar SIGKILLed and restarted"
S="$OUT/storm.runs"
field ramp_s < "$S" | stats "ramp: all 10 000 bound (s)"
field restart_s < "$S" | stats "kill to restarted registrar listening (s)"
field rebound_s < "$S" | stats "restart to all 10 000 bound again (s)"
field rate_avg < "$S" | stats "storm handshakes/s, mean over that time"
field rate_peak < "$S" | stats "storm handshakes/s, best snapshot second"
field p50_ms < "$S" | stats "storm handshake p50 (ms)"
field p90_ms < "$S" | stats "storm handshake p90 (ms)"
field p99_ms < "$S" | stats "storm handshake p99 (ms)"
field max_ms < "$S" | stats "storm handshake max (ms)"
field full < "$S" | stats "storm handshakes full"
field resumed < "$S" | stats "storm handshakes resumed"
field connect_failures < "$S" | stats "connect failures"

for mode in resume no-resume; do
  echo "== 1 000 per-nap TLS NAPs, --close-after-answer, $mode"
  R="$OUT/resume.$mode.runs"
  grep " mode=$mode " "$OUT/resume.runs" > "$R"
  field connects < "$R" | stats "$mode: connects"
  field full < "$R" | stats "$mode: full handshakes"
  field resumed < "$R" | stats "$mode: resumed handshakes"
  field p50_ms < "$R" | stats "$mode: handshake p50 (ms)"
  field p99_ms < "$R" | stats "$mode: handshake p99 (ms)"
  field registrar_us < "$R" | stats "$mode: registrar CPU per connection (us)"
  field tester_us < "$R" | stats "$mode: tester CPU per connection (us)"
done
