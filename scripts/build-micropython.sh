#!/bin/sh
# build-micropython.sh MPY_TREE MBEDTLS_TREE OUT
# Build MicroPython's unix port from Debian 13's source (MPY_TREE, unpacked by
# scripts/fetch-source.sh) against the mbedTLS 3.6.6 source (MBEDTLS_TREE), the way
# MicroPython's own Makefile builds it when lib/mbedtls holds the source: mbedTLS's
# library files compiled into the binary with MicroPython's own config
# (ports/unix/mbedtls/mbedtls_config_port.h). Called by CMake (tests/mpy), which
# runs it only when OUT/micropython is missing or older than its inputs.
#
# OUT/src is a tree of symbolic links to MPY_TREE (the unpacked sources stay
# read-only, shared by build/ and build-asan/) with lib/mbedtls linked to
# MBEDTLS_TREE; objects go to OUT/obj; the program is OUT/micropython.
# Build options, and why:
#   FROZEN_MANIFEST       the standard variant's manifest without micropython-lib, which
#                         the +ds tarball drops: asyncio (extmod/asyncio) is frozen in
#                         as on the camera, the `ssl` wrapper is not (so this device
#                         has `tls` only, and its hello says modules.ssl=false)
#   MICROPY_MPYCROSS      mpy-cross (which freezing needs) built first into its own
#                         OUT/obj-mpy-cross: the port's automatic build of it would
#                         inherit BUILD=OUT/obj and mix the two programs' objects
#   MICROPY_PY_FFI=0      ffi needs libffi-dev and nothing here uses it
#   MICROPY_PY_BTREE=0    the +ds tarball drops lib/berkeley-db-1.xx
# Failure: one line on stderr naming the log (OUT/build.log), exit 2.
set -eu

[ $# -eq 3 ] || { echo "usage: build-micropython.sh MPY_TREE MBEDTLS_TREE OUT" >&2; exit 2; }
mpy=$1
mbed=$2
out=$3
log=$out/build.log

die() { echo "build-micropython: $*" >&2; exit 2; }

[ -f "$mpy/ports/unix/Makefile" ] || die "$mpy is not a MicroPython source tree (run sh scripts/deps.sh)"
[ -f "$mbed/library/ssl_tls.c" ] || die "$mbed is not an mbedTLS source tree (run sh scripts/deps.sh)"
mkdir -p "$out"

# build/ and build-asan/ share OUT: one build at a time.
exec 9>"$out/.lock"
flock -w 1800 9 || die "another build holds $out/.lock"

stage() {
  rm -rf "$out/src.tmp"
  cp -rs "$mpy" "$out/src.tmp"
  rm -rf "$out/src.tmp/lib/mbedtls"
  ln -s "$mbed" "$out/src.tmp/lib/mbedtls"
  # make checks for micropython-lib's README before freezing; the +ds tarball drops it
  echo "micropython-lib is not part of Debian's +ds source" >"$out/src.tmp/lib/micropython-lib/README.md"
  printf '%s\n' 'include("$(MPY_DIR)/extmod/asyncio")' >"$out/src.tmp/manifest.py"
  rm -rf "$out/src" "$out/obj" "$out/obj-mpy-cross"
  mv "$out/src.tmp" "$out/src"
}

# Up to date: the same sources and this same script built OUT/micropython (CMake
# calls again when a file's time changed, e.g. after a git checkout).
stamp="$(cat "$mpy/.tm-source" "$mbed/.tm-source" 2>/dev/null) $(sha256sum <"$0")"
if [ -x "$out/micropython" ] && [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
  touch "$out/micropython"
  exit 0
fi

started=$(date +%s)
: >"$log"
stage >>"$log" 2>&1 || die "staging the sources in $out/src failed; see $log"
# MAKEFLAGS from CMake's make would hand this make the outer job server.
env -u MAKEFLAGS -u MFLAGS make -C "$out/src/mpy-cross" -j"${TM_MPY_JOBS:-2}" \
    BUILD="$out/obj-mpy-cross" >>"$log" 2>&1 || die "make of mpy-cross failed; see $log"
env -u MAKEFLAGS -u MFLAGS make -C "$out/src/ports/unix" -j"${TM_MPY_JOBS:-2}" \
    BUILD="$out/obj" MICROPY_MPYCROSS="$out/obj-mpy-cross/mpy-cross" \
    FROZEN_MANIFEST="$out/src/manifest.py" MICROPY_PY_FFI=0 MICROPY_PY_BTREE=0 \
    >>"$log" 2>&1 || die "make of MicroPython's unix port failed; see $log"

# The program must be the device it claims to be: MicroPython with tls on 3.6.6, and
# asyncio frozen in.
got=$("$out/obj/micropython" -c 'import asyncio, tls; print(tls.MBEDTLS_VERSION)' 2>>"$log") ||
  die "the built micropython does not run; see $log"
[ "$got" = "Mbed TLS 3.6.6" ] || die "the built micropython reports '$got', not Mbed TLS 3.6.6; see $log"
cp "$out/obj/micropython" "$out/micropython.tmp"
mv "$out/micropython.tmp" "$out/micropython"
printf '%s\n' "$stamp" >"$out/.stamp"
echo "build-micropython: $out/micropython ($got) built in $(( $(date +%s) - started )) s"
