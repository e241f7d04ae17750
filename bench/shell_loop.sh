#!/bin/sh
# The shell-loop baseline: the harness people write by hand, in the style of
# mbedTLS's tests/ssl-opt.sh. Per case: start `openssl s_server` in the background,
# poll until its port is open, run one client handshake (bench_client: the virtual
# camera's device TLS code, as ssl-opt.sh runs ssl_client2), kill the server.
# Same cases as bench/scenarios: happy path and an untrusted server leaf, per key
# type, TLS and DTLS.
#
# Deliberately the favourable version of that loop, so the comparison is not
# against a strawman: `ss` instead of lsof, a 10 ms poll instead of ssl-opt.sh's
# 100 ms, no per-case log parsing.
#
# usage: shell_loop.sh BIN_DIR FIXTURES_DIR ROUNDS nodelay|delay [PORT]
# Prints one JSON line per case:
#   {"bench":"shell","case":"happy","keytype":"p256","proto":"tls","nodelay":true,
#    "as_expected":true,"ms":41}
# Exit 0 when every case ended as expected, 1 otherwise, 2 on usage errors.
set -u

if [ $# -lt 4 ]; then
    echo "usage: shell_loop.sh BIN_DIR FIXTURES_DIR ROUNDS nodelay|delay [PORT]" >&2
    exit 2
fi
BIN=$1
CERTS=$2
ROUNDS=$3
MODE=$4
# ssl-opt.sh derives its fixed port from the PID the same way. Below Linux's
# ephemeral range (32768-60999): there, any other program's connect() or bind(0)
# could already hold it, and s_server then fails with "Address already in use".
PORT=${5:-$((20000 + $$ % 10000))}
CLIENT_NODELAY=""
NODELAY_JSON=false
case $MODE in
    nodelay) CLIENT_NODELAY=--nodelay; NODELAY_JSON=true ;;
    delay) ;;
    *) echo "shell_loop.sh: mode must be nodelay or delay, not '$MODE'" >&2; exit 2 ;;
esac
if [ ! -x "$BIN/bench_client" ] || [ ! -r "$CERTS/manifest.json" ]; then
    echo "shell_loop.sh: need $BIN/bench_client and $CERTS/manifest.json" >&2
    exit 2
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tm-bench-shell.XXXXXX") || exit 2
srv=""
# A stopped loop must not leave a server behind on the port.
trap '[ -n "$srv" ] && kill "$srv" 2>/dev/null; rm -rf "$WORK"' EXIT
trap 'exit 2' HUP INT PIPE TERM

now_ms() {
    echo $(( $(date +%s%N) / 1000000 ))
}

# wait_server_start PORT PID PROTO: as ssl-opt.sh, poll until the server's socket
# is listening (TCP) or bound (UDP); give up after 10 s or when the server died.
wait_server_start() {
    deadline=$(( $(now_ms) + 10000 ))
    if [ "$3" = dtls ]; then flags=-uln; else flags=-tln; fi
    while ! ss -H $flags "sport = :$1" | grep -q .; do
        kill -0 "$2" 2>/dev/null || return 1
        [ "$(now_ms)" -lt "$deadline" ] || return 1
        sleep 0.01
    done
    return 0
}

# run_case CASE KT PROTO: one server, one client handshake, kill; prints the line.
run_case() {
    if [ "$1" = happy ]; then leaf=$2-server; want=0; else leaf=$2-server-untrusted; want=1; fi
    chain=""
    [ -s "$CERTS/$leaf.chain.pem" ] && chain="-cert_chain $CERTS/$leaf.chain.pem"
    dtls=""
    [ "$3" = dtls ] && dtls=-dtls
    t0=$(now_ms)
    # shellcheck disable=SC2086
    openssl s_server $dtls -quiet -naccept 1 -accept "$PORT" -cert "$CERTS/$leaf.pem" \
        -key "$CERTS/$leaf.key.pem" $chain </dev/null >"$WORK/server.log" 2>&1 &
    srv=$!
    got=2
    if wait_server_start "$PORT" "$srv" "$3"; then
        # shellcheck disable=SC2086
        timeout 15 "$BIN/bench_client" --proto "$3" --port "$PORT" \
            --ca "$CERTS/$2-root.der" $CLIENT_NODELAY >"$WORK/client.log" 2>&1
        got=$?
    fi
    kill "$srv" 2>/dev/null
    wait "$srv" 2>/dev/null
    srv=""
    t1=$(now_ms)
    if [ "$got" = "$want" ]; then ok=true; else ok=false; FAILED=1; fi
    if [ "$ok" = false ]; then
        echo "shell_loop.sh: $1/$2/$3: client exit $got, wanted $want" >&2
        sed 's/^/  server: /' "$WORK/server.log" >&2
        sed 's/^/  client: /' "$WORK/client.log" >&2
    fi
    printf '{"bench":"shell","case":"%s","keytype":"%s","proto":"%s","nodelay":%s,"as_expected":%s,"ms":%d}\n' \
        "$1" "$2" "$3" "$NODELAY_JSON" "$ok" "$((t1 - t0))"
}

FAILED=0
r=0
while [ "$r" -lt "$ROUNDS" ]; do
    for kt in p256 p384 rsa2048; do
        for case in happy untrusted; do
            for proto in tls dtls; do
                run_case "$case" "$kt" "$proto"
            done
        done
    done
    r=$((r + 1))
done
exit $FAILED
