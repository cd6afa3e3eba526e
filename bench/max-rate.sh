#!/usr/bin/env bash
# Maximum sustained REGISTER/s (issue 7): SIPp and regstorm each register
# N users as fast as they can against the same `regstorm registrar` (its own
# process), RUNS times, alternating. Reported: achieved REGISTER/s, failed
# calls or timeouts, and each side's CPU. Loopback only; every run bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-200000}"; RUNS="${RUNS:-3}"; PORT="${PORT:-25110}"; SIPP_RATE="${SIPP_RATE:-100000}"
OUT="${OUT:-bench/out/maxrate}"; mkdir -p "$OUT"; OUT="$(cd "$OUT" && pwd)"
go build -o "$OUT/regstorm" ./cmd/regstorm
{ echo SEQUENTIAL; for i in $(seq 1 "$N"); do printf 'gw%06d;127.0.0.1;\n' "$i"; done; } > "$OUT/users.csv"
"$OUT/regstorm" registrar --listen "127.0.0.1:$PORT" --transport udp 2> "$OUT/registrar.log" &
REG=$!
trap 'kill $REG 2>/dev/null || true' EXIT
sleep 1
for run in $(seq "$RUNS"); do
  /usr/bin/time -f '%e %U %S' -o "$OUT/t.txt" timeout 300 sipp "127.0.0.1:$PORT" -sf bench/peers/sipp/uac-register.xml \
    -inf "$OUT/users.csv" -m "$N" -r "$SIPP_RATE" -rp 1000 -l 20000 -i 127.0.0.1 -t u1 -nostdin -timeout 120s \
    -trace_stat -stf "$OUT/sipp-stat.csv" -fd 1 > "$OUT/sipp.out" 2>&1 || true
  read -r el us sy < "$OUT/t.txt"
  ok=$(grep -m1 "Successful call" "$OUT/sipp.out" | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  failed=$(grep -m1 "Failed call" "$OUT/sipp.out" | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  echo "sipp $run ok=$ok failed=$failed elapsed=$el rate=$(echo "$ok / $el" | bc) cpu=$(echo "$us + $sy" | bc)"
  /usr/bin/time -f '%e %U %S' -o "$OUT/t.txt" timeout 300 "$OUT/regstorm" --target "sip:127.0.0.1:$PORT" --users "$OUT/users.csv" \
    --naps "$N" --window 2000 --duration 6s --quiet --summary "$OUT/s.json"
  read -r el us sy < "$OUT/t.txt"
  python3 - "$OUT/s.json" "$run" "$us" "$sy" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
t = s["time_to_all_registered_s"] or float("nan")
print(f"regstorm {sys.argv[2]} registered={s['registered']} timeouts={s['timeouts']} retrans={s['retransmissions']} "
      f"all_registered_after={t:.2f}s rate={s['registered'] / t:.0f} cpu={float(sys.argv[3]) + float(sys.argv[4]):.2f}")
PY
done
