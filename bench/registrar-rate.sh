#!/usr/bin/env bash
# Registrar REGISTER/s per core (issue 7): the embedded registrar
# (`regstorm registrar`, its own process) against Kamailio (children=1, so
# one UDP worker process), each with and without digest auth, loaded by the
# same regstorm tester as fast as the registrar answers (--window 2000).
# The registrar's own CPU seconds (utime+stime of all its processes, from
# /proc) divided by the REGISTER transactions it answered give µs per
# transaction; 10^6 / that is REGISTER/s per fully used core. RUNS runs per
# configuration, alternating. Loopback only; every run bounded.
# REGS picks the registrars (default "ours kamailio"); "old" is the
# embedded registrar of another build, OLD=/path/to/regstorm (before and
# after a change: REGS="old ours" OLD=/tmp/regstorm-old). The tester is
# always this checkout's build. It does not take /tmp/measure.lock
# itself: run it under flock.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-50000}"; RUNS="${RUNS:-5}"; PORT="${PORT:-25120}"; REGS="${REGS:-ours kamailio}"
OUT="${OUT:-bench/out/registrar-rate}"; mkdir -p "$OUT"; OUT="$(cd "$OUT" && pwd)"
go build -o "$OUT/regstorm" ./cmd/regstorm
if [[ " $REGS " == *" old "* ]]; then : "${OLD:?OLD=path of the old build, for REGS=old}"; fi
HZ=$(getconf CLK_TCK)
cpu_of() { for p in "$@"; do cat "/proc/$p/stat" 2>/dev/null; done | awk -v hz="$HZ" '{s += $14 + $15} END {printf "%.3f", s / hz}'; }

start_ours() { # auth: 0 or 1; binary (default this checkout's)
  local a=(); [ "$1" = 1 ] && a=(--auth)
  "${2:-$OUT/regstorm}" registrar --listen "127.0.0.1:$PORT" --transport udp "${a[@]}" 2> "$OUT/registrar.log" &
  PIDS=$!; sleep 0.5
}
start_kamailio() {
  kamailio -f bench/peers/kamailio.cfg -DD -E -P "$OUT/k.pid" -Y "$OUT" -A "KPORT=$PORT" -A "KCTL=\"unix:$OUT/ctl\"" \
    -A KCHILDREN=1 -A "KAUTH=$1" -A KMINEXP=1 > "$OUT/kamailio.log" 2>&1 &
  KMAIN=$!
  for _ in $(seq 50); do kamcmd -s "unix:$OUT/ctl" core.version >/dev/null 2>&1 && break; sleep 0.1; done
  PIDS="$KMAIN $(pgrep -P "$KMAIN" | tr '\n' ' ')" # its own processes, not another's Kamailio
}
stop_all() { kill $PIDS 2>/dev/null || true; sleep 1; }
PIDS=
trap 'kill $PIDS 2>/dev/null || true; jobs -p | xargs -r kill 2>/dev/null || true' EXIT

: > "$OUT/results.txt"
for run in $(seq "$RUNS"); do
  for reg in $REGS; do
    for auth in 0 1; do
      case $reg in
        ours) start_ours $auth ;;
        old) start_ours $auth "$OLD" ;;
        *) start_kamailio $auth ;;
      esac
      c0=$(cpu_of $PIDS)
      timeout 120 "$OUT/regstorm" --target "sip:127.0.0.1:$PORT" --naps "$N" --window 2000 --duration 4s --drain 10s \
        --quiet --summary "$OUT/s.json"
      c1=$(cpu_of $PIDS)
      stop_all
      python3 - "$OUT/s.json" "$reg" "$auth" "$run" "$c0" "$c1" <<'PY' | tee -a "$OUT/results.txt"
import json, sys
s = json.load(open(sys.argv[1]))
tx = sum(v for k, v in s["responses"].items() if int(k) >= 200)
cpu = float(sys.argv[6]) - float(sys.argv[5])
print(f"{sys.argv[2]} auth={sys.argv[3]} run={sys.argv[4]} transactions={tx} timeouts={s['timeouts']} "
      f"registered={s['registered']} registrar_cpu={cpu:.3f} us_per_tx={cpu / tx * 1e6:.2f}")
PY
    done
  done
done
python3 - "$OUT/results.txt" $REGS <<'PY'
import statistics, sys
rows = [dict(x.split("=", 1) for x in l.split()[1:]) | {"reg": l.split()[0]} for l in open(sys.argv[1])]
regs = sys.argv[2:]
med = {}
for reg in regs:
    for auth in ("0", "1"):
        us = [float(r["us_per_tx"]) for r in rows if r["reg"] == reg and r["auth"] == auth]
        med[reg, auth] = statistics.median(us)
        print(f"{reg:9s} auth={auth}: {statistics.median(us):6.2f} µs/transaction (min {min(us):.2f}, max {max(us):.2f}, n={len(us)}) "
              f"= {1e6 / statistics.median(us):8.0f} REGISTER transactions/s per core")
for auth in ("0", "1"):
    for other in ("kamailio", "old"):
        if other in regs and "ours" in regs:
            print(f"auth={auth}: {other}/ours CPU per transaction = {med[other, auth] / med['ours', auth]:.2f}x")
PY
