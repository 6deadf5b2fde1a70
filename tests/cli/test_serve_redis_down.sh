#!/usr/bin/env bash
# kadet serve on a Redis state that goes away under load (docs/internals/serve.md, "State
# outages"). A redis-server on 127.0.0.1 with an append-only file (fsync always: its data survive
# a restart); serve with --state redis://...; four posters that resend every batch until it gets
# its 200, as kube-apiserver does. Then:
#  1. kill -9 of redis-server in the middle of the load, with reconnect_ms=1000 (the store gives
#     up quickly, so serve drops its engine and waits): webhook posts get 503 with Retry-After and
#     are not ingested (a probe batch of deletes, which would alert, is refused), /readyz is 503
#     with the reason, /metrics says kadet_state_up 0; redis-server restarted on the same port:
#     serve resumes by itself (/readyz 200, kadet_state_recoveries_total 1), the posters finish,
#     and the alert ids equal those of one clean `kadet scan` of the same events: none lost, none
#     twice;
#  2. SIGSTOP of redis-server for a few seconds (timeout_ms=500: a read that waits longer is a
#     lost connection; the default reconnect_ms rides the outage out inside the store): 503s and
#     /readyz 503 while it is stopped, then SIGCONT and again exactly the clean alerts.
# Conditions are waited for, never timed. Skipped without redis-server.
cd "$(dirname "$0")/../.." || exit 1
. tests/cli/serve_lib.sh
command -v redis-server > /dev/null || { echo "skip: redis-server is not installed"; exit 77; }
command -v redis-cli > /dev/null || { echo "skip: redis-cli is not installed"; exit 77; }
GEN=/bin/true RCLI=()
. tests/cli/redis_lib.sh # start_redis, stop_redis, restart_redis (PORT)
. tests/cli/serve_redis_lib.sh
stop_servers() {
    [ -f "$T/redis.pid" ] || return 0
    kill -CONT "$(cat "$T/redis.pid")" 2>/dev/null
    kill -9 "$(cat "$T/redis.pid")" 2>/dev/null
}
NP=4 NB=${SERVE_REDIS_BATCHES:-15} NE=20 POST_PAUSE=0.05
setup

# one run: serve on a fresh server and spool; $1 names it, $2 the URL's extra parameters, $3
# what happens to redis-server mid-load (a function)
run() {
    local name=$1 extra=$2 outage=$3
    rm -rf "$T/run" "$T"/acks.* "$T"/codes.* "$T/fail" "$T/appendonlydir"
    mkdir -p "$T/run"
    start_redis --appendonly yes --appendfsync always
    RPORT=$PORT # start sets PORT to serve's
    start 127.0.0.1:0 "${TLS_ARGS[@]}" --spool-dir "$T/run/spool" --output "$T/run/alerts.jsonl" \
        --ingested none --state "redis://127.0.0.1:$PORT/?instance=s1&local=$T/run/local.db$extra"
    PORT_S=$PORT
    is_ready || fail "$name: not ready at start: $(cat "$T/ready")"
    local posters=() p
    for p in $(seq "$NP"); do
        poster "$p" &
        posters+=($!)
    done
    wait_for "a third of the batches acknowledged" eval '[ "$(acks)" -ge $((NP * NB / 3)) ]'
    "$outage"
    wait "${posters[@]}"
    after_load "$name"
    n503=$(count_503)
    [ "$n503" -gt 0 ] || fail "$name: no poster got a 503 during the outage"
    stop
    [ "$rc" = 0 ] || fail "$name: serve exit $rc: $(tail -5 "$T/err")"
    grep -q "state reachable again\|reconnecting" "$T/err" || fail "$name: no outage in the log"
    same_alerts "$name" "$T/run/alerts.jsonl"
    cp "$T/err" "$T/$name.log"
    PORT=$RPORT
    stop_redis
    echo "$name: $(wc -l < "$T/$name.ids") alerts as the clean scan, $n503 posts answered 503"
}

# ---- 1. kill -9, serve drops its engine and waits ---------------------------------------------
outage_kill() {
    kill -9 "$(cat "$T/redis.pid")"
    rm -f "$T/redis.pid"
    echo "kill -9 of redis-server after $(acks) acknowledged batches"
    wait_for "/readyz 503 (state unreachable)" not_ready
    wait_for "a probe post answered 503" probe_refused
    [ "$(metric kadet_state_up)" = 0 ] || fail "kadet_state_up $(metric kadet_state_up) during the outage"
    wait_for "the engine dropped (outage)" eval '[ "$(metric kadet_state_outages_total)" = 1 ]'
    sleep 1 # the posters meet the outage, serve retries meanwhile
    local sport=$PORT
    PORT=$RPORT
    restart_redis
    PORT=$sport
    wait_for "recovery" eval '[ "$(metric kadet_state_recoveries_total)" = 1 ]'
}
run kill9 "&reconnect_ms=1000" outage_kill
grep -q "state unreachable: " "$T/kill9.log" || fail "kill9: no 'state unreachable' line"
grep -q "state reachable again after" "$T/kill9.log" || fail "kill9: no recovery line"

# ---- 2. SIGSTOP: the store's own retries ride it out --------------------------------------------
outage_stop() {
    kill -STOP "$(cat "$T/redis.pid")"
    echo "SIGSTOP of redis-server after $(acks) acknowledged batches"
    wait_for "/readyz 503 (state unreachable)" not_ready
    wait_for "a probe post answered 503" probe_refused
    sleep 1
    kill -CONT "$(cat "$T/redis.pid")"
}
run sigstop "&timeout_ms=500" outage_stop
[ "$(grep -c "state unreachable: " "$T/sigstop.log")" = 0 ] ||
    echo "note: sigstop: the outage outlasted the store's retries (a loaded machine)"
echo "ok"
