#!/usr/bin/env bash
# N NAPs (default 10^7) in one regstorm process against `regstorm
# registrar` as its own process, UDP (issue 17): a windowed ramp (no
# --rate: at most WINDOW first REGISTERs in flight), then a hold of HOLD
# seconds with --expires EXPIRES (10^7 / 300 s ≈ 33 000 refreshes/s),
# then the un-REGISTER drain. Per run: registered, timeouts, the ramp's
# time to all registered and its rate, refresh timing error p99, the
# tester's peak RSS per NAP and Go heap per NAP, its CPU per transaction,
# and the registrar's RSS per binding at the end of the hold (sampled
# every 5 s; the largest) and its CPU.
#   N=1000000 HOLD=60 RUNS=1 bench/ten-million.sh      (a step on the way)
#   RUNS=1 bench/ten-million.sh                         (10^7, ~15 min)
#   ARGS="--expires-jitter 400" ...                     (more flags for the tester)
# Loopback only; each run bounded by timeout; ~4 GB of RAM at 10^7.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-10000000}"; HOLD="${HOLD:-600}"; EXPIRES="${EXPIRES:-600}"; WINDOW="${WINDOW:-2000}"
ARGS="${ARGS:-}"; RUNS="${RUNS:-1}"; PORT="${PORT:-25170}"; LOCK="${LOCK:-/tmp/measure.lock}"
OUT="${OUT:-bench/out/ten-million}"; mkdir -p "$OUT"; OUT="$(cd "$OUT" && pwd)"
if [ -n "${BIN:-}" ]; then cp "$BIN" "$OUT/regstorm"; else go build -o "$OUT/regstorm" ./cmd/regstorm; fi
RAMP=$((N / 50000 + 30)) # seconds allowed for the ramp: half the goal rate, and some
HZ=$(getconf CLK_TCK)
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
cpu_s() { awk -v hz="$HZ" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0; }
: > "$OUT/results.txt"
for run in $(seq "$RUNS"); do
  flock "$LOCK" bash -c '
    "$0/regstorm" registrar --listen "127.0.0.1:$1" --transport udp 2> "$0/registrar.log" &
    REG=$!
    trap "kill $REG 2>/dev/null || true" EXIT
    sleep 1
    base=$(awk "/^VmRSS/ {print \$2}" /proc/$REG/status)
    /usr/bin/time -f "%e %U %S %M" -o "$0/t.txt" timeout $(($4 + $5 + 400)) "$0/regstorm" --target "sip:127.0.0.1:$1" \
      --naps "$2" --expires "$3" --window "$6" $8 --duration "$(($4 + $5))s" --drain 300s --quiet --summary "$0/s.json" &
    T=$!
    peak=0; regcpu=0
    while kill -0 $T 2>/dev/null; do
      r=$(awk "/^VmRSS/ {print \$2}" /proc/$REG/status)
      [ "$r" -gt "$peak" ] && peak=$r
      sleep 5
    done
    wait $T || true
    regcpu=$(awk -v hz="$7" "{printf \"%.2f\", (\$14 + \$15) / hz}" /proc/$REG/stat)
    echo "$base $peak $regcpu" > "$0/reg.txt"
  ' "$OUT" "$PORT" "$N" "$EXPIRES" "$RAMP" "$HOLD" "$WINDOW" "$HZ" "$ARGS"
  read -r wall u s m < "$OUT/t.txt"
  read -r base peak regcpu < "$OUT/reg.txt"
  cp "$OUT/s.json" "$OUT/s$run.json"
  python3 - "$OUT/s$run.json" "$run" "$N" "$u" "$s" "$m" "$base" "$peak" "$regcpu" <<'PY' | tee -a "$OUT/results.txt"
import json, sys
s = json.load(open(sys.argv[1]))
run, n = sys.argv[2], int(sys.argv[3])
cpu = float(sys.argv[4]) + float(sys.argv[5])
peak_kb, base_kb, reg_peak_kb, reg_cpu = int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8]), float(sys.argv[9])
t_all = s.get("time_to_all_registered_s")
inflight = s.get("in_flight") or 0
abandoned = s.get("abandoned") or 0
final = sum(s["responses"].values())
print(f"run={run} naps={n} registered={s['registered']} unregistered={s['unregistered']} requests={s['requests']} "
      f"final={final} timeouts={s['timeouts']} abandoned={abandoned} in_flight={inflight} "
      f"adds_up={s['requests'] == final + s['timeouts'] + abandoned + inflight} "
      f"retrans={s['retransmissions']} time_to_all_s={t_all} ramp_per_s={n / t_all if t_all else 0:.0f} "
      f"refresh_p99_ms={s['refresh_error_ms']['p99']} p99_ms={s['latency_ms']['p99']} "
      f"us_per_tx={cpu / s['requests'] * 1e6:.2f} cpu_s={cpu:.0f} peak_rss_mb={peak_kb / 1024:.0f} rss_per_nap_b={peak_kb * 1024 / n:.0f} "
      f"heap_per_nap_b={s['process']['heap_bytes'] / n:.0f} "
      f"registrar_rss_mb={reg_peak_kb / 1024:.0f} registrar_b_per_binding={(reg_peak_kb - base_kb) * 1024 / n:.0f} registrar_cpu_s={reg_cpu:.0f}")
PY
done
