#!/usr/bin/env bash
# The embedded registrar's bytes per binding (issue 17): `regstorm
# registrar` as its own process (UDP), filled by `regstorm` with N NAPs
# (--expires 3600: no refresh while it is measured), one binding per AOR.
#   bytes per binding = (registrar VmRSS holding N − VmRSS holding none) / N
# VmRSS from /proc/PID/status once the registrar's own count (SIGUSR1's
# "held for N AoRs") reaches N and HOLD (2) s more have passed; then the tester
# is SIGKILLed (no un-REGISTER drain) and the registrar stopped. The
# registrar runs with GODEBUG=gctrace=1: its last GC line gives the heap
# it last marked live and its goal. The tester's VmRSS is read at the
# same moment (both must fit in this machine together), and the
# registrar's CPU seconds (utime+stime) since it started.
# HOLD=S measures S seconds after the fill instead of 2 (with EXPIRES=60,
# say, after S seconds of refreshes: does the RSS stay put?).
#
# Two builds, alternately, RUNS times each: OLD (default: built from
# OLDREF, default main, via git archive) and NEW (default: built from this
# checkout). Medians. Loopback only; each run bounded by timeout.
#   N=1000000 RUNS=5 bench/registrar-memory.sh
#   OLD=/path/old NEW=/path/new N=2000000 bench/registrar-memory.sh
#   BUILDS=new N=10000000 RUNS=1 bench/registrar-memory.sh   (one build)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-1000000}"; RUNS="${RUNS:-5}"; PORT="${PORT:-25160}"; WINDOW="${WINDOW:-2000}"
EXPIRES="${EXPIRES:-3600}"; HOLD="${HOLD:-2}"
BUILDS="${BUILDS:-old new}"; OLDREF="${OLDREF:-main}"
FILL_TIMEOUT="${FILL_TIMEOUT:-$((60 + N / 5000))}" # seconds to wait for N bindings
OUT="${OUT:-bench/out/registrar-memory}"; mkdir -p "$OUT"; OUT="$(cd "$OUT" && pwd)"
if [[ " $BUILDS " == *" new "* && -z "${NEW:-}" ]]; then
  go build -o "$OUT/regstorm-new" ./cmd/regstorm; NEW="$OUT/regstorm-new"
fi
if [[ " $BUILDS " == *" old "* && -z "${OLD:-}" ]]; then
  rm -rf "$OUT/old-src"; mkdir -p "$OUT/old-src"
  git archive --format=tar "$OLDREF" | tar -x -C "$OUT/old-src"
  (cd "$OUT/old-src" && go build -o "$OUT/regstorm-old" ./cmd/regstorm)
  OLD="$OUT/regstorm-old"
fi
TESTER="${TESTER:-${NEW:-${OLD:-}}}" # one tester for both registrars

HZ=$(getconf CLK_TCK)
cpu_s() { awk -v hz="$HZ" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
held() { # the registrar's own count of bindings held, from its SIGUSR1 line
  local before; before=$(grep -c 'held for' "$OUT/registrar.log" || true)
  kill -USR1 "$1"
  for _ in $(seq 50); do
    [ "$(grep -c 'held for' "$OUT/registrar.log" || true)" -gt "$before" ] && break
    sleep 0.1
  done
  grep 'held for' "$OUT/registrar.log" | tail -1 | sed -n 's/.* \([0-9]*\) held for.*/\1/p'
}
REG=; LOAD=
cleanup() { for p in $LOAD $REG; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

: > "$OUT/results.txt"
for run in $(seq "$RUNS"); do
  for build in $BUILDS; do
    bin=${OLD:-}; [ "$build" = new ] && bin=$NEW
    GODEBUG=gctrace=1 "$bin" registrar --listen "127.0.0.1:$PORT" --transport udp 2> "$OUT/registrar.log" &
    REG=$!
    for _ in $(seq 50); do grep -q 'listening on' "$OUT/registrar.log" && break; sleep 0.1; done
    sleep 1
    rss0=$(rss_kb "$REG")
    if [ "$(held "$REG")" != 0 ] || ! grep 'held for' "$OUT/registrar.log" | tail -1 | grep -q ': 0 requests'; then
      echo "registrar-memory: the registrar on port $PORT got requests before the tester started: stray load?" >&2
      exit 1
    fi
    t0=$(date +%s.%N)
    # Not under timeout: $! must be the tester itself, to SIGKILL it below
    # (a SIGKILLed timeout leaves its child running); --duration bounds it.
    "$TESTER" --target "sip:127.0.0.1:$PORT" --naps "$N" --expires "$EXPIRES" \
      --window "$WINDOW" --duration $((FILL_TIMEOUT + HOLD + 30))s --drain 1s --quiet > "$OUT/tester.log" 2>&1 &
    LOAD=$!
    h=0; deadline=$(( $(date +%s) + FILL_TIMEOUT ))
    while [ "$(date +%s)" -lt "$deadline" ]; do
      sleep 1
      h=$(held "$REG"); [ "${h:-0}" -ge "$N" ] && break
    done
    t1=$(date +%s.%N)
    sleep "$HOLD"
    h=$(held "$REG"); rss1=$(rss_kb "$REG"); cpu=$(cpu_s "$REG"); trss=$(rss_kb "$LOAD")
    kill -9 "$LOAD" 2>/dev/null || true; wait "$LOAD" 2>/dev/null || true; LOAD=
    kill "$REG"; wait "$REG" 2>/dev/null || true; REG=
    # gc N @T s P%: ..., A->B->C MB, D MB goal, ...: C is the heap marked live.
    gc=$(grep '^gc ' "$OUT/registrar.log" | tail -1 | sed -n 's/.* \([0-9]*\)->\([0-9]*\)->\([0-9]*\) MB, \([0-9]*\) MB goal.*/\3 \4/p' || true)
    read -r live goal <<< "${gc:-0 0}"
    python3 - "$build" "$run" "$h" "$rss0" "$rss1" "$trss" "$live" "$goal" "$t0" "$t1" "$cpu" <<'PY' | tee -a "$OUT/results.txt"
import sys
b, run, h, r0, r1, t, live, goal, t0, t1, cpu = sys.argv[1:]
h, r0, r1 = int(h or 0), int(r0), int(r1)
print(f"{b} run={run} held={h} rss0_mb={r0 / 1024:.1f} rss_mb={r1 / 1024:.1f} "
      f"bytes_per_binding={(r1 - r0) * 1024 / max(h, 1):.1f} last_gc_live_mb={live} last_gc_goal_mb={goal} "
      f"tester_rss_mb={int(t) / 1024:.0f} fill_s={float(t1) - float(t0):.1f} registrar_cpu_s={cpu}")
PY
  done
done
python3 - "$OUT/results.txt" <<'PY'
import statistics, sys
rows = [(l.split()[0], dict(x.split("=", 1) for x in l.split()[1:])) for l in open(sys.argv[1])]
med = {}
for b in ("old", "new"):
    g = [float(r["bytes_per_binding"]) for t, r in rows if t == b]
    if not g:
        continue
    rss = [float(r["rss_mb"]) for t, r in rows if t == b]
    held = {r["held"] for t, r in rows if t == b}
    med[b] = statistics.median(g)
    print(f"{b}: {med[b]:.1f} B per binding (min {min(g):.1f}, max {max(g):.1f}, n={len(g)}); "
          f"RSS {statistics.median(rss):.0f} MB; held {','.join(sorted(held))}")
if len(med) == 2:
    print(f"new/old = {med['new'] / med['old']:.2f}")
PY
