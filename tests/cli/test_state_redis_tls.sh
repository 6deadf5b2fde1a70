#!/usr/bin/env bash
# rediss:// (docs/state-redis.md, "TLS") against a real redis-server with a TLS port on
# 127.0.0.1 and certificates made here with openssl (an authority, a server certificate for
# localhost and 127.0.0.1, a client certificate; a second, unrelated authority):
#   - a scan over TLS raises exactly the alerts of a scan on an SQLite state file; `kadet state`
#     works on the URL; a password (requirepass) goes over TLS too;
#   - refused: the wrong authority, the system's trust store (the test authority is not in it),
#     a name the certificate does not carry (servername=), a plain client on the TLS port, TLS
#     on the plain port; URL mistakes (TLS parameters on redis://, cert= without key=);
#   - mutual TLS (--tls-auth-clients yes): refused without a client certificate, accepted with
#     one.
# Skipped when redis-server, redis-cli or openssl is missing, or redis-server has no TLS.
set -u
K=${KADET:-./kadet}
GEN=${KADET_GEN:-build/kadet-gen}
. "$(dirname "$0")/redis_lib.sh" # redis_need, redis_ref, start_redis, stop_redis
redis_need
command -v openssl > /dev/null || { echo "skip: openssl is not installed"; exit 77; }
timeout 10 redis-server --port 0 --tls-port 0 2>&1 | grep -qi "bad directive\|wrong number\|not supported" \
    && { echo "skip: this redis-server is built without TLS"; exit 77; }
