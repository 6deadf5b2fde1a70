#!/usr/bin/env bash
# bench/redis_cluster.sh - the cluster half of `make bench-redis`: N kadet instances (N = 1, 2, 3)
# scan disjoint shares of the generated log of bench/redis.sh at the same time, sharing a Redis
# Cluster of 3 masters with one replica each (six redis-server processes on 127.0.0.1,
# tests/cli/redis_cluster_lib.sh), without and with ?wait=1 (WAIT 1 after each claim and at each
# commit); then the replication window: while 3 instances run, how long a write acknowledged
# by a master takes to be readable on its replica (a probe writes to the master and polls the
# replica; a master killed inside that time loses the write). Median of BENCH_REDIS_RUNS runs.
# Writes its section of bench/RESULTS.md ("Redis Cluster") with bench/section.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${BENCH_REDIS_EVENTS:-60000}
RUNS=${BENCH_REDIS_RUNS:-3}
PROBES=${BENCH_REDIS_PROBES:-2000}
K=./kadet
command -v redis-server > /dev/null || { echo "bench-redis: redis-server is not installed (scripts/deps.sh --test)"; exit 1; }
W=$PWD/bench/out/redis-cluster
rm -rf "$W"
mkdir -p "$W" bench/data
export XDG_STATE_HOME="$W/xdg"
LOG=bench/data/redis-$EVENTS.jsonl
[ -s "$LOG" ] || build/kadet-gen --seed 11 --days 4 --events "$EVENTS" --novel 200 --out "$LOG"
. tests/cli/redis_cluster_lib.sh
trap 'cluster_stop "$W"' EXIT
cluster_start "$W" || { echo "bench-redis: the cluster did not start"; exit 1; }
URL="redis://127.0.0.1:$BASE,127.0.0.1:$((BASE + 1)),127.0.0.1:$((BASE + 2))"
now() { date +%s.%N; }
per1000() { awk -v c="$1" -v e="$EVENTS" 'BEGIN { printf "%.1f", 1000 * c / e }'; }
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
share() {
    rm -f "$W"/share-*
    awk -v n="$1" -v d="$W" '{ print > (d "/share-" (int((NR - 1) / 1000) % n)) }' "$LOG"
}
# run N EXTRA: N instances at once on their shares; prints events/s, sets RT (round trips,
# summed over the instances) and ALERTS
run() {
    local n=$1 extra=$2 i t0 t1 pids=()
    flush_all
    rm -rf "$XDG_STATE_HOME" "$W"/out-* "$W"/err-*
    t0=$(now)
    for i in $(seq 0 $((n - 1))); do
        "$K" scan --no-progress --now 2026-02-01T00:00:00Z --output "$W/out-$i" \
            --state "$URL/?instance=bench-$i$extra" "$W/share-$i" > /dev/null 2> "$W/err-$i" &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i"; done
    t1=$(now)
    RT=$(sed -n 's/^state: \([0-9]*\) round trips.*/\1/p' "$W"/err-* | awk '{ s += $1 } END { print s + 0 }')
    ALERTS=$(cat "$W"/out-* | wc -l)
    awk -v e="$EVENTS" -v a="$t0" -v b="$t1" 'BEGIN { print e / (b - a) }'
}
LOAD=$(cut -d" " -f1-3 /proc/loadavg)
rows=()
for extra in "" "&wait=1"; do
    for n in 1 2 3; do
        share "$n"
        : > "$W/eps"
        for _ in $(seq "$RUNS"); do run "$n" "$extra" >> "$W/eps"; done
        label=none
        [ -n "$extra" ] && label=wait=1
        rows+=("| $n | $label | $(printf %.0f "$(median < "$W/eps")") | $(per1000 "$RT") | $ALERTS |")
    done
done

