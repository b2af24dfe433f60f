#!/usr/bin/env bash
# bench/memory.sh: memory, restart and watcher figures of concord against real etcd 3.4, one single node
# at a time, loaded with concord-bench over the v2 API.
#
# memory:   load KEYS keys (VALUE_BYTES-byte values, 16 clients) into a fresh node; report its RSS growth
#           per key and the ratio of its RSS to the raw data (keys + values), the data dir's size, then
#           stop it (SIGTERM), start it again on the same data dir and report the time until the last
#           key written is served again.
# watchers: WATCHERS concurrent v2 long-poll watchers (spread over WATCH_KEYS keys) on a fresh node, a
#           writer putting WATCH_WRITES values at WATCH_RATE/s; report the delivery latency of every event
#           (write start to watcher) and the server's RSS growth per watcher.
# Prints a markdown table per part on stdout, progress on stderr; kills everything it started on exit.
#
# Usage: bench/memory.sh   (env: CONCORD=path ETCD=etcd BENCH=path/to/concord-bench PART=all|memory|watchers
#                                SYSTEMS="concord etcd" KEYS=1000000 VALUE_BYTES=64 WATCHERS=10000
#                                WATCH_KEYS=100 WATCH_WRITES=1000 WATCH_RATE=100 BENCH_TMP=/var/tmp)
# Needs: curl, jq, etcd 3.4, release builds: cargo build --release -p server --bin concord -p concord-bench
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
CONCORD=${CONCORD:-$TARGET/release/concord}
BENCH=${BENCH:-$TARGET/release/concord-bench}
ETCD=${ETCD:-etcd}
PART=${PART:-all}
SYSTEMS=${SYSTEMS:-concord etcd}
KEYS=${KEYS:-1000000}
VALUE_BYTES=${VALUE_BYTES:-64}
WATCHERS=${WATCHERS:-10000}
WATCH_KEYS=${WATCH_KEYS:-100}
WATCH_WRITES=${WATCH_WRITES:-1000}
WATCH_RATE=${WATCH_RATE:-100}
# The real disk, not tmpfs: restart reads the data back from it.
BENCH_TMP=${BENCH_TMP:-/var/tmp}
KEY_DIGITS=8
CLIENT_PORT=44479
PEER_PORT=44480

for tool in curl jq "$ETCD"; do
  command -v "$tool" >/dev/null || { echo "memory.sh: '$tool' not found" >&2; exit 2; }
done
for binary in "$CONCORD" "$BENCH"; do
  [[ -x $binary ]] || { echo "memory.sh: no $binary (cargo build --release -p server --bin concord -p concord-bench)" >&2; exit 2; }
done

