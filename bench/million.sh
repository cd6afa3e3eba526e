#!/usr/bin/env bash
# 10^6 NAPs with --expires 60 (≈ 33 000 refreshes/s) against `regstorm
# registrar` in its own process (issue 7, target 3), RUNS times: ramp at
# 33 334/s (30 s), hold, drain. Per run: timeouts, retransmissions,
# refresh timing error p99, tester CPU per transaction, tester peak RSS,
# the tester's Go heap at the end of the load (summary "process"), and its
# heap, goroutines and fds over the last minute (summary timeline).
# Loopback only; bounded by timeout. Needs ~1 GB of RAM for the registrar.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-5}"; SECS="${SECS:-150}"; PORT="${PORT:-25140}"
OUT="${OUT:-bench/out/million}"; mkdir -p "$OUT"; OUT="$(cd "$OUT" && pwd)"
# BIN: a build to measure instead of this checkout's (before/after).
if [ -n "${BIN:-}" ]; then cp "$BIN" "$OUT/regstorm"; else go build -o "$OUT/regstorm" ./cmd/regstorm; fi
: > "$OUT/results.txt"
for run in $(seq "$RUNS"); do
  "$OUT/regstorm" registrar --listen "127.0.0.1:$PORT" --transport udp 2> "$OUT/registrar.log" &
  REG=$!
  sleep 1
  /usr/bin/time -f '%U %S %M' -o "$OUT/t.txt" timeout $((SECS + 200)) "$OUT/regstorm" --target "sip:127.0.0.1:$PORT" \
    --naps 1000000 --expires 60 --rate 33334 --duration "${SECS}s" --drain 60s --quiet --summary "$OUT/s$run.json"
  kill $REG; wait $REG 2>/dev/null || true
  read -r u s m < "$OUT/t.txt"
  python3 - "$OUT/s$run.json" "$run" "$u" "$s" "$m" <<'PY' | tee -a "$OUT/results.txt"
import json, sys
s = json.load(open(sys.argv[1]))
cpu = float(sys.argv[3]) + float(sys.argv[4])
last = s["timeline"][-60:]
rng = lambda k: f"{min(p[k] for p in last)}-{max(p[k] for p in last)}"
print(f"run={sys.argv[2]} registered={s['registered']} unregistered={s['unregistered']} requests={s['requests']} "
      f"timeouts={s['timeouts']} retrans={s['retransmissions']} refresh_p99_ms={s['refresh_error_ms']['p99']} "
      f"p99_ms={s['latency_ms']['p99']} us_per_tx={cpu / s['requests'] * 1e6:.2f} peak_rss_mb={int(sys.argv[5]) / 1024:.0f} "
      f"heap_end_mb={s['process']['heap_bytes'] / 2**20:.0f} heap_per_nap_b={s['process']['heap_bytes'] / 1e6:.0f} "
      f"last_min_heap_mb={min(p['heap_bytes'] for p in last) / 2**20:.0f}-{max(p['heap_bytes'] for p in last) / 2**20:.0f} "
      f"last_min_goroutines={rng('goroutines')} last_min_fds={rng('open_fds')} "
      f"gc_cycles={s['process']['gc_cycles']} gc_cpu_s={s['process']['gc_cpu_seconds']:.2f}")
PY
done
python3 - "$OUT/results.txt" <<'PY'
import statistics, sys
rows = [dict(x.split("=", 1) for x in l.split()) for l in open(sys.argv[1])]
for k in ("timeouts", "retrans", "refresh_p99_ms", "p99_ms", "us_per_tx", "peak_rss_mb", "heap_per_nap_b"):
    v = [float(r[k]) for r in rows]
    print(f"{k:16s} median {statistics.median(v):10.2f}  min {min(v):10.2f}  max {max(v):10.2f}  (n={len(v)})")
PY
