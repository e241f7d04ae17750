#!/bin/sh
# Run every fuzz target of a TM_FUZZ build for SECONDS each (make fuzz).
# usage: fuzz/run.sh BUILD_DIR SECONDS
# Each target starts from its committed seeds (fuzz/corpus/NAME, never written)
# plus BUILD_DIR/fuzz-corpus/NAME, where new inputs collect between runs. A crash,
# leak, timeout (10 s per input) or out-of-memory (1 GB) fails the run; the input
# is in BUILD_DIR/fuzz-artifacts/ — add it to fuzz/corpus/NAME/ once fixed, and the
# ctest fuzz_replay_NAME keeps it fixed. One line per target: executions, coverage.
# FUZZ_JOBS targets run at a time (default: the number of CPUs), each in one
# process: the wall time is about SECONDS × targets / FUZZ_JOBS.
set -eu
build=$1
seconds=$2
jobs=${FUZZ_JOBS:-$(nproc)}
case "$jobs" in ''|*[!0-9]*|0) echo "fuzz/run.sh: FUZZ_JOBS must be a number >= 1, got '$jobs'" >&2; exit 2 ;; esac
here=$(cd "$(dirname "$0")" && pwd)
targets=$(cat "$build/fuzz-targets.txt")
mkdir -p "$build/fuzz-artifacts"

# One target, its verdict in fuzz-artifacts/NAME.rc (0: ok).
fuzz_one() {
  work="$build/fuzz-corpus/$1"
  mkdir -p "$work"
  rc=0
  "$build/bin/fuzz_$1" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 \
      -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$1-" \
      "$work" "$here/corpus/$1" >"$build/fuzz-artifacts/$1.log" 2>&1 || rc=$?
  echo "$rc" >"$build/fuzz-artifacts/$1.rc"
}

# The target's line; 1 when it failed.
report() {
  log="$build/fuzz-artifacts/$1.log"
  result=ok
  [ "$(cat "$build/fuzz-artifacts/$1.rc" 2>/dev/null)" = 0 ] || result=FAILED
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1)
  printf 'fuzz %-9s %-6s %s s, %s executions, %s, %s (log %s)\n' "$1" "$result" "$seconds" \
    "${execs:-?}" "${cov:-cov: ?}" "${ft:-ft: ?}" "$log"
  if [ "$result" = FAILED ]; then
    grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -n 5 || true
    return 1
  fi
  return 0
}

status=0
set -- $targets
while [ $# -gt 0 ]; do
  batch=""
  n=0
  while [ $n -lt "$jobs" ] && [ $# -gt 0 ]; do
    rm -f "$build/fuzz-artifacts/$1.rc"
    fuzz_one "$1" &
    batch="$batch $1"
    n=$((n + 1))
    shift
  done
  wait   # every target of the batch ends by itself: -max_total_time bounds it
  for t in $batch; do
    report "$t" || status=1
  done
done
exit $status
