#!/usr/bin/env bash
# The floor against regstorm (issue 7, target 1): at each RATE, RUNS times,
# alternating:
#   - bench/echo: the barest UDP round trip (500 bytes, sendmmsg/recvmmsg),
#     client CPU per round trip;
#   - regstorm against `regstorm registrar` (its own process): NAPs =
#     RATE × 5 with --expires 10 and --rate RATE, so after a 5 s ramp the
#     refreshes run at RATE/s; tester CPU (/usr/bin/time) per transaction
#     (requests in the summary, un-REGISTERs of the drain included).
# TICKS lists the --tick values to run (default 1ms). Prints medians,
# min–max and regstorm/echo. Loopback only, bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
RATES="${RATES:-2000 33000}"; RUNS="${RUNS:-5}"; SECS="${SECS:-10}"; PORT="${PORT:-25130}"; TICKS="${TICKS:-1ms}"
OUT="${OUT:-bench/out/floor}"; mkdir -p "$OUT"; OUT="$(cd "$OUT" && pwd)"
go build -o "$OUT/regstorm" ./cmd/regstorm
(cd bench && go build -mod=mod -o "$OUT/echo" ./echo)
"$OUT/regstorm" registrar --listen "127.0.0.1:$PORT" --transport udp 2> "$OUT/registrar.log" &
REG=$!
trap 'kill $REG 2>/dev/null || true' EXIT
sleep 1
: > "$OUT/results.txt"
for rate in $RATES; do
  for run in $(seq "$RUNS"); do
    # The responder stops after 2 s idle: one per client run.
    "$OUT/echo" serve -addr "127.0.0.1:$((PORT + 1))" > "$OUT/echo-serve.log" 2>&1 &
    ECHO=$!
    sleep 0.2
    timeout 120 "$OUT/echo" client -addr "127.0.0.1:$((PORT + 1))" -rate "$rate" -n $((rate * SECS)) > "$OUT/echo.out"
    wait "$ECHO"
    us=$(sed -n 's/.*CPU [0-9.]* s, \([0-9.]*\) us per round trip.*/\1/p' "$OUT/echo.out")
    echo "echo tick=- rate=$rate run=$run us=$us $(grep -o '[0-9]* echoed' "$OUT/echo.out" | tr ' ' '=')" | tee -a "$OUT/results.txt"
    for tick in $TICKS; do
      /usr/bin/time -f '%U %S' -o "$OUT/t.txt" timeout 120 "$OUT/regstorm" --target "sip:127.0.0.1:$PORT" --tick "$tick" \
        --naps $((rate * 5)) --expires 10 --rate "$rate" --duration "$((SECS + 5))s" --drain 20s --quiet --summary "$OUT/s.json"
      read -r u s < "$OUT/t.txt"
      python3 - "$OUT/s.json" "$rate" "$run" "$u" "$s" "$tick" <<'PY' | tee -a "$OUT/results.txt"
import json, sys
s = json.load(open(sys.argv[1]))
cpu = float(sys.argv[4]) + float(sys.argv[5])
print(f"regstorm tick={sys.argv[6]} rate={sys.argv[2]} run={sys.argv[3]} us={cpu / s['requests'] * 1e6:.2f} requests={s['requests']} "
      f"timeouts={s['timeouts']} retrans={s['retransmissions']} p50_ms={s['latency_ms']['p50']} refresh_p99_ms={s['refresh_error_ms']['p99']}")
PY
    done
  done
done
python3 - "$OUT/results.txt" <<'PY'
import statistics, sys
rows = [(l.split()[0], dict(x.split("=", 1) for x in l.split()[1:])) for l in open(sys.argv[1])]
for rate in sorted({r["rate"] for _, r in rows}, key=int):
    e = [float(r["us"]) for t, r in rows if t == "echo" and r["rate"] == rate]
    print(f"rate {rate}/s: echo {statistics.median(e):.2f} µs per round trip (min {min(e):.2f}, max {max(e):.2f}, n={len(e)})")
    for tick in sorted({r["tick"] for t, r in rows if t == "regstorm"}):
        g = [float(r["us"]) for t, r in rows if t == "regstorm" and r["rate"] == rate and r["tick"] == tick]
        if g:
            print(f"  regstorm --tick {tick}: {statistics.median(g):.2f} µs per transaction (min {min(g):.2f}, max {max(g):.2f}, n={len(g)}); "
                  f"regstorm/echo = {statistics.median(g) / statistics.median(e):.2f}x")
PY
