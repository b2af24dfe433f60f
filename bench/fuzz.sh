#!/usr/bin/env bash
# bench/fuzz.sh: builds the fuzz targets of fuzz/ (cargo-fuzz, libFuzzer, AddressSanitizer), writes
# their generated seed corpora, runs every target for the given time, and prints per target the
# executions, the coverage (libFuzzer's cov/ft), the corpus size and the crashes found (with the
# reproducers libFuzzer saved).
#
# Usage: bench/fuzz.sh [seconds per target, default 120]
#        (env: TARGETS="wal_open codec_raft" to run some only; LOGS=dir for libFuzzer's output,
#         default /tmp/concord-fuzz; JOBS=n to build with n jobs)
# Needs: cargo-fuzz (cargo install cargo-fuzz) and a C++ compiler. The toolchain is stable: the
# sanitizer flags cargo-fuzz passes are nightly-only, so the build sets RUSTC_BOOTSTRAP=1.
# Bounded: each target stops after its time (-max_total_time) or at its first crash; one input may
# take at most TIMEOUT_SECONDS (default 10) and the process RSS_LIMIT_MB (default 2048) of memory,
# one allocation at most MALLOC_LIMIT_MB (default 512): a hang or an unbounded allocation is a crash.
# The targets run one at a time, as the built binaries (no rebuild between targets).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FUZZ=$(dirname "$HERE")/fuzz
SECONDS_PER_TARGET=${1:-120}
LOGS=${LOGS:-/tmp/concord-fuzz}
ALL_TARGETS="wal_open snapshot_file codec_raft wire_frames http_keys mvcc_restore mvcc_commands
    members_body auth_bodies config_load store_v2"
TIMEOUT_SECONDS=${TIMEOUT_SECONDS:-10}
RSS_LIMIT_MB=${RSS_LIMIT_MB:-2048}
MALLOC_LIMIT_MB=${MALLOC_LIMIT_MB:-512}
TARGETS=${TARGETS:-$ALL_TARGETS}
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
export RUSTC_BOOTSTRAP=1
# As cargo fuzz run: the ASan runtime and the Rust standard library define some globals twice.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0}

if ! [[ "$SECONDS_PER_TARGET" =~ ^[0-9]+$ ]] || [ "$SECONDS_PER_TARGET" -lt 1 ]; then
    echo "usage: bench/fuzz.sh [seconds per target]" >&2
    exit 2
fi
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is missing: cargo install cargo-fuzz" >&2; exit 2; }
mkdir -p "$LOGS"
cd "$FUZZ"

echo "building the targets (instrumented, release with debug assertions)..." >&2
cargo fuzz build ${JOBS:+--jobs "$JOBS"} >&2
# make_seeds is a plain binary of the same package, built (instrumented) alongside the targets.
"target/$TRIPLE/release/make_seeds" "$FUZZ/corpus" >&2

count_files() { find "$1" -maxdepth 1 -type f 2>/dev/null | wc -l; }
list_files() { find "$1" -maxdepth 1 -type f -printf '%f\n' 2>/dev/null | sort; }

printf '| target | seconds | executions | exec/s | cov | ft | corpus files | crashes | reproducers |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|---|\n'
found=0
for target in $TARGETS; do
    artifacts="$FUZZ/artifacts/$target"
    mkdir -p "$artifacts"
    before=$(list_files "$artifacts")
    log="$LOGS/$target.log"
    echo "fuzzing $target for ${SECONDS_PER_TARGET}s (log: $log)..." >&2
    status=0
    "target/$TRIPLE/release/$target" "corpus/$target" -artifact_prefix="$artifacts/" \
        -max_total_time="$SECONDS_PER_TARGET" -timeout="$TIMEOUT_SECONDS" -rss_limit_mb="$RSS_LIMIT_MB" \
        -malloc_limit_mb="$MALLOC_LIMIT_MB" -print_final_stats=1 >"$log" 2>&1 || status=$?
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    per_second=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    # libFuzzer's last status line: "#N DONE cov: C ft: F corp: ...".
    # (both from one match: a panic message such as "left: ..." must not count as "ft:").
    status_line=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1 || true)
    coverage=$(echo "$status_line" | cut -d' ' -f2)
    features=$(echo "$status_line" | cut -d' ' -f4)
    reproducers=$(comm -13 <(echo "$before") <(list_files "$artifacts") | sed '/^$/d' | tr '\n' ' ')
    crashes=$(echo "$reproducers" | wc -w)
    if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        crashes="? (exit $status)"
    fi
    [ "$crashes" != 0 ] && found=1
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$target" "$SECONDS_PER_TARGET" \
        "${executions:-?}" "${per_second:-?}" "${coverage:-?}" "${features:-?}" \
        "$(count_files "corpus/$target")" "$crashes" "${reproducers:--}"
done
if [ "$found" -ne 0 ]; then
    echo "crashes found: reproducers in $FUZZ/artifacts/<target>/, panics in $LOGS/<target>.log" >&2
    exit 1
fi
