#!/usr/bin/env bash
# bench/failover.sh: how long a 3-member cluster is unavailable when its leader dies, concord against
# real etcd 3.4, both started the same way (etcd's default heartbeat 100 ms / election 1000 ms, fresh data
# dirs on the real disk, loopback).
#
# Each trial starts a fresh cluster, waits until all members agree on a leader and a write succeeds, lets
# it settle, then signals the leader (SIGKILL: a crash; SIGTERM: a graceful stop, where both etcd and
# concord hand leadership over first). From the signal on, bench/failover_probe.py runs one watcher per
# survivor polling /v2/members/leader and one writer per survivor retrying PUT with a 0.25 s timeout. Reported per trial:
# time until a survivor names a new leader, and time until a write succeeds again. Systems alternate
# trial by trial. Prints min / median / max and every trial.
#
# Usage: bench/failover.sh   (env: CONCORD=path ETCD=etcd TRIALS=7 SIGNALS="KILL TERM" SYSTEMS="concord etcd"
#                                   SETTLE=2 BENCH_TMP=dir)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
CONCORD=${CONCORD:-${CARGO_TARGET_DIR:-$ROOT/target}/release/concord}
ETCD=${ETCD:-etcd}
TRIALS=${TRIALS:-7}
SIGNALS=${SIGNALS:-KILL TERM}
SYSTEMS=${SYSTEMS:-concord etcd}
SETTLE=${SETTLE:-2}          # seconds between "ready" and the kill, so followers are caught up
GIVE_UP=20                   # seconds after the kill before a trial counts as "no recovery"
BENCH_TMP=${BENCH_TMP:-/var/tmp}

for tool in curl jq python3 "$ETCD"; do
  command -v "$tool" >/dev/null || { echo "failover.sh: '$tool' not found" >&2; exit 2; }
done
[[ -x $CONCORD ]] || { echo "failover.sh: no concord binary at $CONCORD" >&2; exit 2; }

WORK=$(mktemp -d "$BENCH_TMP/concord-failover.XXXXXX")
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

BASE=44100
CLIENT_PORTS=($((BASE + 10)) $((BASE + 20)) $((BASE + 30)))

start_cluster() {
  local system=$1 cluster="" i bin
  if [[ $system == concord ]]; then bin=$CONCORD; else bin=$ETCD; fi
  for i in 1 2 3; do cluster+="${cluster:+,}m$i=http://127.0.0.1:$((BASE + 10 * i + 1))"; done
  PIDS=()
  for i in 1 2 3; do
    local client=$((BASE + 10 * i)) peer=$((BASE + 10 * i + 1))
    mkdir -p "$WORK/m$i"
    "$bin" --name "m$i" --data-dir "$WORK/m$i/data" --enable-v2=true \
      --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
      --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
      --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "failover-$system" \
      >"$WORK/m$i/log" 2>&1 &
    PIDS+=($!)
  done
}

stop_cluster() {
  local pid
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  PIDS=()
  rm -rf "$WORK"/m?
}

# leader_id PORT [TIMEOUT]: the leader's member ID as this member sees it (empty if none or no answer).
leader_id() {
  curl -s -m "${2:-1}" "http://127.0.0.1:$1/v2/members/leader" 2>/dev/null | jq -r '.id // empty' 2>/dev/null || true
}

# wait_ready: prints the index (0..2) of the leader once all three agree and a write through it works.
wait_ready() {
  local deadline=$((SECONDS + 30)) i id first
  while ((SECONDS < deadline)); do
    first=$(leader_id "${CLIENT_PORTS[0]}")
    if [[ -n $first && $(leader_id "${CLIENT_PORTS[1]}") == "$first" && $(leader_id "${CLIENT_PORTS[2]}") == "$first" ]]; then
      for i in 0 1 2; do
        local url; url=$(curl -s -m 1 "http://127.0.0.1:${CLIENT_PORTS[$i]}/v2/members/leader" | jq -r '.clientURLs[0]')
        if [[ $url == "http://127.0.0.1:${CLIENT_PORTS[$i]}" ]] &&
          curl -sf -m 2 -XPUT "$url/v2/keys/failover/ready" -d value=1 >/dev/null; then
          echo "$i"; return 0
        fi
      done
    fi
    sleep 0.2
  done
  return 1
}

declare -A LEADER_MS WRITE_MS   # [system|signal] = "ms ms ms ..."

trial() {
  local system=$1 signal=$2 n=$3 leader old_id i survivors=()
  start_cluster "$system"
  if ! leader=$(wait_ready); then
    echo "  $system $signal trial $n: cluster not ready, skipped" >&2
    stop_cluster; return
  fi
  sleep "$SETTLE"
  old_id=$(leader_id "${CLIENT_PORTS[$leader]}")
  for i in 0 1 2; do ((i == leader)) || survivors+=("${CLIENT_PORTS[$i]}"); done
  local leader_ms write_ms
  read -r leader_ms write_ms < <(python3 "$HERE/failover_probe.py" "${PIDS[$leader]}" "$signal" "$old_id" \
    "$GIVE_UP" "${survivors[@]}")
  LEADER_MS["$system|$signal"]+="$leader_ms "
  WRITE_MS["$system|$signal"]+="$write_ms "
  printf '  %-8s SIG%-4s trial %2s: new leader known after %6s ms, write ok after %6s ms\n' \
    "$system" "$signal" "$n" "$leader_ms" "$write_ms" >&2
  stop_cluster
}

stats() {  # "a b c ..." -> "min / median / max" over the numeric values; "(k failed)" when some are "-"
  echo "$1" | tr ' ' '\n' | awk 'NF { if ($1 == "-") f++; else v[n++] = $1 }
    END {
      if (n == 0) { print "no recovery"; exit }
      for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
      med = (n % 2) ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2
      printf "%d / %d / %d", v[0], med, v[n - 1]; if (f) printf " (%d of %d never)", f, n + f
    }'
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "# failover.sh $(date -u +%FT%TZ) trials=$TRIALS signals=$SIGNALS load before: $LOAD_BEFORE" >&2
read -r -a systems <<<"$SYSTEMS"
for signal in $SIGNALS; do
  for n in $(seq "$TRIALS"); do
    if ((n % 2)); then order=("${systems[@]}"); else order=($(printf '%s\n' "${systems[@]}" | tac)); fi
    for system in "${order[@]}"; do trial "$system" "$signal" "$n"; done
  done
done

echo
echo "3 members on loopback, heartbeat 100 ms, election 1000 ms (defaults); $TRIALS trials each; ms from the"
echo "signal to the leader; writers retry PUT with a 0.25 s timeout on both survivors."
echo "load average (1/5/15 min) before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs"
echo
echo "| system | signal to leader | new leader known (min / median / max ms) | write succeeds again (min / median / max ms) | trials (write ms) |"
echo "|---|---|---|---|---|"
for signal in $SIGNALS; do
  for system in "${systems[@]}"; do
    key="$system|$signal"
    echo "| $system | SIG$signal | $(stats "${LEADER_MS[$key]:-}") | $(stats "${WRITE_MS[$key]:-}") | ${WRITE_MS[$key]:-} |"
  done
done