# the replication window, under the load of 3 instances
share 3
run 3 "" > /dev/null &
loadpid=$!
sleep 0.3
python3 - "$BASE" "$PROBES" > "$W/lag" << 'EOF'
import socket, sys, time
base, probes = int(sys.argv[1]), int(sys.argv[2])
def conn(port):
    s = socket.create_connection(("127.0.0.1", port)); return s, s.makefile("rb")
def call(c, *args):
    s, f = c
    s.sendall(b"".join([b"*%d\r\n" % len(args)] + [b"$%d\r\n%s\r\n" % (len(a), a) for a in
                                                  (x.encode() if isinstance(x, str) else x for x in args)]))
    return read(f)
def read(f):
    line = f.readline(); t, rest = line[:1], line[1:-2]
    if t in b"+-:": return rest
    if t == b"$":
        n = int(rest); return None if n < 0 else f.read(n + 2)[:-2]
    if t == b"*": return [read(f) for _ in range(int(rest))]
key = "{kadet-lag-probe}"
c = conn(base)
# the master of the key's slot and one of its replicas, from CLUSTER SLOTS
slot = int(call(c, "CLUSTER", "KEYSLOT", key))
for r in call(c, "CLUSTER", "SLOTS"):
    if int(r[0]) <= slot <= int(r[1]): master, replica = int(r[2][1]), int(r[3][1])
m, rp = conn(master), conn(replica)
call(rp, "READONLY")
lag = []
for i in range(probes):
    v = str(i)
    call(m, "SET", key, v)
    t0 = time.perf_counter()
    while call(rp, "GET", key) != v.encode(): pass
    lag.append((time.perf_counter() - t0) * 1e6)
    time.sleep(0.002)
lag.sort()
q = lambda p: lag[min(len(lag) - 1, int(p * len(lag)))]
print("%d %.0f %.0f %.0f %.0f" % (len(lag), q(0.5), q(0.99), lag[-1], lag[0]))
EOF
wait "$loadpid"
read -r nprobe p50 p99 pmax pmin < "$W/lag"
cpu=$(grep -m1 'model name' /proc/cpuinfo 2> /dev/null | sed 's/.*: //' || echo unknown)
{
    echo "<!-- redis-cluster-bench begin -->"
    echo "## Redis Cluster: instances sharing one cluster"
    echo
    echo "\`make bench-redis\` (bench/redis_cluster.sh; $(date -u +%Y-%m-%d), $cpu, $(nproc) CPUs shared by"
    echo "the instances and six redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') processes; load average before"
    echo "the run: $LOAD): a cluster of 3 masters with one replica each on 127.0.0.1 (\`redis-cli"
    echo "--cluster create --cluster-replicas 1\`), the URL listing three seeds; the log and the shares"
    echo "of the single-server table above ($EVENTS events, blocks of 1,000 dealt to N instances scanning"
    echo "at the same time). events/s: all events over the wall time until the last instance ends, median"
    echo "of $RUNS runs; round trips per 1,000 events: the instances' own count, summed (last run). A"
    echo "round trip on a cluster is one wave: the pipelines of every master concerned written, then"
    echo "their replies read. \`?wait=1\`: WAIT 1 (for one replica) in the pipeline of each alert claim"
    echo "and at each commit."
    echo
    echo "| instances | WAIT | events/s | round trips / 1,000 events | alerts |"
    echo "| ---: | --- | ---: | ---: | ---: |"
    printf '%s\n' "${rows[@]}"
    echo
    echo "Replication window (asynchronous replication, no WAIT): while 3 instances ran, a probe wrote"
    echo "a key to its master and polled the replica until it read the value, $nprobe times: median"
    echo "**$p50 us**, 99th percentile $p99 us, maximum $pmax us (minimum $pmin us: one poll's round trip,"
    echo "included in every figure). A master killed (kill -9) within that time after acknowledging a"
    echo "write loses it when its replica is promoted."
    echo "<!-- redis-cluster-bench end -->"
} > "$W/section.md"
cat "$W/section.md"
bash bench/section.sh redis-cluster-bench "$W/section.md"