WORK=$(mktemp -d "$BENCH_TMP/concord-memory.XXXXXX")
PID=""
cleanup() {
  [[ -n $PID ]] && kill -9 "$PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

URL=http://127.0.0.1:$CLIENT_PORT

# start SYSTEM DATA_DIR: one member with etcd's flags (same for both), its pid in PID.
start() {
  local system=$1 data=$2 bin
  if [[ $system == concord ]]; then bin=$CONCORD; else bin=$ETCD; fi
  "$bin" --name single --data-dir "$data" --enable-v2=true \
    --listen-client-urls "$URL" --advertise-client-urls "$URL" \
    --listen-peer-urls "http://127.0.0.1:$PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$PEER_PORT" \
    --initial-cluster "single=http://127.0.0.1:$PEER_PORT" --initial-cluster-state new \
    --initial-cluster-token "memory-$system" >>"$WORK/$system.log" 2>&1 &
  PID=$!
}

stop() {
  local i
  kill -TERM "$PID" 2>/dev/null || true
  for i in $(seq 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  PID=""
}

# wait_serving PATH: until GET PATH answers 200 (bounded: 300 s); prints the seconds it took.
wait_serving() {
  local path=$1 start deadline=$((SECONDS + 300))
  start=$(date +%s.%N)
  until curl -sf -m 1 "$URL$path" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { echo "memory.sh: $URL$path not served after 300 s" >&2; tail -20 "$WORK"/*.log >&2; return 1; }
    sleep 0.02
  done
  awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'
}

# wait_writable: until a PUT succeeds (bounded: 60 s).
wait_writable() {
  local deadline=$((SECONDS + 60))
  until curl -sf -m 1 -XPUT "$URL/v2/keys/ready" -d value=1 >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { echo "memory.sh: $URL not writable after 60 s" >&2; tail -20 "$WORK"/*.log >&2; return 1; }
    sleep 0.1
  done
}

rss_of() { awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

memory_run() {
  local system=$1 data="$WORK/$system-data" report rss_before rss_after last rss_restart seconds data_bytes
  start "$system" "$data"
  wait_writable
  sleep 1
  rss_before=$(rss_of "$PID")
  echo "# $system: loading $KEYS keys" >&2
  report=$("$BENCH" put --endpoints "$URL" --count "$KEYS" --key-count "$KEYS" --key-size-bytes $KEY_DIGITS \
    --value-size-bytes "$VALUE_BYTES" --clients 16 --connections 16 --json --server-pid "$PID") || true  # failed puts are counted in the report
  sleep 2
  rss_after=$(rss_of "$PID")
  data_bytes=$(du -sb "$data" | cut -f1)
  last=$(printf "/v2/keys/bench/%0${KEY_DIGITS}d" $((KEYS - 1)))
  stop
  start "$system" "$data"
  seconds=$(wait_serving "$last") || { stop; return 1; }
  rss_restart=$(rss_of "$PID")
  stop
  rm -rf "$data"
  echo "$report" | jq -c --arg s "$system" --argjson before "$rss_before" --argjson after "$rss_after" \
    --argjson restart "$rss_restart" --argjson seconds "$seconds" --argjson disk "$data_bytes" \
    '{system: $s, keys: .operations, errors, put_per_second: .throughput_per_second, raw_bytes_per_key: (.key_bytes + 1 + .value_bytes),
      rss_before: $before, rss_after: $after, rss_restart: $restart, restart_seconds: $seconds, data_dir_bytes: $disk}'
}

watchers_run() {
  local system=$1 data="$WORK/$system-data" report
  start "$system" "$data"
  wait_writable
  sleep 1
  echo "# $system: $WATCHERS watchers" >&2
  report=$("$BENCH" watch --endpoints "$URL" --watchers "$WATCHERS" --key-count "$WATCH_KEYS" \
    --count "$WATCH_WRITES" --rate "$WATCH_RATE" --clients 1 --connections 1 --json --server-pid "$PID") || true
  stop
  rm -rf "$data"
  echo "$report" | jq -c --arg s "$system" '{system: $s, writes: .operations, write_errors: .errors} + .watch'
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
# The runs append one JSON line each (not captured with $(...): the server's pid must stay in this shell
# for the exit trap).
for system in $SYSTEMS; do
  [[ $PART == watchers ]] || memory_run "$system" >>"$WORK/memory.jsonl"
  [[ $PART == memory ]] || watchers_run "$system" >>"$WORK/watchers.jsonl"
done
MEMORY=(); WATCH=()
[[ -s $WORK/memory.jsonl ]] && mapfile -t MEMORY <"$WORK/memory.jsonl"
[[ -s $WORK/watchers.jsonl ]] && mapfile -t WATCH <"$WORK/watchers.jsonl"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

echo "load average (1/5/15 min) before: $LOAD_BEFORE, after: $LOAD_AFTER; $(nproc) CPUs shared with concord-bench"
if ((${#MEMORY[@]})); then
  echo
  echo "$KEYS keys of $((7 + KEY_DIGITS)) bytes (/bench/<$KEY_DIGITS digits>), $VALUE_BYTES-byte values, v2 PUT with 16 clients; RSS in MiB"
  echo
  echo "| system | PUT/s | RSS before | RSS loaded | growth B/key | raw B/key | RSS / raw | data dir MiB | restart to serve (s) | RSS restarted |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  for line in "${MEMORY[@]}"; do
    jq -r '"| \(.system) | \(.put_per_second | floor) | \(.rss_before / 1048576 | . * 10 | floor / 10) | \(.rss_after / 1048576 | . * 10 | floor / 10)" +
      " | \((.rss_after - .rss_before) / .keys | floor) | \(.raw_bytes_per_key) | \(.rss_after / (.keys * .raw_bytes_per_key) | . * 100 | floor / 100)x" +
      " | \(.data_dir_bytes / 1048576 | floor) | \(.restart_seconds) | \(.rss_restart / 1048576 | . * 10 | floor / 10) |"' <<<"$line"
  done
fi
if ((${#WATCH[@]})); then
  echo
  echo "$WATCHERS v2 long-poll watchers on $WATCH_KEYS keys, $WATCH_WRITES writes at $WATCH_RATE/s; latency: write start to watcher, ms"
  echo
  echo "| system | delivered / expected | cleared polls | watcher errors | p50 | p90 | p99 | p99.9 | max | server B/watcher |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  for line in "${WATCH[@]}"; do
    jq -r '"| \(.system) | \(.delivered_events) / \(.expected_events) | \(.cleared_polls) | \(.watcher_errors)" +
      " | \(.delivery_latency_ms.p50) | \(.delivery_latency_ms.p90) | \(.delivery_latency_ms.p99) | \(.delivery_latency_ms.p99_9)" +
      " | \(.delivery_latency_ms.max) | \(.server_bytes_per_watcher) |"' <<<"$line"
  done
fi
