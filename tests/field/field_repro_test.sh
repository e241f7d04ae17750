#!/bin/sh
# The field-failure walkthrough (README "Field failure"), end to end: a
# customer-style chain made with openssl today in a fresh directory, one
# `tlsmatrix repro` with relative paths per step, on the virtual camera (DER
# only: the PEM files must be converted). With and without the server's key.
set -u
bin=${TM_BUILD_DIR:?}/bin/tlsmatrix
work=$(mktemp -d) || exit 1
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
cd "$work" || exit 1
fails=0
check() {   # check WHAT EXPECTED-RC ACTUAL-RC
    if [ "$2" != "$3" ]; then
        echo "FAIL: $1: exit $3, expected $2" >&2
        fails=$((fails + 1))
    else
        echo "ok: $1"
    fi
}
has() {     # has WHAT FILE PATTERN
    if grep -q -- "$3" "$2" 2>/dev/null; then echo "ok: $1"; else
        echo "FAIL: $1: '$3' not in $2" >&2; fails=$((fails + 1)); fi
}

# The customer's PKI: EC root and intermediate (with a policy), RSA leaf for a DNS name.
mk() { openssl "$@" >/dev/null 2>&1 || { echo "openssl $1 failed" >&2; exit 1; }; }
mk req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout root.key -out root.pem \
   -days 3650 -subj "/O=Example Corp/CN=Example Root CA" \
   -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
mk req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout int.key -out int.csr \
   -subj "/O=Example Corp/CN=Example Issuing CA 1"
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\ncertificatePolicies=2.23.140.1.2.1\n' >int.ext
mk x509 -req -in int.csr -CA root.pem -CAkey root.key -CAcreateserial -out int.pem -days 1825 -extfile int.ext
mk req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/O=Example Corp/CN=shop.example.com"
printf 'subjectAltName=DNS:shop.example.com\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' >server.ext
mk x509 -req -in server.csr -CA int.pem -CAkey int.key -CAcreateserial -out server.pem -days 365 -extfile server.ext

run() { "$bin" repro --quiet "$@" >out.txt 2>err.txt; echo $?; }

# 1. With the key: the server sends only its leaf → untrusted; with the intermediate → ok.
rc=$(run --peer-cert server.pem --peer-key server.key --ca root.pem \
         --expect-device verify-failed:untrusted --expect-peer 'alert-received:*' --report key-missing)
check "with key, missing intermediate: verify-failed:untrusted" 0 "$rc"
has "PEM converted for the DER-only camera" key-missing/cases/repro_openssl_custom_tls/serial.log "PEM converted to DER"
has "hostname from the leaf" err.txt "server_hostname shop.example.com"
rc=$(run --peer-cert server.pem --peer-cert int.pem --peer-key server.key --ca root.pem --report key-ok)
check "with key, intermediate added: ok" 0 "$rc"
has "originals kept" key-ok/field/original/02-server.pem "BEGIN CERTIFICATE"

# 2. Without the key: look-alikes of the chain and the anchor.
rc=$(run --peer-cert server.pem --ca root.pem --expect-device verify-failed:untrusted \
         --expect-peer 'alert-received:*' --report la-missing)
check "look-alike, missing intermediate: verify-failed:untrusted" 0 "$rc"
rc=$(run --peer-cert server.pem --peer-cert int.pem --ca root.pem --report la-ok)
check "look-alike, intermediate added: ok" 0 "$rc"
has "listing: subject kept" la-ok/field/lookalike.txt "kept     subject .*CN=shop.example.com"
has "listing: policies kept" la-ok/field/lookalike.txt "kept     X509v3 Certificate Policies"
has "listing: key type kept" la-ok/field/lookalike.txt "kept     key type .*RSA 2048"
has "listing: public key differs" la-ok/field/lookalike.txt "differs  public key"
if cmp -s la-ok/field/peer/cert-1-1.pem server.pem; then
    echo "FAIL: the look-alike leaf is the original" >&2; fails=$((fails + 1)); fi

