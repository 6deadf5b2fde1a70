#!/usr/bin/env bash
# rediss:// to a Redis Cluster (docs/state-redis.md, "TLS" and "Redis Cluster"): six
# redis-server processes on 127.0.0.1 that speak TLS only (--port 0, --tls-port, --tls-cluster
# yes: the cluster bus and replication too; certificates made here with openssl) made into 3
# masters with a replica each by `redis-cli --tls --cluster create`. Then:
#   1. one instance over TLS writes the alerts of one instance on a state file, byte for byte,
#      and the keys are spread over the three masters (every node reached over TLS, found through
#      CLUSTER SLOTS, which names the TLS ports);
#   2. three instances on the whole log at once: their alert ids together equal those of one
#      SQLite scan, none twice;
#   3. refused: the wrong authority, and redis:// (plain) to a TLS node.
# Skipped when redis-server, redis-cli or openssl is missing, or redis-server has no TLS.
set -u
K=${KADET:-./kadet}
GEN=${KADET_GEN:-build/kadet-gen}
command -v redis-server > /dev/null || { echo "skip: redis-server is not installed"; exit 77; }
command -v redis-cli > /dev/null || { echo "skip: redis-cli is not installed"; exit 77; }
command -v openssl > /dev/null || { echo "skip: openssl is not installed"; exit 77; }
[ -x "$GEN" ] || { echo "skip: $GEN not built (make tools)"; exit 77; }
timeout 10 redis-server --port 0 --tls-port 0 2>&1 | grep -qi "bad directive\|wrong number\|not supported" &&
    { echo "skip: this redis-server is built without TLS"; exit 77; }
T=$(mktemp -d /tmp/kadet-rcltls.XXXXXX)
export XDG_STATE_HOME="$T/xdg"
C=$T/certs
CL_TLS="--tls-cert-file $C/node.crt --tls-key-file $C/node.key --tls-ca-cert-file $C/ca.crt --tls-auth-clients no"
CL_CLI=(--tls --cacert "$C/ca.crt")
. tests/cli/redis_cluster_lib.sh
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    cluster_stop "$T"
    sleep 0.2
    rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

mkdir -p "$C"
ossl() { openssl "$@" 2>> "$C/openssl.log" || fail "openssl $1: $(tail -2 "$C/openssl.log")"; }
ossl req -x509 -newkey rsa:2048 -nodes -keyout "$C/ca.key" -out "$C/ca.crt" -days 2 -subj /CN=kadet-test-ca
ossl req -x509 -newkey rsa:2048 -nodes -keyout "$C/other.key" -out "$C/other.crt" -days 2 -subj /CN=kadet-other-ca
ossl req -newkey rsa:2048 -nodes -keyout "$C/node.key" -out "$C/node.csr" -subj /CN=localhost
# the nodes talk to each other over TLS too (bus, replication): server and client use
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' > "$C/node.ext"
ossl x509 -req -in "$C/node.csr" -CA "$C/ca.crt" -CAkey "$C/ca.key" -CAcreateserial \
    -out "$C/node.crt" -days 2 -extfile "$C/node.ext"

cluster_start "$T" > "$T/start.log" 2>&1 || fail "TLS cluster: $(tail -5 "$T/start.log")"
[ "$(masters | wc -l)" = 3 ] || fail "not 3 masters: $(rc0 cluster nodes)"
URL="rediss://127.0.0.1:$BASE,127.0.0.1:$((BASE + 1)),127.0.0.1:$((BASE + 2))"
CA="ca=$C/ca.crt"

"$GEN" --seed 11 --days 3 --events 4000 --novel 30 --out "$T/log.jsonl" || fail "kadet-gen"
. tests/cli/redis_lib.sh # scan, ids
scan --state "$T/ref.db" --output "$T/ref.jsonl" "$T/log.jsonl" 2> "$T/err" || fail "reference: $(cat "$T/err")"
ids "$T/ref.jsonl" | sort > "$T/ref.ids"
n=$(wc -l < "$T/ref.ids")
[ "$n" -ge 20 ] || fail "the reference raised only $n alerts"

# ---- 1. one instance over TLS --------------------------------------------------------------------
scan --state "$URL/?instance=solo&$CA" --output "$T/solo.jsonl" "$T/log.jsonl" 2> "$T/err" ||
    fail "one instance over TLS: $(cat "$T/err")"
cmp -s "$T/ref.jsonl" "$T/solo.jsonl" || fail "one instance on the TLS cluster: the alerts differ from the state file's"
with_keys=0
for p in $(masters); do
    [ "$(redis-cli -p "$p" "${CL_CLI[@]}" dbsize)" -gt 0 ] && with_keys=$((with_keys + 1))
done
[ "$with_keys" = 3 ] || fail "keys on $with_keys of 3 masters"

# ---- 2. three instances at once --------------------------------------------------------------
flush_all
rm -rf "$XDG_STATE_HOME"
for i in a b c; do
    scan --batch 100 --state "$URL/?instance=$i&$CA" --output "$T/out-$i.jsonl" "$T/log.jsonl" 2> "$T/err-$i" &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "an instance failed: $(cat "$T"/err-[abc])"; done
pids=()
check_union "three instances over TLS"

# ---- 3. refused ---------------------------------------------------------------------------------
"$K" state stats --state "$URL/?ca=$C/other.crt" > /dev/null 2> "$T/err" && fail "the wrong authority: accepted"
grep -q "certificate is refused" "$T/err" || fail "the wrong authority: $(cat "$T/err")"
"$K" state stats --state "redis://127.0.0.1:$BASE" > /dev/null 2> "$T/err" && fail "plain to a TLS node: accepted"
grep -q "Redis unreachable" "$T/err" || fail "plain to a TLS node: $(cat "$T/err")"
echo "TLS cluster: one instance byte for byte, three instances $n alerts once each"
exit 0