T=$(mktemp -d /tmp/kadet-rtls.XXXXXX)
export XDG_STATE_HOME="$T/xdg"
cleanup() {
    [ -f "$T/redis.pid" ] && kill "$(cat "$T/redis.pid")" 2>/dev/null
    sleep 0.2
    rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

# ---- certificates ------------------------------------------------------------------------------
C=$T/certs
mkdir -p "$C"
ossl() { openssl "$@" 2>> "$C/openssl.log" || fail "openssl $1: $(tail -2 "$C/openssl.log")"; }
ossl req -x509 -newkey rsa:2048 -nodes -keyout "$C/ca.key" -out "$C/ca.crt" -days 2 -subj /CN=kadet-test-ca
ossl req -x509 -newkey rsa:2048 -nodes -keyout "$C/other.key" -out "$C/other.crt" -days 2 -subj /CN=kadet-other-ca
leaf() { # leaf NAME CN EXTENSIONS: a key and a certificate signed by ca
    ossl req -newkey rsa:2048 -nodes -keyout "$C/$1.key" -out "$C/$1.csr" -subj "/CN=$2"
    printf '%s\n' "$3" > "$C/$1.ext"
    ossl x509 -req -in "$C/$1.csr" -CA "$C/ca.crt" -CAkey "$C/ca.key" -CAcreateserial \
        -out "$C/$1.crt" -days 2 -extfile "$C/$1.ext"
}
leaf server localhost "subjectAltName=DNS:localhost,IP:127.0.0.1"
leaf client kadet-client "extendedKeyUsage=clientAuth"

# ---- a redis-server with a plain port and a TLS port -------------------------------------------
TLSARGS=(--tls-port @TPORT@ --tls-cert-file "$C/server.crt" --tls-key-file "$C/server.key"
    --tls-ca-cert-file "$C/ca.crt")
RCLI=()
start_redis "${TLSARGS[@]}" --tls-auth-clients no
rcli() { redis-cli -p "$PORT" --no-auth-warning "${RCLI[@]}" "$@"; }
TPORT=$((PORT + 1))
TLS="rediss://127.0.0.1:$TPORT"
CA="ca=$C/ca.crt"

redis_ref 5 3000 25 300

# ---- accepted: the right authority; the state is the plain port's too --------------------------
scan --state "$TLS/?instance=t&$CA" --output "$T/tls.jsonl" "$T/log.jsonl" 2> "$T/err" \
    || fail "scan over TLS: $(cat "$T/err")"
cmp -s "$T/ref.jsonl" "$T/tls.jsonl" || fail "over TLS: the alerts differ from the state file's"
grep -q "^state: [0-9]* round trips to the server" "$T/err" || fail "over TLS: no round trips line"
[ "$(rcli --scan --pattern '{kadet:*:*}:t:*' | wc -l)" -gt 0 ] || fail "over TLS: no combination on the server"
# a second instance over TLS on the same log: every alert is claimed already
scan --state "$TLS/?instance=u&$CA" --output "$T/tls2.jsonl" "$T/log.jsonl" 2> "$T/err" \
    || fail "second instance over TLS: $(cat "$T/err")"
[ ! -s "$T/tls2.jsonl" ] || fail "second instance over TLS emitted $(wc -l < "$T/tls2.jsonl") alerts again"
# the name: localhost is in the certificate, another name is not
"$K" state stats --state "rediss://localhost:$TPORT/?$CA" > "$T/stats" 2> "$T/err" \
    || fail "rediss://localhost: $(cat "$T/err")"
grep -q "^combinations: [1-9]" "$T/stats" || fail "stats over TLS: $(head -5 "$T/stats")"
"$K" state stats --state "$TLS/?$CA&servername=localhost" > /dev/null 2> "$T/err" \
    || fail "servername=localhost: $(cat "$T/err")"

# ---- refused -----------------------------------------------------------------------------------
refused() { # refused WHAT PATTERN URL: kadet state stats fails with PATTERN in its message
    "$K" state stats --state "$3" > /dev/null 2> "$T/err" && fail "$1: accepted"
    grep -q -- "$2" "$T/err" || fail "$1: message: $(cat "$T/err")"
}
refused "the wrong authority" "certificate is refused" "$TLS/?ca=$C/other.crt"
refused "the wrong authority (message)" "not trusted\|issuer" "$TLS/?ca=$C/other.crt"
refused "the system's trust store" "certificate is refused" "$TLS"
refused "a name not in the certificate" "name checked: db.example.org" "$TLS/?$CA&servername=db.example.org"
refused "a plain client on the TLS port" "Redis\|server\|connection" "redis://127.0.0.1:$TPORT"
refused "TLS on the plain port" "TLS handshake failed" "rediss://127.0.0.1:$PORT/?$CA"
refused "a missing authority file" "ca=$T/nope.crt" "$TLS/?ca=$T/nope.crt"
refused "ca= on redis://" "need rediss://" "redis://127.0.0.1:$PORT/?$CA"
refused "cert= without key=" "both cert=FILE and key=FILE" "$TLS/?$CA&cert=$C/client.crt"
refused "mixed schemes" "mix redis:// and rediss://" "$TLS,redis://127.0.0.1:$PORT"
refused "an unknown parameter" "servername=NAME" "$TLS/?$CA&sni=x"
# the plain client on the TLS port is told quickly (no hang until a timeout)
s=$(date +%s)
"$K" scan --no-progress --state "redis://127.0.0.1:$TPORT/?instance=p" "$T/log.jsonl" > /dev/null 2> "$T/err"
rc=$?
[ $rc = 2 ] || fail "plain client on the TLS port: exit $rc (want 2): $(cat "$T/err")"
[ $(($(date +%s) - s)) -lt 30 ] || fail "plain client on the TLS port: took $(($(date +%s) - s)) s"

# ---- a password over TLS -----------------------------------------------------------------------
stop_redis
RCLI=(-a "tls pw")
start_redis "${TLSARGS[@]}" --tls-auth-clients no --requirepass "tls pw"
TPORT=$((PORT + 1))
printf 'tls pw\n' > "$T/pw"
"$K" state stats --state "rediss://127.0.0.1:$TPORT/?$CA" > /dev/null 2> "$T/err" && fail "TLS without the password: accepted"
grep -q "requires a password" "$T/err" || fail "TLS without the password: $(cat "$T/err")"
"$K" state stats --state "rediss://127.0.0.1:$TPORT/?$CA" --state-password-file "$T/pw" > /dev/null 2> "$T/err" \
    || fail "TLS with the password file: $(cat "$T/err")"

# ---- mutual TLS --------------------------------------------------------------------------------
stop_redis
RCLI=()
start_redis "${TLSARGS[@]}" --tls-auth-clients yes
TPORT=$((PORT + 1))
TLS="rediss://127.0.0.1:$TPORT"
"$K" state stats --state "$TLS/?$CA" > /dev/null 2> "$T/err" && fail "mutual TLS without a client certificate: accepted"
grep -q "client certificate required" "$T/err" || fail "mutual TLS without a client certificate: $(cat "$T/err")"
rm -rf "$XDG_STATE_HOME"
scan --state "$TLS/?instance=m&$CA&cert=$C/client.crt&key=$C/client.key" --output "$T/m.jsonl" \
    "$T/log.jsonl" 2> "$T/err" || fail "mutual TLS with the client certificate: $(cat "$T/err")"
cmp -s "$T/ref.jsonl" "$T/m.jsonl" || fail "mutual TLS: the alerts differ from the state file's"
refused "a client key that is not the certificate's" "cert=" \
    "$TLS/?$CA&cert=$C/client.crt&key=$C/server.key"
exit 0
