#!/usr/bin/env bash
# bench/http.sh: concord against real etcd 3.4 over the v2 HTTP API, measured with wrk.
#
# Both servers are started the same way (same flags, etcd's default heartbeat 100 ms / election 1000 ms,
# fresh data dirs on the real disk, loopback only), first as a single node, then as a 3-member cluster
# where load goes to the leader and, separately, through a follower. Concord's and etcd's runs alternate
# (run 1: concord then etcd, run 2: etcd then concord, ...) so drift in the load of the shared machine
# does not favour one side. Two ceilings are measured in the same run: a fixed-response HTTP server
# (nginx, its own temp config on a loopback port, a body of the size of a v2 GET answer) under the same
# wrk GET command, and the disk's fdatasync time on $BENCH_TMP (dd oflag=dsync), whose inverse bounds a
# sequential PUT. Prints a markdown table with the ratios concord/etcd and concord/ceiling; keeps wrk's
# raw output in $OUT.
#
# Usage: bench/http.sh            (env: CONCORD=path/to/concord ETCD=etcd DURATION=10s RUNS=2
#                                        SCOPE=all|single|cluster ONLY=regex SNAPSHOT_COUNT=n
#                                        OUT=dir BENCH_TMP=dir)
# Needs: wrk, curl, jq, nginx, etcd 3.4 (Debian: apt-get install -y etcd-server wrk curl jq nginx-light), a release build of
# concord (cargo build --release -p server --bin concord).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
CONCORD=${CONCORD:-${CARGO_TARGET_DIR:-$ROOT/target}/release/concord}
ETCD=${ETCD:-etcd}
DURATION=${DURATION:-10s}
RUNS=${RUNS:-2}
SCOPE=${SCOPE:-all}
# Only the workloads whose name matches this regex (e.g. ONLY='same key'); all by default.
ONLY=${ONLY:-.}
# Passed to both servers as --snapshot-count when set. Both default to 100,000 entries; a write run that
# crosses that index pays for a snapshot (concord takes it on the node thread of all three members at once,
# etcd clones its store) and its p99 shows it, so the faster server, which writes more entries per run, is
# the one that crosses it: set e.g. SNAPSHOT_COUNT=10000000 to compare without snapshots.
SNAPSHOT_COUNT=${SNAPSHOT_COUNT:-}
CONNS=16
# The real disk, not tmpfs: fsync cost is part of what is measured.
BENCH_TMP=${BENCH_TMP:-/var/tmp}
OUT=${OUT:-$BENCH_TMP/concord-bench-http.$(date -u +%Y%m%dT%H%M%S)}

NGINX=${NGINX:-nginx}
for tool in wrk curl jq dd "$ETCD" "$NGINX"; do
  command -v "$tool" >/dev/null || { echo "http.sh: '$tool' not found" >&2; exit 2; }
done
[[ -x $CONCORD ]] || { echo "http.sh: no concord binary at $CONCORD (cargo build --release -p server --bin concord)" >&2; exit 2; }

WORK=$(mktemp -d "$BENCH_TMP/concord-bench.XXXXXX")
mkdir -p "$OUT"
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- wrk Lua scripts -------------------------------------------------------------------------------
VALUE=$(printf 'v%.0s' $(seq 64))   # 64 bytes
cat >"$WORK/put_distinct.lua" <<LUA
-- PUT value=<64 bytes> to a new key per request: <url path><counter> (wrk -t1: one Lua state, so unique).
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "value=$VALUE"
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, wrk.path .. counter)
end
LUA
cat >"$WORK/put_same.lua" <<LUA
-- PUT value=<64 bytes> to the same key (the url path) every time.
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "value=$VALUE"
LUA
cat >"$WORK/get.lua" <<'LUA'
-- GET of one existing key with a 64-byte value (plain or ?quorum=true, as given in the url).
wrk.method = "GET"
LUA

# --- the ceilings ------------------------------------------------------------------------------------
# The answer of a v2 GET of /bench/get (a 64-byte value), as the servers give it: nginx returns this body.
GET_BODY="{\"action\":\"get\",\"node\":{\"key\":\"/bench/get\",\"value\":\"$VALUE\",\"modifiedIndex\":4,\"createdIndex\":4}}"

