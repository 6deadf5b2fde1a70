#!/usr/bin/env bash
# Several `kadet scan` instances sharing one Redis Cluster (docs/state-redis.md, "Redis
# Cluster"): six redis-server processes on 127.0.0.1 (cluster-enabled) made into 3 masters with
# one replica each by `redis-cli --cluster create`; the URL lists three seeds. Then:
#   1. one instance on the cluster writes the alerts of one instance on a state file, byte for
#      byte, and the keys are spread over the three masters;
#   2. disjoint and overlapping shares (blocks of the log, some to two instances) and three
#      instances on the whole log at once: the alert ids of all of them equal those of one SQLite
#      scan of the whole log, none twice;
#   3. `kadet state` (stats, terms, prune, reset) and export/import through the cluster;
#   4. a master killed with SIGKILL in the middle of three instances' runs (its replica is
#      promoted; the instances run on meanwhile, or are stopped until it is done): they go on; no alert id twice; with ?wait=1 (WAIT after claims and commits) none
#      lost or added either; without it, the differences are printed (the window of
#      asynchronous replication).
# Every process started is stopped at exit. Skipped when redis-server or redis-cli is absent.
set -u
K=${KADET:-./kadet}
GEN=${KADET_GEN:-build/kadet-gen}
command -v redis-server > /dev/null || { echo "skip: redis-server is not installed"; exit 77; }
command -v redis-cli > /dev/null || { echo "skip: redis-cli is not installed"; exit 77; }
[ -x "$GEN" ] || { echo "skip: $GEN not built (make tools)"; exit 77; }
T=$(mktemp -d /tmp/kadet-rcluster.XXXXXX)
export XDG_STATE_HOME="$T/xdg"
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

# ---- the cluster --------------------------------------------------------------------------------
cluster_start "$T" > "$T/start.log" || fail "cluster: $(cat "$T/start.log")"
[ "$(masters | wc -l)" = 3 ] || fail "not 3 masters: $(rc0 cluster nodes)"
URL="redis://127.0.0.1:$BASE,127.0.0.1:$((BASE + 1)),127.0.0.1:$((BASE + 2))"

"$GEN" --seed 7 --days 4 --events 6000 --novel 40 --out "$T/log.jsonl" || fail "kadet-gen"
. tests/cli/redis_lib.sh
scan --state "$T/ref.db" --output "$T/ref.jsonl" "$T/log.jsonl" 2> "$T/ref.err" || fail "reference: $(cat "$T/ref.err")"
ids "$T/ref.jsonl" | sort > "$T/ref.ids"
n=$(wc -l < "$T/ref.ids")
[ "$n" -ge 40 ] || fail "reference raised only $n alerts"

fresh() { flush_all; rm -rf "$T"/in-[abc].jsonl "$T"/out-[abc].jsonl "$XDG_STATE_HOME"; }
inst() { # inst NAME ARGS...
    local i=$1; shift
    scan --state "$URL/?instance=$i" --output "$T/out-$i.jsonl" "$@" "$T/in-$i.jsonl"
}

# ---- 1. one instance; the keys spread over the masters ----------------------------------------
fresh
scan --state "$URL/?instance=solo" --output "$T/solo.jsonl" "$T/log.jsonl" 2> "$T/err" || fail "one instance: $(cat "$T/err")"
cmp -s "$T/ref.jsonl" "$T/solo.jsonl" || fail "one instance on the cluster: the alerts differ from the state file's"
with_keys=0
for p in $(masters); do
    [ "$(redis-cli -p "$p" dbsize)" -gt 0 ] && with_keys=$((with_keys + 1))
done
[ $with_keys = 3 ] || fail "the keys are on $with_keys masters, not 3"
# a seed that is not in the cluster's map first: still found
scan --state "redis://127.0.0.1:1,127.0.0.1:$((BASE + 3))/?instance=solo2" --output "$T/solo2.jsonl" "$T/log.jsonl" 2> "$T/err" \
    || fail "a dead seed first, a replica next: $(cat "$T/err")"
[ "$(ids "$T/solo2.jsonl" | wc -l)" = 0 ] || fail "a second instance on the same events emitted alerts again"
"$K" scan --state "$URL/3" "$T/log.jsonl" > /dev/null 2> "$T/err" && fail "a database number on a cluster"
grep -q "only database 0" "$T/err" || fail "database on a cluster: $(cat "$T/err")"

# ---- 2. disjoint and overlapping shares; three instances at once --------------------------------
fresh
run_shares
check_union "cluster: disjoint and overlapping shares"
fresh
for i in a b c; do cp "$T/log.jsonl" "$T/in-$i.jsonl"; done
for i in a b c; do inst "$i" --batch 50 2> "$T/err-$i" & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || fail "at once: an instance failed: $(cat "$T"/err-[abc])"; done
pids=()
check_union "cluster: three instances on the whole log at once"

