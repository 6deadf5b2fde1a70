#!/usr/bin/env bash
# kadet serve on a Redis Cluster whose master dies under load (docs/state-redis.md, "kadet serve
# on Redis"): six redis-server processes (3 masters, a replica each, cluster-node-timeout 1 s);
# serve with the cluster's seeds and ?wait=1; four posters that resend every batch not answered
# 200. A master is killed with SIGKILL in the middle of the load; its replica is promoted and the
# killed node comes back as a replica. serve rides the failover out (the store retries for
# reconnect_ms, answering 503 meanwhile when a post comes then), and its alerts equal those of
# one clean `kadet scan` of the same events by alert id: none lost, none twice. Conditions are
# waited for, never timed. Skipped without redis-server.
cd "$(dirname "$0")/../.." || exit 1
. tests/cli/serve_lib.sh
command -v redis-server > /dev/null || { echo "skip: redis-server is not installed"; exit 77; }
command -v redis-cli > /dev/null || { echo "skip: redis-cli is not installed"; exit 77; }
. tests/cli/serve_redis_lib.sh
. tests/cli/redis_cluster_lib.sh
stop_servers() { cluster_stop "$T/cl"; }
NP=4 NB=${SERVE_REDIS_BATCHES:-15} NE=20 POST_PAUSE=0.05
setup

mkdir -p "$T/cl" "$T/run"
cluster_start "$T/cl" > "$T/cl/start.log" || fail "cluster: $(cat "$T/cl/start.log")"
[ "$(masters | wc -l)" = 3 ] || fail "not 3 masters: $(rc0 cluster nodes)"
SEEDS="127.0.0.1:$BASE,127.0.0.1:$((BASE + 1)),127.0.0.1:$((BASE + 2))"
start 127.0.0.1:0 "${TLS_ARGS[@]}" --spool-dir "$T/run/spool" --output "$T/run/alerts.jsonl" \
    --ingested none --state "redis://$SEEDS/?instance=s1&local=$T/run/local.db&wait=1"
PORT_S=$PORT
is_ready || fail "not ready at start: $(cat "$T/ready")"
posters=()
for p in $(seq "$NP"); do
    poster "$p" &
    posters+=($!)
done
wait_for "a third of the batches acknowledged" eval '[ "$(acks)" -ge $((NP * NB / 3)) ]'
victim=$(masters | head -1)
for i in 0 1 2 3 4 5; do [ $((BASE + i)) = "$victim" ] && vi=$i; done
kill -9 "$(cat "$T/cl/n$vi/redis.pid")"
rm -f "$T/cl/n$vi/redis.pid"
echo "master :$victim killed after $(acks) acknowledged batches"
# once its replica is promoted, the killed node comes back (as a replica of it)
wait_for "a replica promoted" eval '[ "$(masters | grep -vc "^$victim\$")" = 3 ]'
start_node "$T/cl" "$vi"
wait "${posters[@]}"
after_load cluster
n503=$(count_503)
stop
[ "$rc" = 0 ] || fail "serve exit $rc: $(tail -5 "$T/err")"
grep -q "Redis Cluster\|masters again\|reconnecting" "$T/err" ||
    fail "serve did not see the master go (the load ended first?): $(tail -5 "$T/err")"
same_alerts cluster "$T/run/alerts.jsonl"
echo "cluster failover under serve: $(wc -l < "$T/cluster.ids") alerts as the clean scan, $n503 posts answered 503"
echo "ok"
