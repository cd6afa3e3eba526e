#!/usr/bin/env bash
# Tester memory per idle TLS (or WSS) NAP (issue 15): regstorm --sockets
# per-nap against `regstorm registrar` (its own process, restarted per
# run), BIG and SMALL NAPs alternately, RUNS times each, all registered
# with --expires 3600 and then held idle to the end of --duration SECS.
# Per run: RSS, Go heap and goroutines at the end of the load phase
# (summary "process", before the drain), peak RSS (/usr/bin/time).
# Prints the medians and the marginal bytes per NAP,
# (RSS(BIG) − RSS(SMALL)) / (BIG − SMALL), from the medians.
# Each measured run holds /tmp/measure.lock (shared with other measurers).
# Loopback only; bounded by timeout. BIG ≤ ~19 900 (one descriptor per
# connection; the hard RLIMIT_NOFILE here is 20 000).
# TRANSPORT=tls (default) or wss. BIN: a regstorm build to measure.
set -euo pipefail
cd "$(dirname "$0")/.."
BIG="${BIG:-10000}"; SMALL="${SMALL:-500}"; RUNS="${RUNS:-5}"; SECS="${SECS:-40}"
PORT="${PORT:-25220}"; TRANSPORT="${TRANSPORT:-tls}"; LOCK="${LOCK:-/tmp/measure.lock}"
OUT="${OUT:-bench/out/tls-memory}"; mkdir -p "$OUT"; OUT="$(cd "$OUT" && pwd)"
if [ -n "${BIN:-}" ]; then cp "$BIN" "$OUT/regstorm"; else go build -o "$OUT/regstorm" ./cmd/regstorm; fi
case "$TRANSPORT" in
  tls) TARGET="sips:127.0.0.1:$PORT" ;; # one transport: the --listen port
  wss) TARGET="sip:127.0.0.1:$PORT;transport=wss" ;;
  *) echo "TRANSPORT=$TRANSPORT: want tls or wss" >&2; exit 2 ;;
esac

REG=
trap '[ -n "$REG" ] && kill $REG 2>/dev/null || true' EXIT
: > "$OUT/results.txt"
for run in $(seq "$RUNS"); do
  for n in "$BIG" "$SMALL"; do
    "$OUT/regstorm" registrar --listen "127.0.0.1:$PORT" --transport "$TRANSPORT" 2> "$OUT/registrar.log" &
    REG=$!
    for _ in $(seq 50); do grep -q 'listening' "$OUT/registrar.log" 2>/dev/null && break; sleep 0.1; done
    sleep 0.5
    flock "$LOCK" /usr/bin/time -f '%M' -o "$OUT/t.txt" timeout $((SECS + 60)) "$OUT/regstorm" --target "$TARGET" \
      --tls-insecure --naps "$n" --sockets per-nap --expires 3600 --duration "${SECS}s" --quiet --summary "$OUT/s.json"
    kill "$REG"; wait "$REG" 2>/dev/null || true; REG=; sleep 1
    python3 - "$OUT/s.json" "$run" "$n" "$(cat "$OUT/t.txt")" <<'PY' | tee -a "$OUT/results.txt"
import json, sys
s = json.load(open(sys.argv[1]))
p = s["process"]
print(f"run={sys.argv[2]} naps={sys.argv[3]} registered={s['registered']} time_to_all_registered_s={s['time_to_all_registered_s']} "
      f"rss_bytes={p['rss_bytes']} heap_bytes={p['heap_bytes']} goroutines={p['goroutines']} peak_rss_bytes={int(sys.argv[4]) * 1024}")
PY
  done
done
python3 - "$OUT/results.txt" "$BIG" "$SMALL" "$TRANSPORT" <<'PY'
import statistics, sys
rows = [dict(x.split("=", 1) for x in l.split()) for l in open(sys.argv[1])]
big, small = sys.argv[2], sys.argv[3]
med = {}
for n in (big, small):
    rs = [r for r in rows if r["naps"] == n]
    for k in ("rss_bytes", "heap_bytes", "peak_rss_bytes"):
        v = [int(r[k]) for r in rs]
        med[n, k] = statistics.median(v)
        print(f"{sys.argv[4]} naps={n:6s} {k:15s} median {med[n, k] / 2**20:8.1f} MiB  min {min(v) / 2**20:8.1f}  max {max(v) / 2**20:8.1f}  (n={len(v)}, registered: {sorted({r['registered'] for r in rs})})")
d = int(big) - int(small)
for k in ("rss_bytes", "heap_bytes", "peak_rss_bytes"):
    print(f"{sys.argv[4]} marginal {k:15s} per idle NAP: {(med[big, k] - med[small, k]) / d:8.0f} B = {(med[big, k] - med[small, k]) / d / 1024:.1f} KiB")
PY
