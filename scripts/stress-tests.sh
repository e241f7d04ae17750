#!/bin/sh
# Is the suite stable? Run the whole ctest suite N times, every second run with all
# CPUs loaded by stress-ng, and report per test how many runs it failed. Exit 0 only
# when every test passed every time.
#
#   sh scripts/stress-tests.sh N [BUILD_DIR]      (default build dir: build)
#
# stress-ng is Debian's: `apt-get install stress-ng`. Each ctest run is bounded
# (STRESS_RUN_TIMEOUT seconds, default 1800, on top of each test's own TIMEOUT);
# the load lives only as long as its run. Logs: BUILD_DIR/stress/run-K.log.
set -eu

usage() {
  echo "usage: sh scripts/stress-tests.sh N [BUILD_DIR]   (N: runs, 1..1000)" >&2
  exit 2
}
[ $# -ge 1 ] && [ $# -le 2 ] || usage
runs=$1
case "$runs" in ''|*[!0-9]*) echo "stress-tests: N must be a whole number, got '$runs'" >&2; usage ;; esac
[ "$runs" -ge 1 ] && [ "$runs" -le 1000 ] || { echo "stress-tests: N must be 1..1000, got $runs" >&2; usage; }

here=$(cd "$(dirname "$0")/.." && pwd)
build=${2:-"$here/build"}
case "$build" in /*) ;; *) build="$(pwd)/$build" ;; esac
run_timeout=${STRESS_RUN_TIMEOUT:-1800}
case "$run_timeout" in ''|*[!0-9]*) echo "stress-tests: STRESS_RUN_TIMEOUT must be seconds, got '$run_timeout'" >&2; exit 2 ;; esac
cpus=$(nproc)

if ! command -v stress-ng >/dev/null 2>&1; then
  echo "stress-tests: stress-ng is needed for the loaded runs; install it with" >&2
  echo "  apt-get install stress-ng     (Debian; as root or with sudo)" >&2
  exit 2
fi

echo "stress-tests: building in $build"
cmake -S "$here" -B "$build" >/dev/null
cmake --build "$build" -j "$cpus" >/dev/null

logs="$build/stress"
mkdir -p "$logs"
tally="$logs/failures.txt"   # one line per failed test per run: NAME LOAD
: > "$tally"
load_pid=""
stop_load() {
  if [ -n "$load_pid" ]; then
    kill "$load_pid" 2>/dev/null || true
    wait "$load_pid" 2>/dev/null || true
    load_pid=""
  fi
}
trap 'stop_load' EXIT
trap 'stop_load; exit 130' INT TERM

bad_runs=0
k=1
while [ "$k" -le "$runs" ]; do
  load=idle
  if [ $((k % 2)) -eq 0 ]; then
    load=loaded
    # Every CPU busy for at most the run's bound; stopped as soon as the run ends.
    stress-ng --cpu "$cpus" --cpu-load 100 --timeout "${run_timeout}s" --quiet &
    load_pid=$!
  fi
  log="$logs/run-$k.log"
  start=$(date +%s)
  rc=0
  # As `make check` runs it: twice as many tests at a time as CPUs (Makefile, CTEST_JOBS).
  (cd "$build" && timeout --kill-after=30 "$run_timeout" ctest -j "$((cpus * 2))" --output-on-failure) \
      > "$log" 2>&1 || rc=$?
  stop_load
  took=$(( $(date +%s) - start ))
  # ctest's result lines: "  3/28 Test  #7: test_vcam ........***Failed   12.01 sec"
  failed=$(sed -n 's/^ *[0-9]*\/[0-9]* *Test *#[0-9]*: *\([^ ]*\) .*\(\*\*\*\|Not Run\).*/\1/p' "$log")
  passed=$(grep -c '^ *[0-9]*/[0-9]* *Test *#[0-9]*: .* Passed' "$log" || true)
  if [ "$rc" -ne 0 ] && [ -z "$failed" ]; then
    failed="(ctest-exit-$rc)"   # timed out or died before reporting a test
  fi
  for t in $failed; do echo "$t $load" >> "$tally"; done
  if [ -n "$failed" ]; then
    bad_runs=$((bad_runs + 1))
    echo "run $k/$runs ($load, ${took}s): $passed passed; FAILED: $(echo $failed)   log: $log"
  else
    echo "run $k/$runs ($load, ${took}s): $passed passed"
  fi
  k=$((k + 1))
done

echo
loaded_runs=$((runs / 2))
echo "stress-tests: $runs runs ($loaded_runs with $cpus CPUs loaded by stress-ng), $bad_runs with failures"
if [ ! -s "$tally" ]; then
  echo "every test passed every run"
  exit 0
fi
echo "failures per test (of $runs runs: idle / loaded):"
for t in $(cut -d' ' -f1 "$tally" | sort -u); do
  idle=$(grep -c "^$t idle\$" "$tally" || true)
  loaded=$(grep -c "^$t loaded\$" "$tally" || true)
  echo "  $t: $((idle + loaded)) ($idle idle / $loaded loaded)"
done
exit 1