# ---- 3. kadet state and export/import ---------------------------------------------------------
fresh
head -n 3000 "$T/log.jsonl" > "$T/in-a.jsonl"
tail -n +3001 "$T/log.jsonl" > "$T/in-b.jsonl"
rm -f "$T/p.db"*
scan --state "$T/p.db" --output "$T/out-a.jsonl" "$T/in-a.jsonl" 2> "$T/err" || fail "export: first part: $(cat "$T/err")"
"$K" state export --state "$T/p.db" > "$T/exp1" || fail "export from a file"
"$K" state import --state "$URL" "$T/exp1" > "$T/imp" || fail "import into the cluster"
grep -q "^imported 3 baselines, [1-9][0-9]* combinations, [1-9][0-9]* alert ids" "$T/imp" || fail "import: $(cat "$T/imp")"
inst b 2> "$T/err" || fail "import: the scan on the cluster: $(cat "$T/err")"
check_union "cluster: first part on a file, imported, the rest on the cluster"
"$K" state export --state "$URL" > "$T/exp2" || fail "export from the cluster"
rm -f "$T/q.db"*
"$K" state import --state "$T/q.db" "$T/exp2" > /dev/null || fail "import into a new file"
"$K" state export --state "$T/q.db" > "$T/exp3" || fail "export of the imported file"
strip() { sed 's/,"alerted":[a-z]*//' "$1" | sort; }
cmp -s <(strip "$T/exp2") <(strip "$T/exp3") || fail "cluster -> file: the exports differ"
"$K" state stats --state "$URL" > "$T/stats" || fail "state stats"
grep -q "^combinations: [1-9]" "$T/stats" || fail "stats: $(cat "$T/stats")"
"$K" state terms --state "$URL" --json --limit 5 > "$T/terms" || fail "state terms"
[ "$(wc -l < "$T/terms")" = 5 ] || fail "terms: $(wc -l < "$T/terms") lines"
"$K" state prune --state "$URL" --older-than 1d > "$T/prune" || fail "state prune: $(cat "$T/prune")"
grep -q "^pruned " "$T/prune" || fail "prune: $(cat "$T/prune")"
"$K" state reset --state "$URL" --all --yes > /dev/null || fail "state reset"
for p in $(masters); do redis-cli -p "$p" --scan --pattern '*kadet*'; done > "$T/left"
grep -E ':t:|^kadet:alert:|:[az]$' "$T/left" && fail "reset --all left terms or alert ids"

# ---- 4. a master killed with SIGKILL under load -------------------------------------------------
# three instances on the whole log (small batches, so that the kill falls inside the run); one
# master dies; its replica is promoted; the instances reconnect and go on.
failover() { # failover SUFFIX LIVE: the URL's extra parameters; LIVE=1: the instances run on
    # while the master dies and its replica is promoted, else they are stopped until it is done
    local extra=$1 live=$2 victim p i
    fresh
    for i in a b c; do cp "$T/log.jsonl" "$T/in-$i.jsonl"; done
    for i in a b c; do
        scan --batch 20 --state "$URL/?instance=$i$extra" --output "$T/out-$i.jsonl" "$T/in-$i.jsonl" 2> "$T/err-$i" &
        pids+=($!)
    done
    sleep 0.5
    # every instance stopped in the middle of its run while the master dies
    for p in "${pids[@]}"; do kill -STOP "$p" 2>/dev/null || fail "failover$extra: an instance ended before the kill"; done
    victim=$(masters | head -1)
    for i in 0 1 2 3 4 5; do [ $((BASE + i)) = "$victim" ] && vi=$i; done
    kill -9 "$(cat "$T/n$vi/redis.pid")"
    rm -f "$T/n$vi/redis.pid"
    [ "$live" = 1 ] && for p in "${pids[@]}"; do kill -CONT "$p"; done
    # once its replica is promoted, the killed node comes back (as a replica of it)
    for _ in $(seq 200); do [ "$(masters | grep -vc "^$victim\$")" = 3 ] && break; sleep 0.05; done
    start_node "$T" "$vi"
    [ "$live" = 1 ] || for p in "${pids[@]}"; do kill -CONT "$p"; done
    for p in "${pids[@]}"; do wait "$p" || fail "failover$extra: an instance failed: $(cat "$T"/err-[abc])"; done
    pids=()
    grep -q "finding the cluster's masters again" "$T"/err-[abc] || fail "failover$extra: no instance saw the master go (the run ended first?)"
    ids "$T"/out-[abc].jsonl | sort > "$T/u.ids"
    dup=$(uniq -d "$T/u.ids" | wc -l)
    missing=$(comm -23 "$T/ref.ids" <(sort -u "$T/u.ids") | wc -l)
    extra_n=$(comm -13 "$T/ref.ids" <(sort -u "$T/u.ids") | wc -l)
    echo "failover${extra:- (no WAIT)}: master :$victim killed; alerts twice: $dup, lost: $missing, extra: $extra_n (of $n)"
    [ "$dup" = 0 ] || fail "failover$extra: $dup alert ids emitted twice"
    # the promoted replica took the slots; the killed node is its replica again
    for _ in $(seq 200); do
        [ "$(masters | wc -l)" = 3 ] && ! masters | grep -qx "$victim" &&
            [ "$(rc0 cluster nodes | grep -c slave)" = 3 ] && cluster_ok 0 1 2 3 4 5 && break
        sleep 0.1
    done
    masters | grep -qx "$victim" && fail "failover$extra: no replica was promoted"
    [ "$(rc0 cluster nodes | grep -c slave)" = 3 ] || fail "failover$extra: the killed node did not come back as a replica: $(rc0 cluster nodes)"
}
failover "&wait=1" 1
[ "$missing" = 0 ] && [ "$extra_n" = 0 ] || fail "failover with wait=1: $missing lost, $extra_n extra"
failover "" 0
exit 0
