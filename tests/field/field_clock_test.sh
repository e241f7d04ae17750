#!/bin/sh
# The clock policy for a device that cannot set its clock (no machine.RTC, the
# clock is the host's: a virtual camera with `rtc: false`), against fixtures
# generated months before its time: the run generates a set for the device's
# own day (pkigen with the build's key cache, cached per day) and every case
# runs but the ones that need an unset clock.
set -u
build=${TM_BUILD_DIR:?}
work=$(mktemp -d) || exit 1
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
cd "$work" || exit 1
fails=0
check() { if [ "$2" != "$3" ]; then echo "FAIL: $1: got $3, expected $2" >&2; fails=$((fails + 1));
          else echo "ok: $1"; fi; }
has() { if grep -q -- "$3" "$2" 2>/dev/null; then echo "ok: $1"; else
        echo "FAIL: $1: '$3' not in $2" >&2; fails=$((fails + 1)); fi; }

ln -s "$build/fixtures/key-cache" key-cache
old=$(date -u -d '-200 days' +%Y-%m-%d)
"$build/bin/pkigen" --desc "${TM_SOURCE_DIR:?}/fixtures/certs/pki.yaml" --out certs \
    --ref-time "$old" --key-cache key-cache >/dev/null || exit 1
sed -e 's/^name: .*/name: hostclock/' -e '$a rtc: false' \
    "$TM_SOURCE_DIR/camera/sim/profiles/openmv-default.yaml" >hostclock.yaml

run() { "$build/bin/tlsmatrix" run --quiet --device "virtual:--profile $work/hostclock.yaml" \
            --fixtures "$work/certs" "$@" >out.txt 2>err.txt; echo $?; }

# A "future" leaf of 200 days ago is valid today: with the run's fixtures the
# case would be skipped; with fixtures for the device's day it runs and passes.
rc=$(run --filter 'client-*-leaf/openssl/p256/tls' --min 4 --report leaf)
check "expired/future leaf cases run at the device's own time" 0 "$rc"
has "fixtures made for the device's day" err.txt "fixtures for its own day $(date -u +%Y-%m-%d)"
has "all four ran and passed" err.txt "4 cases: 4 pass"
has "the run header names them" leaf/run.json "certs.days/$(date -u +%Y-%m-%d)"
day="certs.days/$(date -u +%Y-%m-%d)"
[ -f "$day/manifest.json" ]; check "cached per day beside the run's fixtures" 0 "$?"
before=$(stat -c %Y "$day/manifest.json")

# The second run takes the cached day; a clock: unset case cannot run (skipped),
# and a run of nothing but skips is not a green run.
rc=$(run --filter 'client-clock-unset/openssl/p256/tls' --report unset)
check "every case skipped is not exit 0" 1 "$rc"
has "the skip says why" unset/summary.md "clock: unset"
check "the day's set was reused" "$before" "$(stat -c %Y "$day/manifest.json")"

[ "$fails" -eq 0 ] || { echo "$fails check(s) failed" >&2; exit 1; }
echo "all clock checks passed"
