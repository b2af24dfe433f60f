#!/usr/bin/env bash
# bench/snapshot_stall.sh: does a snapshot stall writes? One concord member, wrk -t1 -c16 PUT of one key
# with a 64-byte value (bench/http.sh's "one key" workload), run with a --snapshot-count the run crosses
# several times and with one it never reaches, alternating, RUNS times each. Prints p50/p99 per run and
# the ratio of the median p99s (issue 18's target: crossing <= 2x not crossing).
#
# Usage: bench/snapshot_stall.sh    (env: CONCORD=path/to/concord DURATION=10s RUNS=3 CROSSING=10000
#                                           BENCH_TMP=/var/tmp)
# Needs: wrk, curl, a release build of concord (cargo build --release -p server --bin concord).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
CONCORD=${CONCORD:-${CARGO_TARGET_DIR:-$ROOT/target}/release/concord}
DURATION=${DURATION:-10s}
RUNS=${RUNS:-3}
CROSSING=${CROSSING:-10000}
NEVER=1000000000
BENCH_TMP=${BENCH_TMP:-/var/tmp}
PORT=42379

for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "snapshot_stall.sh: '$tool' not found" >&2; exit 2; }
done
[[ -x $CONCORD ]] || { echo "snapshot_stall.sh: no concord binary at $CONCORD" >&2; exit 2; }

WORK=$(mktemp -d "$BENCH_TMP/concord-stall.XXXXXX")
PID=
cleanup() {
  [[ -n $PID ]] && kill -9 "$PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

VALUE=$(printf 'v%.0s' $(seq 64))
cat >"$WORK/put.lua" <<LUA
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "value=$VALUE"
LUA

# to_ms VALUE: wrk's "12.3ms" / "850.00us" / "1.2s" in milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN { if (v ~ /us$/) print v / 1000; else if (v ~ /ms$/) print v + 0; else print v * 1000 }'
}

# one_run SNAPSHOT_COUNT: prints "p50_ms p99_ms requests_per_second snapshots".
one_run() {
  rm -rf "$WORK/data"
  "$CONCORD" --name n1 --data-dir "$WORK/data" --snapshot-count "$1" --enable-v2=true \
    --listen-client-urls "http://127.0.0.1:$PORT" --advertise-client-urls "http://127.0.0.1:$PORT" \
    --listen-peer-urls "http://127.0.0.1:$((PORT + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((PORT + 1))" \
    --initial-cluster "n1=http://127.0.0.1:$((PORT + 1))" --initial-cluster-state new >"$WORK/log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do
    curl -s -m 1 -XPUT "http://127.0.0.1:$PORT/v2/keys/k" -d value=x >/dev/null 2>&1 && break
    sleep 0.1
  done
  local out p50 p99 rps snapshots
  out=$(wrk -t1 -c16 -d"$DURATION" --latency -s "$WORK/put.lua" "http://127.0.0.1:$PORT/v2/keys/k")
  p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
  p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
  rps=$(awk '$1 == "Requests/sec:" { print $2 }' <<<"$out")
  snapshots=$(grep -c "saved snapshot" "$WORK/log" || true)
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
  echo "$p50 $p99 $rps $snapshots"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "| run | snapshot-count | load (1 min) | p50 ms | p99 ms | PUT/s | snapshots |"
echo "|---|---|---|---|---|---|---|"
: >"$WORK/crossing"; : >"$WORK/never"
for run in $(seq "$RUNS"); do
  for count in "$CROSSING" "$NEVER"; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    read -r p50 p99 rps snapshots < <(one_run "$count")
    echo "| $run | $count | $load | $p50 | $p99 | $rps | $snapshots |"
    if [[ $count == "$CROSSING" ]]; then echo "$p99" >>"$WORK/crossing"; else echo "$p99" >>"$WORK/never"; fi
  done
done
crossing=$(median <"$WORK/crossing")
never=$(median <"$WORK/never")
echo
echo "median p99: crossing $crossing ms, not crossing $never ms, ratio $(awk -v a="$crossing" -v b="$never" 'BEGIN { printf "%.2f", a / b }')"
