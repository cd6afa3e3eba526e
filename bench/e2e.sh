#!/usr/bin/env bash
# End-to-end figures for bench/RESULTS.md (issue 4): each scenario RUNS
# times (default 5); prints per-run lines and the median, min and max of
# time-to-all-registered, peak RSS and CPU seconds. Loopback only, bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-5}"
OUT="${OUT:-bench/out}"
mkdir -p "$OUT"
go build -o "$OUT/regstorm" ./cmd/regstorm
BIN="$OUT/regstorm"

stats() { # name, then values on stdin
  sort -g | awk -v n="$1" '{v[NR]=$1} END {m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%-44s median %10.3f  min %10.3f  max %10.3f  (n=%d)\n", n, m, v[1], v[NR], NR}'
}

# measure NAME ARGS...: runs regstorm under /usr/bin/time, records figures.
measure() {
  local name="$1"; shift
  : > "$OUT/$name.runs"
  for i in $(seq "$RUNS"); do
    /usr/bin/time -f '%M %U %S' -o "$OUT/time.txt" timeout 120 "$BIN" "$@" --quiet --summary "$OUT/$name.json"
    read -r rss usr sys < "$OUT/time.txt"
    python3 - "$OUT/$name.json" "$rss" "$usr" "$sys" >> "$OUT/$name.runs" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
rss, usr, sys_ = int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
print(s["time_to_all_registered_s"] or -1, rss / 1024, usr + sys_, s["registered"], s["timeouts"], s["retransmissions"], s["requests"], s["latency_ms"]["p99"])
PY
  done
  echo "== $name: $*"
  cat "$OUT/$name.runs"
  awk '{print $1}' "$OUT/$name.runs" | stats "$name time to all registered (s)"
  awk '{print $2}' "$OUT/$name.runs" | stats "$name peak RSS (MiB)"
  awk '{print $3}' "$OUT/$name.runs" | stats "$name CPU user+sys (s)"
  awk '{print $8}' "$OUT/$name.runs" | stats "$name transaction p99 (ms)"
}

[ "${SKIP_EMBEDDED:-}" ] || measure udp-100k --naps 100000 --duration 10s

# TCP per-nap needs a descriptor per NAP on both sides: with this machine's
# hard limit of 20000 the registrar runs as its own process.
PORT="${PORT:-25060}"
"$BIN" registrar --listen "127.0.0.1:$PORT" 2> "$OUT/registrar.log" &
REG=$!
trap 'kill $REG 2>/dev/null || true' EXIT
sleep 1
[ "${SKIP_TCP:-}" ] || measure tcp-pernap-10k --target "sip:127.0.0.1:$PORT" --naps 10000 --transport tcp --sockets per-nap --duration 10s
regcpu() { awk '{print $14 + $15}' "/proc/$REG/stat"; } # utime + stime, clock ticks
before=$(regcpu)
measure udp-100k-separate-registrar --target "sip:127.0.0.1:$PORT" --naps 100000 --duration 10s
after=$(regcpu)
reqs=$(awk '{s += $7} END {print s}' "$OUT/udp-100k-separate-registrar.runs")
awk -v b="$before" -v a="$after" -v r="$reqs" -v hz="$(getconf CLK_TCK)" 'BEGIN {
  printf "registrar CPU for %d REGISTERs: %.2f s = %.2f us per REGISTER (%.0f REGISTER/s per core)\n", r, (a-b)/hz, (a-b)/hz/r*1e6, r/((a-b)/hz) }'
kill -INT $REG; wait $REG || true
tail -1 "$OUT/registrar.log"
