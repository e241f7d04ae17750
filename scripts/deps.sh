#!/bin/sh
# Install the Debian packages tlsmatrix needs, only those that are missing, the
# MicroPython WebAssembly build used to compile-check the agent, and the Debian 13
# source packages the build compiles (scripts/fetch-source.sh). Safe to re-run.
set -eu
PKGS="make cmake gcc pkg-config libc6-dev dpkg-dev
libssl-dev openssl libgnutls28-dev gnutls-bin libserialport-dev
check libsubunit-dev libjansson-dev libyaml-dev libxml2-dev libxml2-utils zlib1g-dev
nodejs npm chromium python3 clang libclang-rt-14-dev ser2net ccache"

missing=""
for p in $PKGS; do
  case "$p" in
    nodejs|npm) command -v "$p" >/dev/null 2>&1 && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing Debian packages:$missing (run this script as root or with sudo)" >&2
    exit 2
  fi
  echo "deps: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $missing
fi

# MicroPython 1.27 (WebAssembly) from the npm registry: tests compile agent.py with
# MicroPython's own compiler. Kept under build/ so the source tree stays clean.
here=$(cd "$(dirname "$0")/.." && pwd)
npmdir="$here/build/npm"
if [ ! -f "$npmdir/node_modules/@micropython/micropython-webassembly-pyscript/package.json" ]; then
  mkdir -p "$npmdir"
  (cd "$npmdir" && npm install --no-audit --no-fund --loglevel=error \
      @micropython/micropython-webassembly-pyscript@1.27 >/dev/null) ||
    echo "deps: warning: npm install of MicroPython failed; agent tests will fail" >&2
fi

# mbedTLS 3.6.6 and MicroPython 1.25 sources from Debian 13, cached under build/src/.
sh "$here/scripts/fetch-source.sh"
