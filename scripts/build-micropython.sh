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
# Cache: a program built once is kept in TM_CACHE_DIR (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/tlsmatrix; TM_CACHE_DIR=off turns it off) under a key
# of the two source stamps, this script and the compiler's version, so a fresh clone
# on the same machine (CI) copies it instead of building it again (minutes); the copy
# passes the same check as a build.
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

stamp="$(cat "$mpy/.tm-source" "$mbed/.tm-source" 2>/dev/null) $(sha256sum <"$0")"
# The cache's key: the stamp and the compiler that builds the port.
cache=${TM_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:+$HOME/.cache}}}
[ -n "${TM_CACHE_DIR:-}" ] || cache=${cache:+$cache/tlsmatrix}
[ -n "$cache" ] || cache=off
cc_version=$(${CC:-cc} --version 2>/dev/null | head -n 1)
key=$(printf '%s\n%s\n' "$stamp" "$cc_version" | sha256sum | cut -c1-32)
cached=$cache/micropython-$key

# Best effort: a cache that cannot be written costs the next clone a build, nothing more.
store_in_cache() {
  [ "$cache" != off ] && [ ! -f "$cached" ] || return 0
  { mkdir -p "$cache" && cp "$out/micropython" "$cached.tmp.$$" && mv "$cached.tmp.$$" "$cached"; } \
      2>/dev/null || echo "build-micropython: not cached: $cache is not writable" >>"$log"
}

# Up to date: the same sources and this same script built OUT/micropython (CMake
# calls again when a file's time changed, e.g. after a git checkout).
if [ -x "$out/micropython" ] && [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
  touch "$out/micropython"
  store_in_cache
  exit 0
fi

# The program must be the device it claims to be: MicroPython with tls on 3.6.6, and
# asyncio frozen in. Prints its mbedTLS version; fails otherwise.
is_device() {
  got=$("$1" -c 'import asyncio, tls; print(tls.MBEDTLS_VERSION)' 2>>"$log") || return 1
  [ "$got" = "Mbed TLS 3.6.6" ] || { echo "$1 reports '$got', not Mbed TLS 3.6.6" >>"$log"; return 1; }
}

# OUT/micropython from FILE, through a temporary name (a killed copy leaves no program).
install_from() {
  cp "$1" "$out/micropython.tmp"
  mv "$out/micropython.tmp" "$out/micropython"
  printf '%s\n' "$stamp" >"$out/.stamp"
}

: >"$log"
if [ "$cache" != off ] && [ -f "$cached" ]; then
  if is_device "$cached"; then
    install_from "$cached"
    echo "build-micropython: $out/micropython ($got) from the cache $cached"
    exit 0
  fi
  echo "build-micropython: the cached $cached is not the device; building" >>"$log"
fi

started=$(date +%s)
stage >>"$log" 2>&1 || die "staging the sources in $out/src failed; see $log"
# MAKEFLAGS from CMake's make would hand this make the outer job server.
env -u MAKEFLAGS -u MFLAGS make -C "$out/src/mpy-cross" -j"${TM_MPY_JOBS:-2}" \
    BUILD="$out/obj-mpy-cross" >>"$log" 2>&1 || die "make of mpy-cross failed; see $log"
env -u MAKEFLAGS -u MFLAGS make -C "$out/src/ports/unix" -j"${TM_MPY_JOBS:-2}" \
    BUILD="$out/obj" MICROPY_MPYCROSS="$out/obj-mpy-cross/mpy-cross" \
    FROZEN_MANIFEST="$out/src/manifest.py" MICROPY_PY_FFI=0 MICROPY_PY_BTREE=0 \
    >>"$log" 2>&1 || die "make of MicroPython's unix port failed; see $log"

is_device "$out/obj/micropython" || die "the built micropython is not the device (tls on Mbed TLS 3.6.6, asyncio); see $log"
install_from "$out/obj/micropython"
store_in_cache
echo "build-micropython: $out/micropython ($got) built in $(( $(date +%s) - started )) s"
