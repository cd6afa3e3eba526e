#!/usr/bin/env bash
# Two builds of regstorm side by side (the engine redesign of issue 13:
# "keep every figure at least as good"): at each RATE, RUNS times,
# alternating the UDP echo floor (bench/echo), OLD and NEW against the
# same `regstorm registrar` process, as bench/floor.sh runs one build:
# NAPs = RATE × 5, --expires 10, --rate RATE, so after a 5 s ramp the
# refreshes run at RATE/s. Tester CPU (/usr/bin/time) per transaction;
# medians, and each build against the echo measured in the same runs.
#   OLD=/path/to/old/regstorm NEW=/path/to/new/regstorm bench/before-after.sh
# Loopback only, bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OLD:?OLD=path of the old build}" "${NEW:?NEW=path of the new build}"
RATES="${RATES:-2000 33000}"; RUNS="${RUNS:-5}"; SECS="${SECS:-10}"; PORT="${PORT:-25150}"
OUT="${OUT:-bench/out/before-after}"; mkdir -p "$OUT"; OUT="$(cd "$OUT" && pwd)"
(cd bench && go build -mod=mod -o "$OUT/echo" ./echo)
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
      bin=$OLD; [ "$build" = new ] && bin=$NEW
      /usr/bin/time -f '%U %S %M' -o "$OUT/t.txt" timeout 120 "$bin" --target "sip:127.0.0.1:$PORT" \
        --naps $((rate * 5)) --expires 10 --rate "$rate" --duration "$((SECS + 5))s" --drain 20s --quiet --summary "$OUT/s.json" || true
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
