# redis_lib.sh - sourced by tests/cli/test_state_redis*.sh (not a test itself): scan, alert
# ids, their check against the reference (check_union), the scan of disjoint and overlapping
# shares (run_shares), and one redis-server at a time on a free port of 127.0.0.1, in the test's directory $T.
#   start_redis ARGS...   start it with ARGS added (an argument "@TPORT@" is replaced by
#                         PORT + 1, for --tls-port); sets PORT; waits until it answers PING
#                         (redis-cli with the options in the array RCLI, e.g. a password)
#   stop_redis            stop it and wait until it is gone
#   restart_redis         start it again on the same port with the same arguments
#   redis_need            exit 77 (skip) without redis-server, redis-cli or $GEN
#   redis_ref SEED EVENTS NOVEL BATCH: a generated log $T/log.jsonl, scan() with that --batch,
#                         ids(), and the alerts of a scan on a state file ($T/ref.jsonl, sorted
#                         ids in $T/ref.ids; at least 20)
# The caller defines T, RCLI, fail, K and GEN.
redis_need() {
    command -v redis-server > /dev/null || { echo "skip: redis-server is not installed"; exit 77; }
    command -v redis-cli > /dev/null || { echo "skip: redis-cli is not installed"; exit 77; }
    [ -x "$GEN" ] || { echo "skip: $GEN not built (make tools)"; exit 77; }
}
redis_ref() {
    REF_BATCH=$4
    scan() { "$K" scan --no-progress --now 2026-02-01T00:00:00Z --batch "$REF_BATCH" "$@"; }
    ids() { grep -o '"kibana.alert.uuid":"[0-9a-f]*"' "$@" | cut -d'"' -f4; }
    "$GEN" --seed "$1" --days 3 --events "$2" --novel "$3" --out "$T/log.jsonl" || fail "kadet-gen"
    scan --state "$T/ref.db" --output "$T/ref.jsonl" "$T/log.jsonl" 2> "$T/err" || fail "reference: $(cat "$T/err")"
    ids "$T/ref.jsonl" | sort > "$T/ref.ids"
    [ "$(wc -l < "$T/ref.ids")" -ge 20 ] || fail "the reference raised too few alerts"
}
start_redis() {
    local i a args
    for i in 1 2 3 4 5 6 7 8 9 10; do
        PORT=$((20000 + (RANDOM * 7 + $$ + i * 101) % 29000))
        args=()
        for a in "$@"; do
            [ "$a" = @TPORT@ ] && a=$((PORT + 1))
            args+=("$a")
        done
        REDIS_ARGS=("${args[@]}")
        redis_up && return 0
    done
    fail "redis-server did not start: $(tail -3 "$T/redis.log" 2>/dev/null)"
}
redis_up() {
    redis-server --bind 127.0.0.1 --port "$PORT" --save '' --appendonly no --daemonize yes \
        --dir "$T" --pidfile "$T/redis.pid" --logfile "$T/redis.log" "${REDIS_ARGS[@]}" || return 1
    for _ in $(seq 100); do
        [ -s "$T/redis.pid" ] && redis-cli -p "$PORT" --no-auth-warning "${RCLI[@]}" ping 2>/dev/null | grep -q PONG && return 0
        sleep 0.05
    done
    [ -f "$T/redis.pid" ] && kill "$(cat "$T/redis.pid")" 2>/dev/null
    rm -f "$T/redis.pid"
    return 1
}
restart_redis() {
    redis_up || fail "redis-server did not start again on port $PORT: $(tail -3 "$T/redis.log" 2>/dev/null)"
}
stop_redis() {
    local p
    p=$(cat "$T/redis.pid")
    kill "$p"
    while kill -0 "$p" 2>/dev/null; do sleep 0.05; done
    rm -f "$T/redis.pid"
}

# run_shares: blocks of 400 events of $T/log.jsonl in log order; block k
# goes to instance k mod 3 (a, b, c), and every third block also to the next instance, which
# then sees the same events twice. Each instance resumes its own input (positions per
# instance); blocks run one after the other, so the three see the events in the order one
# instance would. Uses the caller's inst NAME (one scan of $T/in-NAME.jsonl) and fail.
run_shares() {
    local names=(a b c) k=0 blk p s
    rm -f "$T"/blk.*
    split -l 400 -d -a 3 "$T/log.jsonl" "$T/blk."
    for blk in "$T"/blk.*; do
        p=${names[$((k % 3))]}
        cat "$blk" >> "$T/in-$p.jsonl"
        inst "$p" 2> "$T/err" || fail "shares: block $k on $p: $(cat "$T/err")"
        if [ $((k % 3)) = 1 ]; then
            s=${names[$(((k + 1) % 3))]}
            cat "$blk" >> "$T/in-$s.jsonl"
            inst "$s" 2> "$T/err" || fail "shares: block $k again on $s: $(cat "$T/err")"
        fi
        k=$((k + 1))
    done
    [ $k -ge 10 ] || fail "shares: only $k blocks"
}

# scan and ids, unless the sourcing test has its own (test_scan_langs_crash.sh does)
declare -F scan > /dev/null || scan() { "$K" scan --no-progress --now 2026-02-01T00:00:00Z --batch 300 "$@"; }
declare -F ids > /dev/null || ids() { grep -o '"kibana.alert.uuid":"[0-9a-f]*"' "$@" | cut -d'"' -f4; }

# all alert ids of instances a, b, c (their --output files) equal those of $T/ref.ids (sorted),
# none twice
check_union() {
    local name=$1
    ids "$T"/out-[abc].jsonl > "$T/all.ids" 2>/dev/null
    local dup
    dup=$(sort "$T/all.ids" | uniq -d | wc -l)
    [ "$dup" = 0 ] || fail "$name: $dup alert ids emitted twice"
    sort "$T/all.ids" > "$T/u.ids"
    cmp -s "$T/ref.ids" "$T/u.ids" || fail "$name: the alert ids differ from the reference ($(comm -23 "$T/ref.ids" "$T/u.ids" | wc -l) missing, $(comm -13 "$T/ref.ids" "$T/u.ids" | wc -l) extra)"
}
