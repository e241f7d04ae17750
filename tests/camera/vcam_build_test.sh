#!/bin/sh
# vcam runs on the mbedTLS 3.6.6 built from source (camera/sim/mbedtls.cmake), not on
# a system libmbedtls: --version asks the linked library, ldd lists no libmbed*, and
# a profile's `pem` picks the build (vcam execs vcam-pem) with nothing else changed.
set -u
bin=${TM_BUILD_DIR:?}/bin
src=${TM_SOURCE_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

v=$("$bin/vcam" --version) || fail "vcam --version: exit $?"
[ "$v" = "Mbed TLS 3.6.6 (DER only)" ] || fail "vcam --version: '$v'"
v=$("$bin/vcam-pem" --pem --version) || fail "vcam-pem --pem --version: exit $?"
[ "$v" = "Mbed TLS 3.6.6 (PEM parsing compiled in)" ] || fail "vcam-pem --pem --version: '$v'"

for exe in vcam vcam-pem; do
  libs=$(ldd "$bin/$exe") || fail "ldd $exe"
  case "$libs" in *libmbed*) fail "$exe loads a shared mbedTLS: $libs" ;; esac
done

# The profile is data: pem: true runs the PEM build, --pem too.
sed 's/^pem: false/pem: true/' "$src/camera/sim/profiles/openmv-default.yaml" >"$tmp/pem.yaml"
grep -q '^pem: true' "$tmp/pem.yaml" || fail "could not derive a pem: true profile"
v=$("$bin/vcam" --profile "$tmp/pem.yaml" --version) || fail "pem profile: exit $?"
[ "$v" = "Mbed TLS 3.6.6 (PEM parsing compiled in)" ] || fail "pem profile: '$v'"
v=$("$bin/vcam" --pem --version) || fail "--pem: exit $?"
[ "$v" = "Mbed TLS 3.6.6 (PEM parsing compiled in)" ] || fail "--pem: '$v'"
v=$("$bin/vcam-pem" --version) || fail "DER profile on vcam-pem: exit $?"
[ "$v" = "Mbed TLS 3.6.6 (DER only)" ] || fail "DER profile on vcam-pem: '$v'"

# A sibling that is not the build it should be: one line, exit 2, no loop.
TM_VCAM_VARIANT_EXEC=1 "$bin/vcam" --pem --version >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && [ ! -s "$tmp/out" ] ||
  fail "exec loop guard: exit $rc, '$(cat "$tmp/err")'"
echo ok