# --save-scenario: the case as a scenario and the chain as a PKI description;
# pkigen builds the description, and the scenario runs from it.
rc=$(run --peer-cert server.pem --peer-cert int.pem --ca root.pem --save-scenario shop-chain --report saved)
check "--save-scenario: the repro itself" 0 "$rc"
has "the scenario names the description's fixtures" shop-chain.yaml '"cert":\["shop-chain-2.der","shop-chain-3.der"\]'
has "the description keeps the policy as a comment" shop-chain.pki.yaml "Certificate Policies"
"${TM_BUILD_DIR}/bin/pkigen" --desc shop-chain.pki.yaml --out fx >/dev/null 2>&1
check "pkigen builds the saved description" 0 "$?"
"$bin" run --quiet --scenarios shop-chain.yaml --fixtures fx --report saved-run >out.txt 2>err.txt
check "the saved scenario runs: ok" 0 "$?"
has "one case ran" err.txt "1 cases: 1 pass"
rc=$(run --peer-cert server.pem --ca root.pem --save-scenario shop-chain --report saved2)
check "--save-scenario never overwrites" 2 "$rc"
has "the existing file is named" err.txt "shop-chain.yaml: exists"

# 3. The clock: the user's certificates at a time before they were issued.
rc=$(run --peer-cert server.pem --peer-cert int.pem --ca root.pem --clock 2020-01-01 \
         --expect-device verify-failed:future --expect-peer 'alert-received:*' --report clock)
check "--clock 2020-01-01: verify-failed:future" 0 "$rc"

# 4. --target: no local peer, the device goes to a real server (openssl s_server).
# s_server ends at EOF on its stdin: give it a FIFO this shell holds open.
mkfifo in.fifo && exec 3<>in.fifo
timeout 60 openssl s_server -accept 127.0.0.1:0 -cert server.pem -cert_chain int.pem \
    -key server.key -naccept 1 <in.fifo >sserver.out 2>&1 &
spid=$!
port=
i=0   # its ACCEPT line is the event; 60 s is only a hang guard
while [ -z "$port" ] && [ $i -lt 600 ]; do
    port=$(sed -n 's/^ACCEPT 127.0.0.1:\([0-9]*\)$/\1/p' sserver.out)
    [ -n "$port" ] || sleep 0.1
    i=$((i + 1))
done
if [ -z "$port" ]; then
    echo "FAIL: openssl s_server never printed its ACCEPT line" >&2
    cat sserver.out >&2
    kill "$spid"
    exit 1
fi
rc=$(run --target "127.0.0.1:$port" --ca root.pem --hostname shop.example.com --report target)
check "--target s_server with the full chain: ok" 0 "$rc"
has "peer side is the remote server" target/cases/repro_openssl_custom_tls/case.json '"peer": "remote"'
kill "$spid" 2>/dev/null
exec 3>&-
rc=$(run --target "127.0.0.1:$port" --role server --ca root.pem --report bad0)
check "--target with the device as server is a usage error" 2 "$rc"
rc=$(run --target 127.0.0.1:99999 --ca root.pem --report bad0b)
check "--target with a port out of range is a usage error" 2 "$rc"
has "the field is named" err.txt "field 'target': '127.0.0.1:99999' is not HOST:PORT"

# 5. Setup errors: exit 2 naming the cause, nothing run.
rc=$(run --peer-cert server.pem --ca nosuch.pem --report bad1)
check "a missing file is a setup error" 2 "$rc"
has "the path is named" err.txt "nosuch.pem"
rc=$(run --peer-cert server.csr --ca root.pem --report bad2)
check "a CSR is not a certificate" 2 "$rc"
rc=$(run --peer-cert server.pem --peer-key server.key --ca root.pem --peer-arg=--no-such-flag --report bad3)
check "a peer that cannot start is a setup error" 2 "$rc"
has "the peer's own error line" err.txt "tlspeer: unknown flag '--no-such-flag'"
rc=$(run --peer-cert p256-server.der --ca root.pem --report bad4)
check "a fixture name is not found as a path" 2 "$rc"

[ "$fails" -eq 0 ] || { echo "$fails check(s) failed" >&2; exit 1; }
echo "all field checks passed"
