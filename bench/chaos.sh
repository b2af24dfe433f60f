#!/usr/bin/env bash
# bench/chaos.sh: the chaos soak. Runs the same scenario as tests/tests/chaos.rs (a 3-member concord
# cluster behind fault-injecting peer proxies; kills, pauses, partitions, cut and slow links, leader
# transfers; clients and watchers recording a history) for a long time, then heals, reads every key
# with a quorum read and checks the history. Prints operations (ok/fail/info), faults injected by kind,
# watch figures, anomalies and lost writes; exits 1 when anything was found.
#
# Usage: bench/chaos.sh [--duration 30m] [--seed N] [--history-dir DIR] [--verbose]
#        (the history is written as JSON lines to DIR/chaos-<seed>.jsonl, default the temp dir;
#         format: DESIGN.md, "Chaos on real processes")
# Bounded: the faults stop after --duration (default 30m); the heal, final reads and checks follow.
# Everything it starts (members, proxies, data dirs) is removed when it ends.
set -euo pipefail

ROOT=$(dirname "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)")
cd "$ROOT"
cargo build --release -p server --bin concord >&2
cargo build --release -p e2e --bin chaos_soak >&2
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
if [ $# -eq 0 ]; then
  set -- --duration 30m
fi
exec "$TARGET/release/chaos_soak" "$@"
