#!/usr/bin/env bash
# Two builds of regstorm side by side (the engine redesign of issue 13:
# "keep every figure at least as good"): at each RATE, RUNS times,
# alternating the UDP echo floor (bench/echo), OLD and NEW against the
# same `regstorm registrar` process, as bench/floor.sh runs one build:
# NAPs = RATE × 5, --expires 10, --rate RATE, so after a 5 s ramp the
# refreshes run at RATE/s. Tester CPU (/usr/bin/time) per transaction;
# medians, and each build against the echo measured in the same runs.
#   OLD=/path/to/old/regstorm NEW=/path/to/new/regstorm bench/before-after.sh
# OLD_ARGS and NEW_ARGS add flags to each (the same build with two flag
# values: OLD=NEW=bin OLD_ARGS="--tick 1ms" NEW_ARGS="--tick 2ms").
# LOAD=side (issue 17) runs instead bench/side-by-side.sh's regstorm
# load: N users (default 25 000) registered at RATE, held 2 s,
# un-registered by the drain. Loopback only, bounded. It does not take
# /tmp/measure.lock itself: run it under flock.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OLD:?OLD=path of the old build}" "${NEW:?NEW=path of the new build}"
RATES="${RATES:-2000 33000}"; RUNS="${RUNS:-5}"; SECS="${SECS:-10}"; PORT="${PORT:-25150}"
LOAD="${LOAD:-refresh}"; N="${N:-25000}"
read -r -a OLD_X <<< "${OLD_ARGS:-}"; read -r -a NEW_X <<< "${NEW_ARGS:-}"
OUT="${OUT:-bench/out/before-after}"; mkdir -p "$OUT"; OUT="$(cd "$OUT" && pwd)"
(cd bench && go build -mod=mod -o "$OUT/echo" ./echo)
if [ "$LOAD" = side ]; then
  { echo SEQUENTIAL; for i in $(seq 1 "$N"); do printf 'gw%06d;127.0.0.1;secret\n' "$i"; done; } > "$OUT/users.csv"
fi
"$NEW" registrar --listen "127.0.0.1:$PORT" --transport udp 2> "$OUT/registrar.log" &
REG=$!
trap 'kill $REG 2>/dev/null || true' EXIT
sleep 1
: > "$OUT/results.txt"
for rate in $RATES; do
  for run in $(seq "$RUNS"); do
    "$OUT/echo" serve -addr "127.0.0.1:$((PORT + 1))" > "$OUT/echo-serve.log" 2>&1 &
    ECHO=$!
    sleep 0.2
    timeout 120 "$OUT/echo" client -addr "127.0.0.1:$((PORT + 1))" -rate "$rate" -n $((rate * SECS)) > "$OUT/echo.out"
    wait "$ECHO"
    us=$(sed -n 's/.*CPU [0-9.]* s, \([0-9.]*\) us per round trip.*/\1/p' "$OUT/echo.out")
    echo "echo rate=$rate run=$run us=$us" | tee -a "$OUT/results.txt"
    for build in old new; do
      bin=$OLD; x=("${OLD_X[@]}"); [ "$build" = new ] && bin=$NEW && x=("${NEW_X[@]}")
      if [ "$LOAD" = side ]; then
        load=(--users "$OUT/users.csv" --naps "$N" --rate "$rate" --duration "$((N / rate + 2))s")
      else
        load=(--naps $((rate * 5)) --expires 10 --rate "$rate" --duration "$((SECS + 5))s" --drain 20s)
      fi
      /usr/bin/time -f '%U %S %M' -o "$OUT/t.txt" timeout 120 "$bin" --target "sip:127.0.0.1:$PORT" \
        "${load[@]}" --quiet --summary "$OUT/s.json" "${x[@]}" || true
      read -r u s m < "$OUT/t.txt"
      python3 - "$OUT/s.json" "$rate" "$run" "$u" "$s" "$build" "$m" <<'PY' | tee -a "$OUT/results.txt"
import json, sys
s = json.load(open(sys.argv[1]))
cpu = float(sys.argv[4]) + float(sys.argv[5])
print(f"{sys.argv[6]} rate={sys.argv[2]} run={sys.argv[3]} us={cpu / s['requests'] * 1e6:.2f} requests={s['requests']} "
      f"registered={s['registered']} timeouts={s['timeouts']} retrans={s['retransmissions']} "
      f"refresh_p99_ms={s['refresh_error_ms']['p99']} maxrss_kb={sys.argv[7]}")
PY
    done
  done
done
python3 - "$OUT/results.txt" <<'PY'
import statistics, sys
rows = [(l.split()[0], dict(x.split("=", 1) for x in l.split()[1:])) for l in open(sys.argv[1])]
med = lambda xs: statistics.median(xs)
for rate in sorted({r["rate"] for _, r in rows}, key=int):
    e = [float(r["us"]) for t, r in rows if t == "echo" and r["rate"] == rate]
    print(f"rate {rate}/s: echo {med(e):.2f} µs per round trip (min {min(e):.2f}, max {max(e):.2f}, n={len(e)})")
    m = {}
    for b in ("old", "new"):
        g = [float(r["us"]) for t, r in rows if t == b and r["rate"] == rate]
        p = [float(r["refresh_p99_ms"]) for t, r in rows if t == b and r["rate"] == rate]
        m[b] = med(g)
        print(f"  {b}: {med(g):.2f} µs per transaction (min {min(g):.2f}, max {max(g):.2f}, n={len(g)}); /echo = {med(g) / med(e):.2f}x; refresh p99 {med(p):.2f} ms")
    print(f"  new/old = {m['new'] / m['old']:.2f}")
PY
