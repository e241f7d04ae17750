#!/bin/sh
# scripts/fetch-source.sh: a cached tree is a no-op (nothing fetched, nothing said),
# and a package that cannot be fetched fails with exit 2 and one line naming it.
# apt-get and dpkg-source are replaced by failing stand-ins on PATH, so a fetch
# attempt cannot succeed and the no-op case proves nothing was fetched.
set -u
src=${TM_SOURCE_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir "$tmp/bin"
for tool in apt-get dpkg-source; do
  printf '#!/bin/sh\necho "%s called" >>"%s/called"\nexit 100\n' "$tool" "$tmp" >"$tmp/bin/$tool"
  chmod +x "$tmp/bin/$tool"
done
printf '#!/bin/sh\necho 1000\n' >"$tmp/bin/id"   # not root: /etc/apt stays untouched
chmod +x "$tmp/bin/id"

spec=$(grep '^mbedtls=' "$src/scripts/source-packages")
[ -n "$spec" ] || fail "no mbedtls line in scripts/source-packages"

# 1. Cached: stamp matches the table → exit 0, silent, no tool called.
mkdir -p "$tmp/cache/mbedtls-${spec#mbedtls=}"
echo "$spec" >"$tmp/cache/mbedtls-${spec#mbedtls=}/.tm-source"
out=$(TM_SRC_DIR="$tmp/cache" PATH="$tmp/bin:$PATH" sh "$src/scripts/fetch-source.sh" mbedtls 2>&1)
[ $? -eq 0 ] || fail "cached tree: exit $?: $out"
[ -z "$out" ] || fail "cached tree: output '$out'"
[ ! -e "$tmp/called" ] || fail "cached tree: $(cat "$tmp/called")"

# 2. Not cached and not fetchable → exit 2, one stderr line naming the package.
TM_SRC_DIR="$tmp/empty" PATH="$tmp/bin:$PATH" \
  sh "$src/scripts/fetch-source.sh" mbedtls >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] || fail "unfetchable: exit $rc"
[ ! -s "$tmp/out" ] || fail "unfetchable: stdout '$(cat "$tmp/out")'"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "unfetchable: stderr not one line: $(cat "$tmp/err")"
grep -q "^fetch-source: cannot fetch Debian source package $spec " "$tmp/err" ||
  fail "unfetchable: message '$(cat "$tmp/err")'"
[ ! -e "$tmp/empty/mbedtls-${spec#mbedtls=}" ] || fail "unfetchable: left a tree behind"

# 3. A package not in the table → exit 2, one line.
TM_SRC_DIR="$tmp/empty" sh "$src/scripts/fetch-source.sh" nosuchpkg 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "nosuchpkg: not in" "$tmp/err" ||
  fail "unknown package: exit $rc, '$(cat "$tmp/err")'"
echo "ok"
