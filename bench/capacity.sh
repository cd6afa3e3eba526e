#!/usr/bin/env bash
# regstorm capacity against known limits, each search with the defaults
# unless ARGS adds to them, RUNS times per scenario, each under the
# measurement lock (LOCK). Loopback only; every search bounded by
# --max-time (MAXTIME) and timeout. One line per search: the rate found,
# how it ended, the trials, how long it took, the limit it should find.
#
#   SCENARIOS="cap-udp cap-tcp" CAP=2000 RUNS=1 bench/capacity.sh
#
# Scenarios:
#   cap-udp      regstorm registrar --max-rate CAP (503 over it), UDP
#   cap-tcp      the same over TCP, --sockets shared
#   drop         the same capped registrar dropping 1 % of datagrams
#   nocap        regstorm registrar with no cap: the generator is the limit
#   kam          Kamailio's ratelimit module at CAP (bench/peers/kamailio-ratelimit.cfg)
#   kam-auth     the same with digest auth (CAP registrations per second)
#   shards       two shard processes run a schedule around CAP (--rates, 5 s
#                steps) against regstorm registrar --max-rate CAP with a
#                burst of CAP/10, then merge: the highest clean step
#   refresh-udp  --mode refresh: POP bindings (100 000) registered at FILL/s (3/4 of CAP),
#                then refreshed, against regstorm registrar --max-rate CAP, UDP, --sockets shared;
#                bounded by REFRESH_MAXTIME (420s: the fill is part of the search)
set -euo pipefail
cd "$(dirname "$0")/.."
SCENARIOS="${SCENARIOS:-cap-udp cap-tcp drop nocap kam kam-auth}"; CAP="${CAP:-2000}"; RUNS="${RUNS:-1}"
MAXTIME="${MAXTIME:-300s}"; PORT="${PORT:-25310}"; LOCK="${LOCK:-/tmp/measure.lock}"; ARGS="${ARGS:-}"
OUT="${OUT:-bench/out/capacity}"; mkdir -p "$OUT"; OUT="$(cd "$OUT" && pwd)"
go build -o "$OUT/regstorm" ./cmd/regstorm
RS="$OUT/regstorm"
search() { # scenario run transport extra-args...
  local sc=$1 run=$2 tr=$3; shift 3
  flock "$LOCK" /usr/bin/time -f '%e %M' -o "$OUT/t.txt" timeout 600 "$RS" capacity --target "sip:127.0.0.1:$PORT" \
    --transport "$tr" --max-time "${MT:-$MAXTIME}" --summary "$OUT/$sc-$run.json" "$@" $ARGS 2> "$OUT/$sc-$run.log" || true
  python3 - "$OUT/$sc-$run.json" "$sc" "$run" "$CAP" $(cat "$OUT/t.txt") <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))["capacity"]
cap = float(sys.argv[4])
tr = c["trials"]
rt = sum(t["retransmissions"] for t in tr)
pop = c.get("population")
fill = f" bindings={pop['bindings']} fill={pop['fill_rate_per_s']:.0f}/s in {pop['fill_s']:.0f}s" if pop else ""
print(f"{sys.argv[2]} run={sys.argv[3]} rate={c['rate_per_s']:.0f}/s confirmed={c['confirmed']} limited_by={c['limited_by']} "
      f"at_least={c['at_least']} auth={c['auth']} trials={len(tr)} search={float(sys.argv[5]):.0f}s "
      f"retransmissions={rt} rate/cap={c['rate_per_s']/cap:.3f}{fill} rss={int(sys.argv[6])//1024}MB")
PY
}
shards() { # run: a schedule of 5 s steps around CAP in two shard processes, merged, all under the lock
  local run=$1 at rates
  rates=$(python3 -c "c=$CAP; print(','.join(str(round(c*f)) for f in (0.9, 0.95, 0.98, 1.03, 1.08)))")
  (
    flock 9
    local t0=$SECONDS
    at=$(date -u -d '+3 seconds' +%Y-%m-%dT%H:%M:%SZ)
    for k in 0 1; do
      timeout 120 "$RS" capacity --target "sip:127.0.0.1:$PORT" --rates "$rates" --confirm-size 0 --confirm-duration 5s \
        --shard "$k/2" --start-at "$at" --summary "$OUT/shards-$run-$k.json" $ARGS 2> "$OUT/shards-$run-$k.log" &
    done
    wait
    echo $((SECONDS - t0)) > "$OUT/t.txt"
  ) 9> "$LOCK"
  "$RS" merge "$OUT/shards-$run-0.json" "$OUT/shards-$run-1.json" --summary "$OUT/shards-$run.json" 2> "$OUT/shards-$run.log" || true
  python3 - "$OUT/shards-$run.json" "$run" "$CAP" "$(cat "$OUT/t.txt")" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))["capacity"]
cap = float(sys.argv[3])
steps = " ".join(f"{t['rate_per_s']:.0f}:{t['outcome']}" for t in c["trials"])
print(f"shards run={sys.argv[2]} rate={c['rate_per_s']:.0f}/s confirmed={c['confirmed']} limited_by={c['limited_by']} "
      f"at_least={c['at_least']} steps=[{steps}] spread={c['schedule']['start_spread_ms']:.1f}ms "
      f"schedule={float(sys.argv[4]):.0f}s rate/cap={c['rate_per_s']/cap:.3f}")
PY
}
registrar() { "$RS" registrar --listen "127.0.0.1:$PORT" "$@" 2> "$OUT/registrar.log" & REG=$!; sleep 1; }
kamailio_up() { # extra -A defines
  mkdir -p "$OUT/k"; rm -f "$OUT/k/"*
  # -m: shared memory (MB) for a search's bindings (fresh AoRs each trial, left to expire): 64 MB fills at ~50 000
  kamailio -f bench/peers/kamailio-ratelimit.cfg -DD -E -m 1024 -Y "$OUT/k" -A "KPORT=$PORT" -A "KCTL=\"unix:$OUT/k/ctl\"" \
    -A "KJSONRPC=\"$OUT/k/jsonrpc.sock\"" -A "KRATE=$CAP" "$@" > "$OUT/kamailio.log" 2>&1 & REG=$!; sleep 3
}
for sc in $SCENARIOS; do
  for run in $(seq "$RUNS"); do
    case $sc in
      cap-udp) registrar --transport udp --max-rate "$CAP"; search "$sc" "$run" udp ;;
      cap-tcp) registrar --transport tcp --max-rate "$CAP"; search "$sc" "$run" tcp --sockets shared ;;
      drop) registrar --transport udp --max-rate "$CAP" --drop 0.01; search "$sc" "$run" udp ;;
      nocap) registrar --transport udp; search "$sc" "$run" udp ;;
      kam) kamailio_up; search "$sc" "$run" udp ;;
      kam-auth) kamailio_up -A KAUTH=1; search "$sc" "$run" udp --password secret ;;
      shards) registrar --transport udp --max-rate "$CAP" --max-burst "$((CAP / 10))"; shards "$run" ;;
      refresh-udp) registrar --transport udp --max-rate "$CAP"
        MT="${REFRESH_MAXTIME:-420s}" search "$sc" "$run" udp --mode refresh --naps "${POP:-100000}" \
          --fill-rate "${FILL:-$((CAP * 3 / 4))}" --sockets shared ;;
      *) echo "unknown scenario $sc" >&2; exit 2 ;;
    esac
    kill "$REG" 2>/dev/null || true; wait "$REG" 2>/dev/null || true
  done
done | tee -a "$OUT/results.txt"
