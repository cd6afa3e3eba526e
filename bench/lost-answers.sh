#!/usr/bin/env bash
# Lost answers against the embedded registrar with digest auth: `regstorm
# registrar --auth` (UDP) behind bench/lossy, which loses DROP (0.1) of its
# 200s; N (2000) NAPs register at RATE (1000/s) with --expires 60, held
# until SECS (20) s, then un-registered by the drain: 2 N 200s, to the
# authorized REGISTERs and un-REGISTERs. A NAP whose 200 was lost
# retransmits its authorized request: a registrar with a transaction layer
# answers the same 200 again, one without handles it again and refuses the
# repeated nonce count as a replay (a 401: auth-refused for a REGISTER; a
# NAP refused tries again after --retry).
# Two builds, alternately, RUNS (5) times each: OLD and NEW (default: this
# checkout's). Prints per run the tester's registered, auth-refused,
# timeouts and retransmissions, and the answers lossy dropped; medians.
# Loopback only; every run bounded. It does not take /tmp/measure.lock
# itself: run it under flock.
#   OLD=/tmp/regstorm-old bench/lost-answers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OLD:?OLD=path of the old build}"
N="${N:-2000}"; RATE="${RATE:-1000}"; SECS="${SECS:-20}"; DROP="${DROP:-0.1}"; RUNS="${RUNS:-5}"; PORT="${PORT:-25170}"
OUT="${OUT:-bench/out/lost-answers}"; mkdir -p "$OUT"; OUT="$(cd "$OUT" && pwd)"
if [ -z "${NEW:-}" ]; then go build -o "$OUT/regstorm-new" ./cmd/regstorm; NEW="$OUT/regstorm-new"; fi
(cd bench && go build -mod=mod -o "$OUT/lossy" ./lossy)
REG=; RELAY=
cleanup() { for p in $RELAY $REG; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

: > "$OUT/results.txt"
for run in $(seq "$RUNS"); do
  for build in old new; do
    bin=$OLD; [ "$build" = new ] && bin=$NEW
    "$bin" registrar --listen "127.0.0.1:$PORT" --transport udp --auth 2> "$OUT/registrar.log" &
    REG=$!
    "$OUT/lossy" -listen "127.0.0.1:$((PORT + 1))" -to "127.0.0.1:$PORT" -drop "$DROP" > "$OUT/lossy.log" 2>&1 &
    RELAY=$!
    sleep 1
    timeout $((SECS + 60)) "$NEW" --target "sip:127.0.0.1:$((PORT + 1))" --naps "$N" --rate "$RATE" --expires 60 \
      --duration "${SECS}s" --drain 10s --quiet --summary "$OUT/s.json" > "$OUT/tester.log" 2>&1 || true
    kill -INT "$RELAY"; wait "$RELAY" 2>/dev/null || true; RELAY=
    kill "$REG"; wait "$REG" 2>/dev/null || true; REG=
    python3 - "$OUT/s.json" "$build" "$run" "$(cat "$OUT/lossy.log")" <<'PY' | tee -a "$OUT/results.txt"
import json, re, sys
s = json.load(open(sys.argv[1]))
f = s.get("failures") or {}
lost = re.search(r"lost (\d+)", sys.argv[4])
print(f"{sys.argv[2]} run={sys.argv[3]} registered={s['registered']} auth_refused={f.get('auth-refused', {}).get('count', 0)} "
      f"timeouts={s['timeouts']} retransmissions={s['retransmissions']} answers_lost={lost.group(1) if lost else '?'}")
PY
  done
done
python3 - "$OUT/results.txt" <<'PY'
import statistics, sys
rows = [(l.split()[0], dict(x.split("=", 1) for x in l.split()[1:])) for l in open(sys.argv[1])]
for b in ("old", "new"):
    g = lambda k: statistics.median(float(r[k]) for t, r in rows if t == b)
    print(f"{b}: medians: registered {g('registered'):.0f}, auth-refused {g('auth_refused'):.0f}, timeouts {g('timeouts'):.0f}, "
          f"retransmissions {g('retransmissions'):.0f}, answers lost {g('answers_lost'):.0f}")
PY
