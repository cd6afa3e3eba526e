#!/usr/bin/env bash
# SIPp and regstorm side by side (issue 5): the same N users (one SIPp -inf
# file) registered against the same registrar at the same fixed rate, RUNS
# times each, alternating. Records each side's CPU seconds (/usr/bin/time),
# achieved rate, and the registrar's CPU during the run; prints CPU per 1000
# REGISTER transactions and the ratio. Loopback only; every run is bounded,
# and each measured run holds /tmp/measure.lock (LOCK), shared with other
# measurers.
#   PEER=kamailio (default): Kamailio (bench/peers/kamailio.cfg) with digest
#     auth; a SIPp call is REGISTER → 401 → REGISTER → 200.
#   PEER=registrar: `regstorm registrar` in its own process, no auth; a SIPp
#     call is REGISTER → 200, then un-REGISTER → 200
#     (uac-register-unregister.xml), as a regstorm NAP's life is.
#   TRANSPORT=udp (default), or tcp (issue 15): SIPp -t tn, one TCP
#     connection per call, against regstorm --transport tcp --sockets
#     per-nap, one connection per NAP; either way one connection carries
#     the same transactions on both sides with PEER=registrar.
#   ECHO=1 (default with UDP; issue 17): each run also measures the floor,
#     bench/echo (500-byte datagrams, sendmmsg/recvmmsg) at RATE round
#     trips/s, 2N of them, holding LOCK too: client CPU per round trip.
#   REGSTORM_ARGS: more flags for regstorm (e.g. --tick 5ms).
#   BEFORE=/path/to/an/older/regstorm: each run also runs that build's
#     tester (same flags, same registrar), reported as "before".
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-10000}"; RATE="${RATE:-2000}"; RUNS="${RUNS:-5}"; PORT="${PORT:-25090}"
PEER="${PEER:-kamailio}"; TRANSPORT="${TRANSPORT:-udp}"; LOCK="${LOCK:-/tmp/measure.lock}"
ECHO="${ECHO:-$([ "$TRANSPORT" = udp ] && echo 1 || echo 0)}"; read -r -a RS_X <<< "${REGSTORM_ARGS:-}"
OUT="${OUT:-bench/out/side}"; mkdir -p "$OUT"; OUT="$(cd "$OUT" && pwd)" # Kamailio chdirs to /
go build -o "$OUT/regstorm" ./cmd/regstorm
[ "$ECHO" = 1 ] && (cd bench && go build -mod=mod -o "$OUT/echo" ./echo)
{ echo SEQUENTIAL; for i in $(seq 1 "$N"); do printf 'gw%06d;127.0.0.1;secret\n' "$i"; done; } > "$OUT/users.csv"
case "$TRANSPORT" in
  udp) SIPP_T=u1; SIPP_X=(); RS_T=(--transport udp) ;;
  tcp) SIPP_T=tn; SIPP_X=(-max_socket 10000); RS_T=(--transport tcp --sockets per-nap) ;; # SIPp asks for 50 000 descriptors by default
  *) echo "TRANSPORT=$TRANSPORT: want udp or tcp" >&2; exit 2 ;;
esac

case "$PEER" in
kamailio)
  kamailio -f bench/peers/kamailio.cfg -DD -E -P "$OUT/k.pid" -Y "$OUT" \
    -A "KPORT=$PORT" -A "KCTL=\"unix:$OUT/ctl\"" -A KSAMEUSER=0 > "$OUT/kamailio.log" 2>&1 &
  KAM=$!
  trap 'kill $KAM 2>/dev/null || true' EXIT
  for _ in $(seq 50); do kamcmd -s "unix:$OUT/ctl" core.version >/dev/null 2>&1 && break; sleep 0.1; done
  # CPU seconds of all Kamailio processes (utime + stime from /proc, in ticks).
  kamcpu() { for p in $(pgrep -x kamailio); do cat "/proc/$p/stat" 2>/dev/null; done | awk -v hz="$(getconf CLK_TCK)" '{s += $14 + $15} END {printf "%.2f", s / hz}'; }
  SIPP_SF=(-sf bench/peers/sipp/uac-register-auth.xml -au gw000001 -ap secret); PER_CALL=2 ;;
registrar)
  "$OUT/regstorm" registrar --listen "127.0.0.1:$PORT" --transport udp,tcp 2> "$OUT/registrar.log" &
  KAM=$!
  trap 'kill $KAM 2>/dev/null || true' EXIT
  sleep 1
  kamcpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$KAM/stat"; }
  SIPP_SF=(-sf bench/peers/sipp/uac-register-unregister.xml); PER_CALL=2 ;;
