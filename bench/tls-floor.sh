#!/usr/bin/env bash
# New TLS connections per second: the floor against regstorm (issue 15).
# RUNS times, alternating, each against a fresh `regstorm registrar
# --transport tls` process (TLS on PORT, the one transport's port):
#   - bench/tlsfloor: N bare crypto/tls connections (TCP connect + full
#     handshake, regstorm's TLS configuration and a session cache per
#     connection, 64 dials in flight as regstorm's DialAsync), all held
#     until the last is made, then closed;
#   - regstorm --target sips:… --tls-insecure --naps N --sockets per-nap:
#     N / time_to_all_registered_s. Each of regstorm's connections also
#     carries a REGISTER and its 200 before it counts, so its figure is
#     conservative.
# Per run: connections/s, handshake p50/p99 (from TCP connected to
# handshake done, both sides alike), the client's CPU (user+sys) per
# connection (regstorm's includes its REGISTER, the drain's un-REGISTER
# and the run's fixed costs), and the registrar's CPU per connection.
# Prints medians, min–max and regstorm/floor.
# Each measured run holds /tmp/measure.lock (shared with other measurers).
# Loopback only; every run is bounded by timeout. N ≤ ~19 900 (one
# descriptor per connection; the hard RLIMIT_NOFILE here is 20 000).
# BIN: a regstorm build to measure instead of this checkout's.
# PROFILE=1: also write CPU profiles of each run (OUT/cpuN.prof: regstorm,
# OUT/floorN.prof: the floor).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-10000}"; RUNS="${RUNS:-5}"; PORT="${PORT:-25210}"; SECS="${SECS:-30}"
OUT="${OUT:-bench/out/tls-floor}"; mkdir -p "$OUT"; OUT="$(cd "$OUT" && pwd)"
LOCK="${LOCK:-/tmp/measure.lock}"
if [ -n "${BIN:-}" ]; then cp "$BIN" "$OUT/regstorm"; else go build -o "$OUT/regstorm" ./cmd/regstorm; fi
(cd bench && go build -mod=mod -o "$OUT/tlsfloor" ./tlsfloor)

REG=
trap '[ -n "$REG" ] && kill $REG 2>/dev/null || true' EXIT
start_registrar() {
  "$OUT/regstorm" registrar --listen "127.0.0.1:$PORT" --transport tls 2> "$OUT/registrar.log" &
  REG=$!
  for _ in $(seq 50); do grep -q 'listening' "$OUT/registrar.log" 2>/dev/null && break; sleep 0.1; done
  sleep 0.5
}
# CPU seconds (utime + stime) of the registrar so far.
regcpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$REG/stat"; }
stop_registrar() { kill "$REG"; wait "$REG" 2>/dev/null || true; REG=; sleep 1; }

: > "$OUT/results.txt"
for run in $(seq "$RUNS"); do
  start_registrar
  fprof=(); [ -n "${PROFILE:-}" ] && fprof=(-cpuprofile "$OUT/floor$run.prof")
  flock "$LOCK" /usr/bin/time -f '%e %U %S' -o "$OUT/t.txt" \
    timeout 300 "$OUT/tlsfloor" -addr "127.0.0.1:$PORT" -n "$N" -c 64 -insecure "${fprof[@]}" > "$OUT/floor.out"
  rc=$(regcpu); stop_registrar
  read -r _ u s < "$OUT/t.txt"
  echo "floor run=$run $(cat "$OUT/floor.out" | tr ' ' '\n' | grep -E '^(connections|failed|conn_per_s|handshake_p50_ms|handshake_p99_ms)=' | tr '\n' ' ')cpu_us_per_conn=$(echo "($u + $s) * 1000000 / $N" | bc) registrar_cpu_us_per_conn=$(echo "$rc * 1000000 / $N" | bc)" | tee -a "$OUT/results.txt"

  start_registrar
  prof=(); [ -n "${PROFILE:-}" ] && prof=(--cpuprofile "$OUT/cpu$run.prof")
  flock "$LOCK" /usr/bin/time -f '%e %U %S' -o "$OUT/t.txt" \
    timeout $((SECS + 60)) "$OUT/regstorm" --target "sips:127.0.0.1:$PORT" --tls-insecure \
    --naps "$N" --sockets per-nap --duration "${SECS}s" --quiet --summary "$OUT/s.json" "${prof[@]}"
  rc=$(regcpu); stop_registrar
  read -r _ u s < "$OUT/t.txt"
  python3 - "$OUT/s.json" "$run" "$u" "$s" "$rc" "$N" <<'PY' | tee -a "$OUT/results.txt"
import json, sys
s = json.load(open(sys.argv[1]))
n, t = int(sys.argv[6]), s["time_to_all_registered_s"]
cpu = float(sys.argv[3]) + float(sys.argv[4])
h = s["handshakes"]
print(f"regstorm run={sys.argv[2]} registered={s['registered']} connect_failures={s['connect_failures']} "
      f"handshakes_full={h['full']} time_to_all_registered_s={t} conn_per_s={n / t if t else 0:.0f} "
      f"handshake_p50_ms={h['latency_ms']['p50']} handshake_p99_ms={h['latency_ms']['p99']} "
      f"cpu_us_per_conn={cpu * 1e6 / n:.0f} registrar_cpu_us_per_conn={float(sys.argv[5]) * 1e6 / n:.0f}")
PY
done

python3 - "$OUT/results.txt" "$N" <<'PY'
import statistics, sys
rows = [(l.split()[0], dict(x.split("=", 1) for x in l.split()[1:])) for l in open(sys.argv[1])]
med = {}
for tool in ("floor", "regstorm"):
    print(f"{tool} (N={sys.argv[2]}, n={sum(t == tool for t, _ in rows)} runs):")
    for k in ("conn_per_s", "handshake_p50_ms", "handshake_p99_ms", "cpu_us_per_conn", "registrar_cpu_us_per_conn"):
        v = [float(r[k]) for t, r in rows if t == tool]
        med[tool, k] = statistics.median(v)
        print(f"  {k:26s} median {statistics.median(v):10.1f}  min {min(v):10.1f}  max {max(v):10.1f}")
print(f"regstorm / floor, connections/s: {med['regstorm', 'conn_per_s'] / med['floor', 'conn_per_s']:.2f}")
PY
