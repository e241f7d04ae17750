#!/bin/sh
# fetch-source.sh [PKG…]  Fetch Debian 13 (trixie) source packages, check them and
# unpack the pristine upstream tree under build/src/. Called by scripts/deps.sh.
#
#   sh scripts/fetch-source.sh                 # every package in scripts/source-packages
#   sh scripts/fetch-source.sh micropython     # one; its version comes from that table
#
# The versions are pinned in scripts/source-packages (PKG=VERSION lines), the one table
# both this script and CMake read; CMake's tm_source_tree(PKG VAR) sets VAR to the
# unpacked tree and stops with "run scripts/deps.sh" when it is missing.
#
# For each PKG the result is build/src/PKG-VERSION/: the upstream tarball as
# released (Debian's packaging and patches left out: `dpkg-source --skip-patches
# --skip-debianization`), so builds see what the device firmware builds. The
# downloaded .dsc/.orig/.debian files stay in build/src/dl/. Nothing is vendored.
#
# Steps, each skipped when already done, so a second run is a no-op that neither
# fetches nor touches the tree (its stamp file build/src/PKG-VERSION/.tm-source holds
# PKG=VERSION once unpacking succeeded):
#   1. a deb-src entry for trixie in /etc/apt/sources.list.d/tlsmatrix-trixie-src.sources
#      (deb822, Signed-By the Debian archive keyring), then `apt-get update` (root only);
#   2. `apt-get source --download-only PKG=VERSION` into build/src/dl/ (apt checks the
#      files against the signed Sources index);
#   3. `dpkg-source -x` re-checks the .dsc checksums and unpacks.
# The build (CMake) uses the tree read-only, so build/ and build-asan/ share it.
#
# Failure: one line on stderr naming the package and the log file, exit 2.
# Environment: TM_SRC_DIR overrides the cache directory (default: <repo>/build/src).
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
srcdir=${TM_SRC_DIR:-$here/build/src}
dldir=$srcdir/dl
list=/etc/apt/sources.list.d/tlsmatrix-trixie-src.sources
apt_opts="-o Acquire::http::Timeout=30 -o Acquire::Retries=2"   # no endless waits

die() { echo "fetch-source: $*" >&2; exit 2; }

table=$here/scripts/source-packages

# Adds the deb-src entry and refreshes the index. Returns 1 when not root.
add_deb_src() {
  [ "$(id -u)" -eq 0 ] || return 1
  if [ ! -f "$list" ]; then
    tmp=$list.tmp.$$
    cat >"$tmp" <<'EOF'
# Added by tlsmatrix scripts/fetch-source.sh: source packages only (no binaries).
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie trixie-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: trixie-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    mv "$tmp" "$list"
  fi
  apt-get update -q $apt_opts >>"$log" 2>&1
}

# Downloads PKG=VERSION into $dldir; on a first miss adds trixie and retries once.
download() {
  (cd "$dldir" && apt-get source -q $apt_opts --download-only "$1") >>"$log" 2>&1 && return 0
  add_deb_src || return 1
  (cd "$dldir" && apt-get source -q $apt_opts --download-only "$1") >>"$log" 2>&1
}

# Prints the PKG=VERSION line of the table for PKG (nothing if absent).
lookup() {
  while read -r line; do
    case "$line" in "$1="?*) echo "$line"; return 0 ;; esac
  done <"$table"
}

fetch_one() {
  spec=$(lookup "$1")
  [ -n "$spec" ] || die "$1: not in $table"
  pkg=$1
  ver=${spec#*=}
  tree=$srcdir/$pkg-$ver
  if [ -f "$tree/.tm-source" ] && [ "$(cat "$tree/.tm-source")" = "$spec" ]; then
    return 0
  fi
  mkdir -p "$dldir"
  log=$srcdir/$pkg.log
  : >"$log"
  # The .dsc name drops the epoch; versions here have none.
  dsc=$dldir/${pkg}_$ver.dsc
  if [ ! -f "$dsc" ]; then
    download "$spec" ||
      die "cannot fetch Debian source package $spec from trixie (needs network and, the first time, root to add the deb-src entry); see $log"
  fi
  command -v dpkg-source >/dev/null 2>&1 ||
    die "dpkg-source not found: apt-get install dpkg-dev"
  rm -rf "$tree" "$tree.tmp"
  (cd "$dldir" && dpkg-source --no-copy --skip-debianization --skip-patches -x "$dsc" "$tree.tmp") \
      >>"$log" 2>&1 || {
    rm -rf "$tree.tmp" "$dldir/${pkg}_"*   # fetched afresh next time
    die "checking or unpacking $dsc failed (bad checksum or archive); see $log"
  }
  echo "$spec" >"$tree.tmp/.tm-source"
  mv "$tree.tmp" "$tree"
  echo "fetch-source: $spec unpacked in $tree"
}

if [ $# -eq 0 ]; then
  set -- $(sed -n 's/^\([a-z0-9][a-z0-9.+-]*\)=.*/\1/p' "$table")
fi
for pkg in "$@"; do
  fetch_one "$pkg"
done
