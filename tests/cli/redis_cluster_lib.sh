# redis_cluster_lib.sh - sourced by tests/cli/test_state_redis_cluster.sh and
# bench/redis_cluster.sh (not a test itself): six redis-server processes on 127.0.0.1 in
# cluster mode (directories $1/n0..n5, ports BASE..BASE+5 and their bus ports BASE+10000..,
# all checked free) made into 3 masters with one replica each by `redis-cli --cluster create`.
# cluster_start DIR sets BASE and returns once every node says cluster_state:ok and every replica
# has finished its first sync (diskless, without Redis's default 5 s delay); the caller
# stops the nodes with cluster_stop DIR (kill -9 of every node's pid file) in its EXIT trap.
# TLS: set CL_TLS to the node's TLS arguments (certificate, key, authority; the nodes then listen
# on TLS only, --tls-cluster yes: bus and replication too) and CL_CLI to redis-cli's (--tls
# --cacert ...) before cluster_start.
CL_TLS=${CL_TLS:-}
[ -n "${CL_CLI+x}" ] || CL_CLI=()
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
start_node() { # start_node DIR I
    local d="$1/n$2"
    mkdir -p "$d"
    local ports=(--port $((BASE + $2)))
    # shellcheck disable=SC2206 # CL_TLS: words
    [ -n "$CL_TLS" ] && ports=(--port 0 --tls-port $((BASE + $2)) --tls-cluster yes --tls-replication yes $CL_TLS)
    redis-server --bind 127.0.0.1 "${ports[@]}" --cluster-enabled yes \
        --cluster-config-file "$d/nodes.conf" --cluster-node-timeout 1000 --save '' \
        --repl-diskless-sync-delay 0 --cluster-replica-validity-factor 0 \
        --appendonly no --daemonize yes --dir "$d" --pidfile "$d/redis.pid" \
        --logfile "$d/redis.log"
}
cluster_ok() { # cluster_ok I...: those nodes say cluster_state:ok
    local i
    for i in "$@"; do
        redis-cli -p $((BASE + i)) "${CL_CLI[@]}" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || return 1
    done
}
cluster_start() {
    local dir=$1 b i ok
    BASE=
    for _ in $(seq 20); do
        b=$((21000 + (RANDOM * 3 + $$) % 24000))
        ok=1
        for i in 0 1 2 3 4 5; do
            port_free $((b + i)) && port_free $((b + 10000 + i)) || { ok=0; break; }
        done
        [ $ok = 1 ] && { BASE=$b; break; }
    done
    [ -n "$BASE" ] || { echo "no free ports for six nodes"; return 1; }
    for i in 0 1 2 3 4 5; do start_node "$dir" $i || { echo "node $i did not start"; return 1; }; done
    for i in 0 1 2 3 4 5; do
        for _ in $(seq 100); do
            redis-cli -p $((BASE + i)) "${CL_CLI[@]}" ping 2>/dev/null | grep -q PONG && break
            sleep 0.05
        done
    done
    redis-cli "${CL_CLI[@]}" --cluster create $(for i in 0 1 2 3 4 5; do printf '127.0.0.1:%d ' $((BASE + i)); done) \
        --cluster-replicas 1 --cluster-yes > "$dir/create.log" 2>&1 || { tail -3 "$dir/create.log"; return 1; }
    for _ in $(seq 200); do cluster_ok 0 1 2 3 4 5 && break; sleep 0.1; done
    cluster_ok 0 1 2 3 4 5 || { echo "cluster_state is not ok"; return 1; }
    # every replica in sync with its master before the caller loads it: a replica that has not
    # finished its first sync does not take over when its master is killed
    for _ in $(seq 300); do replicas_synced && return 0; sleep 0.1; done
    echo "the replicas did not finish their first sync"
    return 1
}
replicas_synced() { # 3 nodes are replicas with master_link_status:up
    local i n=0
    for i in 0 1 2 3 4 5; do
        redis-cli -p $((BASE + i)) "${CL_CLI[@]}" info replication 2>/dev/null | grep -q 'master_link_status:up' && n=$((n + 1))
    done
    [ $n -ge 3 ]
}
cluster_stop() {
    local f
    for f in "$1"/n*/redis.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
    return 0
}
# redis-cli on a node that answers (node 0 may be one that was killed)
rc0() {
    local i
    for i in 0 1 2 3 4 5; do
        redis-cli -p $((BASE + i)) "${CL_CLI[@]}" ping 2>/dev/null | grep -q PONG && { redis-cli -p $((BASE + i)) "${CL_CLI[@]}" "$@"; return; }
    done
}
# the masters' ports (not failed)
masters() { rc0 cluster nodes | awk '$3 ~ /master/ && $3 !~ /fail/ { split($2, a, "[:@]"); print a[2] }' | sort; }
flush_all() { local p; for p in $(masters); do redis-cli -p "$p" "${CL_CLI[@]}" flushall > /dev/null; done; }
