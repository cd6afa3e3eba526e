#!/usr/bin/env bash
# The kernel's CPU per UDP datagram on loopback, sent k per sendmmsg, as k
# datagrams or as one segmented (UDP GSO) message, and taken out with
# recvmmsg (issue 17; bench/gso says what each figure covers). RUNS times
# each, alternating; prints medians and min–max. Each run holds
# /tmp/measure.lock (LOCK). Loopback only, bounded.
set -euo pipefail
cd "$(dirname "$0")"
RUNS="${RUNS:-5}"; SIZE="${SIZE:-500}"; N="${N:-200000}"; KS="${KS:-1 4 16 64}"; LOCK="${LOCK:-/tmp/measure.lock}"
OUT="${OUT:-out/gso}"; mkdir -p "$OUT"; OUT="$(cd "$OUT" && pwd)"
go build -mod=mod -o "$OUT/gso" ./gso
: > "$OUT/results.txt"
for run in $(seq "$RUNS"); do
  for k in $KS; do
    for mode in plain gso; do
      [ "$k" = 1 ] && [ "$mode" = gso ] && continue
      flag=(); [ "$mode" = gso ] && flag=(-gso)
      flock "$LOCK" timeout 120 "$OUT/gso" -size "$SIZE" -k "$k" -n "$N" "${flag[@]}" | tee -a "$OUT/results.txt"
    done
  done
  flock "$LOCK" timeout 120 "$OUT/gso" -size "$SIZE" -k 16 -n "$N" -gso -gro | tee -a "$OUT/results.txt"
done
python3 - "$OUT/results.txt" <<'PY'
import re, statistics, sys
rows = {}
for l in open(sys.argv[1]):
    m = re.match(r"size=(\d+) k=(\d+) gso=(\w+) gro=(\w+): sender ([\d.]+) us per datagram, receiver ([\d.]+)", l)
    if m:
        rows.setdefault(m.group(2, 3, 4), []).append((float(m.group(5)), float(m.group(6))))
for (k, gso, gro), v in sorted(rows.items(), key=lambda kv: (int(kv[0][0]), kv[0][1], kv[0][2])):
    s, r = [x[0] for x in v], [x[1] for x in v]
    print(f"k={k:>2} gso={gso:5s} gro={gro:5s}: sender {statistics.median(s):.2f} µs per datagram ({min(s):.2f}–{max(s):.2f}), "
          f"receiver {statistics.median(r):.2f} ({min(r):.2f}–{max(r):.2f}), n={len(v)}")
PY