# start_ceiling PORT: nginx (2 workers, no logs, unlimited keep-alive) answering every request with
# GET_BODY as application/json, like a v2 GET.
start_ceiling() {
  local port=$1 dir="$WORK/ceiling"
  mkdir -p "$dir"
  cat >"$dir/nginx.conf" <<NGINX
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 60s;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server {
    listen 127.0.0.1:$port;
    location / { default_type application/json; return 200 '$GET_BODY'; }
  }
}
NGINX
  "$NGINX" -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' >"$dir/log" 2>&1 &
  PIDS+=($!)
  local deadline=$((SECONDS + 10))
  until curl -sf -m 1 "http://127.0.0.1:$port/v2/keys/bench/get" >/dev/null; do
    ((SECONDS < deadline)) || { echo "http.sh: nginx did not start: $(cat "$dir/log" "$dir/error.log" 2>/dev/null)" >&2; return 1; }
    sleep 0.1
  done
}

bench_ceiling() {
  local run=$1 port=$2
  start_ceiling "$port" || { stop_all; return; }
  measure "1 node" "GET c=16" ceiling "$run" "$CONNS" get.lua "http://127.0.0.1:$port/v2/keys/bench/get"
  stop_all
}

# fdatasync_rate MODE: writes per second of 512-byte O_DSYNC writes on $BENCH_TMP's filesystem (each one
# write + fdatasync), appending to a new file (MODE=append, like a WAL that grows) or overwriting a
# preallocated one (MODE=overwrite, like a WAL with preallocated segments).
fdatasync_rate() {
  local mode=$1 file="$WORK/fdatasync.$1" count=2000 seconds
  rm -f "$file"
  if [[ $mode == overwrite ]]; then dd if=/dev/zero of="$file" bs=512 count=$count status=none && sync; fi
  seconds=$(LC_ALL=C dd if=/dev/zero of="$file" bs=512 count=$count oflag=dsync conv=notrunc 2>&1 |
    awk '/copied/ { for (i = 1; i <= NF; i++) if ($i ~ /^s,?$/) print $(i - 1) }')
  rm -f "$file"
  awk -v n=$count -v s="$seconds" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print 0 }'
}

# --- servers -----------------------------------------------------------------------------------------
# start_member SYSTEM NAME CLIENT_PORT PEER_PORT INITIAL_CLUSTER
start_member() {
  local system=$1 name=$2 client=$3 peer=$4 cluster=$5 bin
  if [[ $system == concord ]]; then bin=$CONCORD; else bin=$ETCD; fi
  mkdir -p "$WORK/$system-$name"
  "$bin" --name "$name" --data-dir "$WORK/$system-$name/data" --enable-v2=true \
    ${SNAPSHOT_COUNT:+--snapshot-count "$SNAPSHOT_COUNT"} \
    --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "bench-$system" \
    >"$WORK/$system-$name/log" 2>&1 &
  PIDS+=($!)
}

stop_all() {
  local pid i
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for i in $(seq 50); do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  PIDS=()
  rm -rf "$WORK"/concord-* "$WORK"/etcd-* "$WORK"/ceiling
}

# leader_of PORT: the leader's client URL as this member sees it (empty if none).
leader_of() {
  curl -s -m 1 "http://127.0.0.1:$1/v2/members/leader" 2>/dev/null | jq -r '.clientURLs[0] // empty' 2>/dev/null || true
}

