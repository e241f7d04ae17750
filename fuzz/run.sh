#!/bin/sh
# Run every fuzz target of a TM_FUZZ build for SECONDS each (make fuzz).
# usage: fuzz/run.sh BUILD_DIR SECONDS
# Each target starts from its committed seeds (fuzz/corpus/NAME, never written)
# plus BUILD_DIR/fuzz-corpus/NAME, where new inputs collect between runs. A crash,
# leak, timeout (10 s per input) or out-of-memory (1 GB) fails the run; the input
# is in BUILD_DIR/fuzz-artifacts/ — add it to fuzz/corpus/NAME/ once fixed, and the
# ctest fuzz_replay_NAME keeps it fixed. One line per target: executions, coverage.
set -eu
build=$1
seconds=$2
here=$(cd "$(dirname "$0")" && pwd)
targets=$(cat "$build/fuzz-targets.txt")
mkdir -p "$build/fuzz-artifacts"
status=0
for t in $targets; do
  work="$build/fuzz-corpus/$t"
  log="$build/fuzz-artifacts/$t.log"
  mkdir -p "$work"
  if "$build/bin/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 \
       -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$t-" \
       "$work" "$here/corpus/$t" >"$log" 2>&1; then
    result=ok
  else
    result=FAILED
    status=1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1)
  printf 'fuzz %-9s %-6s %s s, %s executions, %s, %s (log %s)\n' "$t" "$result" "$seconds" \
    "${execs:-?}" "${cov:-cov: ?}" "${ft:-ft: ?}" "$log"
  if [ "$result" = FAILED ]; then
    grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -n 5 || true
  fi
done
exit $status