*) echo "PEER=$PEER: want kamailio or registrar" >&2; exit 2 ;;
esac
# TCP: SIPp closes each call's connection first, so each run leaves N of
# its ports in TIME-WAIT for 60 s, ports it had bound explicitly, which no
# other connect() may take meanwhile. Two runs' worth and the other jobs'
# connections exhausted the ephemeral ports (regstorm's connects failed
# with EADDRNOTAVAIL, and both tools burnt CPU in the kernel's port
# search), so each measured run waits until none is left towards PORT.
settle() {
  [ "$TRANSPORT" = tcp ] || return 0
  for _ in $(seq 80); do
    [ "$(ss -Htan state time-wait "( dport = :$PORT or sport = :$PORT )" | wc -l)" -eq 0 ] && return 0
    sleep 1
  done
}
SECS=$(( N / RATE + 2 ))
: > "$OUT/results.txt"
for run in $(seq "$RUNS"); do
  # SIPp: one call = two transactions (see PEER above).
  settle
  k0=$(kamcpu)
  flock "$LOCK" /usr/bin/time -f '%e %U %S' -o "$OUT/time.txt" timeout 300 sipp "127.0.0.1:$PORT" \
    "${SIPP_SF[@]}" -inf "$OUT/users.csv" \
    -m "$N" -r "$RATE" -i 127.0.0.1 -t "$SIPP_T" "${SIPP_X[@]}" -nostdin -timeout 120s > "$OUT/sipp.out" 2>&1 || true
  k1=$(kamcpu)
  read -r el us sy < "$OUT/time.txt"
  ok=$(grep -m1 "Successful call" "$OUT/sipp.out" | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  echo "sipp $run calls_ok=$ok transactions=$((PER_CALL * ok)) elapsed=$el cpu=$(echo "$us + $sy" | bc) registrar_cpu=$(echo "$k1 - $k0" | bc)" | tee -a "$OUT/results.txt"

  # regstorm: the same users at the same rate; its drain adds the
  # un-REGISTERs (with Kamailio: 401 → 200 again), counted in its requests.
  for tool in regstorm ${BEFORE:+before}; do
    bin="$OUT/regstorm"; [ "$tool" = before ] && bin="$BEFORE"
    settle
    k0=$(kamcpu)
    flock "$LOCK" /usr/bin/time -f '%e %U %S' -o "$OUT/time.txt" timeout 300 "$bin" --target "sip:127.0.0.1:$PORT" "${RS_T[@]}" \
      --users "$OUT/users.csv" --naps "$N" --rate "$RATE" --duration "${SECS}s" --quiet --summary "$OUT/summary.json" "${RS_X[@]}"
    k1=$(kamcpu)
    read -r el us sy < "$OUT/time.txt"
    read -r tx reg to < <(python3 -c "import json; s=json.load(open('$OUT/summary.json')); print(s['requests'], s['registered'], s['timeouts'])")
    echo "$tool $run registered=$reg transactions=$tx timeouts=$to elapsed=$el cpu=$(echo "$us + $sy" | bc) registrar_cpu=$(echo "$k1 - $k0" | bc)" | tee -a "$OUT/results.txt"
  done

  # The floor at the same rate: its client's own CPU (getrusage) per
  # round trip; the responder stops after 2 s idle.
  if [ "$ECHO" = 1 ]; then
    "$OUT/echo" serve -addr "127.0.0.1:$((PORT + 1))" > "$OUT/echo-serve.log" 2>&1 &
    ECHOPID=$!
    sleep 0.2
    flock "$LOCK" timeout 300 "$OUT/echo" client -addr "127.0.0.1:$((PORT + 1))" -rate "$RATE" -n $((2 * N)) > "$OUT/echo.out"
    wait "$ECHOPID" || true
    eus=$(sed -n 's/.*CPU [0-9.]* s, \([0-9.]*\) us per round trip.*/\1/p' "$OUT/echo.out")
    echoed=$(sed -n 's/.* \([0-9]*\) echoed.*/\1/p' "$OUT/echo.out")
    echo "echo $run transactions=$echoed us=$eus" | tee -a "$OUT/results.txt"
  fi
done

python3 - "$OUT/results.txt" "$N" "$RATE" "$TRANSPORT" "$PEER" <<'PY'
import re, statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
n, rate = int(sys.argv[2]), int(sys.argv[3])
def kv(r): return {k: float(v) for k, v in (x.split("=") for x in r[2:])}
out = {}
for tool in ("sipp", "regstorm", "before"):
    rs = [kv(r) for r in rows if r[0] == tool]
    if not rs:
        continue
    per1k = [r["cpu"] / r["transactions"] * 1000 for r in rs if r["transactions"] > 0]
    out[tool] = per1k
    print(f"{tool:9s} CPU per 1000 REGISTER transactions: median {statistics.median(per1k):.4f} s "
          f"(min {min(per1k):.4f}, max {max(per1k):.4f}, n={len(per1k)}), "
          f"i.e. {statistics.median(per1k) * 1000:.2f} us per transaction; "
          f"transactions per run {statistics.median([r['transactions'] for r in rs]):.0f}; "
          f"registrar CPU per run {statistics.median([r['registrar_cpu'] for r in rs]):.2f} s")
print(f"ratio SIPp/regstorm CPU per transaction: {statistics.median(out['sipp']) / statistics.median(out['regstorm']):.2f}x "
      f"(N={n} users, rate {rate}/s, {sys.argv[4]}, {sys.argv[5]})")
if "before" in out:
    print(f"ratio SIPp/before: {statistics.median(out['sipp']) / statistics.median(out['before']):.2f}x; "
          f"regstorm/before: {statistics.median(out['regstorm']) / statistics.median(out['before']):.2f}")
e = [kv(r)["us"] for r in rows if r[0] == "echo"]
if e:
    print(f"echo      CPU per round trip at {rate}/s (the floor): median {statistics.median(e):.2f} us "
          f"(min {min(e):.2f}, max {max(e):.2f}, n={len(e)}); "
          f"regstorm/echo {statistics.median(out['regstorm']) * 1000 / statistics.median(e):.2f}x, "
          f"SIPp/echo {statistics.median(out['sipp']) * 1000 / statistics.median(e):.2f}x")
PY