# wait_ready PORT...: every member names the same leader and a write through it succeeds (bounded).
wait_ready() {
  local deadline=$((SECONDS + 30)) port leader seen log
  while ((SECONDS < deadline)); do
    leader=""; seen=1
    for port in "$@"; do
      local l; l=$(leader_of "$port")
      if [[ -z $l || (-n $leader && $l != "$leader") ]]; then seen=0; break; fi
      leader=$l
    done
    if ((seen)) && curl -sf -m 2 -XPUT "$leader/v2/keys/bench/get" -d "value=$VALUE" >/dev/null; then
      echo "$leader"; return 0
    fi
    sleep 0.2
  done
  local keep; keep="$OUT/not-ready-$(date -u +%H%M%S)"
  mkdir -p "$keep"
  for log in "$WORK"/*/log; do [[ -e $log ]] && cp "$log" "$keep/$(basename "$(dirname "$log")").log"; done
  for port in "$@"; do keep+=" $port:$(leader_of "$port")"; done
  echo "http.sh: members on ports $* not ready after 30 s (leaders seen, logs: $keep)" >&2
  return 1
}

# --- measurement ---------------------------------------------------------------------------------------
declare -A RESULT   # RESULT[deployment|workload|system|run] = "ops p99_ms errors"
ROWS=()             # "deployment|workload" in print order

to_ms() {  # wrk latency ("812.00us", "1.23ms", "1.02s") to milliseconds
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}

# measure DEPLOYMENT WORKLOAD SYSTEM RUN CONNS SCRIPT URL
measure() {
  local deployment=$1 workload=$2 system=$3 run=$4 conns=$5 script=$6 url=$7 file ops p99 errors
  [[ $workload =~ $ONLY ]] || return 0
  file="$OUT/$(echo "$deployment-$workload-$system-run$run" | tr ' /=?' '____').txt"
  wrk -t1 -c"$conns" -d"$DURATION" --latency -s "$WORK/$script" "$url" >"$file" 2>&1 || true
  ops=$(awk '/^Requests\/sec/ { printf "%.0f", $2 }' "$file")
  p99=$(awk '$1 == "99%" { print $2 }' "$file")
  errors=$(awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(",", ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$file")
  [[ -n $ops && -n $p99 ]] || { ops=0; p99=0; errors=fail; }
  RESULT["$deployment|$workload|$system|$run"]="$ops $(to_ms "$p99") $errors"
  local row="$deployment|$workload"
  [[ " ${ROWS[*]} " == *" $row "* ]] || ROWS+=("$row")
  printf '  %-8s run %s %-10s %-36s %8s ops/s  p99 %8s ms  errors %s\n' \
    "$system" "$run" "$deployment" "$workload" "$ops" "$(to_ms "$p99")" "$errors" >&2
}

# workloads DEPLOYMENT SYSTEM RUN URL: the set of wrk runs against one member's client URL.
workloads() {
  local deployment=$1 system=$2 run=$3 url=$4
  measure "$deployment" "PUT c=16 distinct keys" "$system" "$run" "$CONNS" put_distinct.lua "$url/v2/keys/bench/put16/k"
  measure "$deployment" "PUT c=16 same key" "$system" "$run" "$CONNS" put_same.lua "$url/v2/keys/bench/same"
  measure "$deployment" "GET c=16" "$system" "$run" "$CONNS" get.lua "$url/v2/keys/bench/get"
  measure "$deployment" "GET ?quorum=true c=16" "$system" "$run" "$CONNS" get.lua "$url/v2/keys/bench/get?quorum=true"
  measure "$deployment" "PUT c=1 distinct keys (sequential)" "$system" "$run" 1 put_distinct.lua "$url/v2/keys/bench/put1/k"
}

bench_single() {
  local system=$1 run=$2 port=$3 url
  start_member "$system" single "$port" $((port + 1)) "single=http://127.0.0.1:$((port + 1))"
  if ! url=$(wait_ready "$port"); then stop_all; return; fi
  workloads "1 node" "$system" "$run" "$url"
  stop_all
}

bench_cluster() {
  local system=$1 run=$2 base=$3 cluster="" i leader follower port
  for i in 1 2 3; do cluster+="${cluster:+,}m$i=http://127.0.0.1:$((base + 10 * i + 1))"; done
  for i in 1 2 3; do start_member "$system" "m$i" $((base + 10 * i)) $((base + 10 * i + 1)) "$cluster"; done
  if ! leader=$(wait_ready $((base + 10)) $((base + 20)) $((base + 30))); then stop_all; return; fi
  for i in 1 2 3; do
    port=$((base + 10 * i))
    if [[ http://127.0.0.1:$port != "$leader" ]]; then follower=http://127.0.0.1:$port; break; fi
  done
  workloads "3 nodes, to leader" "$system" "$run" "$leader"
  workloads "3 nodes, via follower" "$system" "$run" "$follower"
  stop_all
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "# http.sh $(date -u +%FT%TZ) duration=$DURATION runs=$RUNS load before: $LOAD_BEFORE" >&2
echo "# concord: $CONCORD; etcd: $("$ETCD" --version | head -1); raw wrk output in $OUT" >&2
echo "# snapshot-count: ${SNAPSHOT_COUNT:-default (100000)}; workloads matching: $ONLY" >&2
FDATASYNC_APPEND=$(fdatasync_rate append)
FDATASYNC_OVERWRITE=$(fdatasync_rate overwrite)
echo "# 1/fdatasync on $BENCH_TMP: $FDATASYNC_APPEND/s appending, $FDATASYNC_OVERWRITE/s overwriting (512-byte dd oflag=dsync)" >&2
for run in $(seq "$RUNS"); do
  if ((run % 2)); then order=(concord etcd); else order=(etcd concord); fi
  for system in "${order[@]}"; do
    if [[ $system == concord ]]; then base=42300; else base=43300; fi
    [[ $SCOPE == cluster ]] || bench_single "$system" "$run" $((base + 79))
    [[ $SCOPE == single ]] || bench_cluster "$system" "$run" $((base + 100))
  done
  if [[ $SCOPE != cluster && "GET c=16" =~ $ONLY ]]; then bench_ceiling "$run" 44379; fi
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- table ---------------------------------------------------------------------------------------------
cell() {  # cell ROW SYSTEM FIELD(1=ops, 2=p99): "run1 / run2 / ..."
  local row=$1 system=$2 field=$3 run out="" value errors
  for run in $(seq "$RUNS"); do
    read -r -a value <<<"${RESULT["$row|$system|$run"]:-- - -}"
    errors=${value[2]}
    local v=${value[$((field - 1))]}
    if ((field == 1)) && [[ $errors != 0 && $errors != - ]]; then v+=" (${errors} err)"; fi
    out+="${out:+ / }$v"
  done
  echo "$out"
}
ops_of() {  # ops_of ROW SYSTEM RUN: that run's ops/s, empty if not measured
  local value; read -r -a value <<<"${RESULT["$1|$2|$3"]:-}"
  echo "${value[0]:-}"
}
ratio() {  # ratio NUMERATOR DENOMINATOR: "1.23x", or "-"
  awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b + 0 > 0) printf "%.2fx", a / b; else printf "-" }'
}
ratio_cell() {  # ratio_cell ROW OTHER: concord / OTHER per run ("r1 / r2 ..."); OTHER is a system or a rate
  local row=$1 other=$2 run out="" denominator
  for run in $(seq "$RUNS"); do
    if [[ $other =~ ^[0-9]+$ ]]; then denominator=$other; else denominator=$(ops_of "$row" "$other" "$run"); fi
    out+="${out:+ / }$(ratio "$(ops_of "$row" concord "$run")" "$denominator")"
  done
  echo "$out"
}
# ceiling_of ROW: the ceiling's cell: nginx's GET rate, or 1/fdatasync (appending) for sequential PUTs.
ceiling_of() {
  local row=$1
  if [[ $row == "1 node|GET c=16" ]]; then cell "$row" ceiling 1
  elif [[ $row == *sequential* ]]; then echo "$FDATASYNC_APPEND (1/fdatasync)"
  else echo ""; fi
}
ceiling_ratio() {
  local row=$1
  if [[ $row == "1 node|GET c=16" ]]; then ratio_cell "$row" ceiling
  elif [[ $row == *sequential* ]]; then ratio_cell "$row" "$FDATASYNC_APPEND"
  else echo ""; fi
}
echo
echo "wrk -t1, keep-alive, 64-byte values, ${DURATION} each; cells are run 1 / run 2 ...; p99 in ms;"
echo "load average (1/5/15 min) before: $LOAD_BEFORE, after: $LOAD_AFTER; $(nproc) CPUs shared with the load tool;"
echo "ceilings: nginx ($("$NGINX" -v 2>&1 | sed 's/.*: //')) answering the GET's body under the same wrk command;"
echo "1/fdatasync on $BENCH_TMP: $FDATASYNC_APPEND/s appending, $FDATASYNC_OVERWRITE/s overwriting (512-byte dd oflag=dsync)"
echo
echo "| workload | concord ops/s | concord p99 | etcd ops/s | etcd p99 | concord/etcd | ceiling ops/s | concord/ceiling |"
echo "|---|---|---|---|---|---|---|---|"
for row in "${ROWS[@]}"; do
  deployment=${row%%|*}; workload=${row#*|}
  echo "| $deployment: $workload | $(cell "$row" concord 1) | $(cell "$row" concord 2) | $(cell "$row" etcd 1)" \
    "| $(cell "$row" etcd 2) | $(ratio_cell "$row" etcd) | $(ceiling_of "$row") | $(ceiling_ratio "$row") |"
done
