#!/usr/bin/env bash
# Several `kadet scan` instances sharing one Redis state (docs/state-redis.md) against a real
# redis-server on 127.0.0.1: they raise exactly the alerts of one instance that scans the whole
# log with an SQLite state, by kibana.alert.uuid, none twice:
#   1. disjoint and overlapping shares: the log, in blocks, each to one of three instances and
#      one block in three also to a second instance (the same events twice), in time order;
#   2. three instances scanning the whole log at once, one of them killed with SIGKILL in the
#      middle of its run and started again;
#   3. a crash at every step of the commit protocol (KADET_TEST_CRASH: inside a batch, alerts
#      written but not committed, committed; KADET_TEST_REDIS_CRASH: the Redis transaction
#      built and not sent), each followed by another instance scanning the same log and the
#      crashed instance's rerun;
# then `kadet state export|import` (a state file's baseline moved to Redis, where the scan goes
# on; and back), `kadet state` on the URL (stats, terms, propose, prune, reset) and the password file
# (requirepass and an ACL user). Skipped when redis-server is not installed.
set -u
K=${KADET:-./kadet}
GEN=${KADET_GEN:-build/kadet-gen}
command -v redis-server > /dev/null || { echo "skip: redis-server is not installed"; exit 77; }
command -v redis-cli > /dev/null || { echo "skip: redis-cli is not installed"; exit 77; }
[ -x "$GEN" ] || { echo "skip: $GEN not built (make tools)"; exit 77; }
T=$(mktemp -d /tmp/kadet-redis.XXXXXX)
# each instance's local file (positions, counters, claims to settle) goes under here
export XDG_STATE_HOME="$T/xdg"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    [ -f "$T/redis.pid" ] && kill "$(cat "$T/redis.pid")" 2>/dev/null
    sleep 0.2
    rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

# a redis-server on a free port (start_redis, stop_redis)
. "$(dirname "$0")/redis_lib.sh"
RCLI=()
start_redis
rcli() { redis-cli -p "$PORT" --no-auth-warning "${RCLI[@]}" "$@"; }
URL="redis://127.0.0.1:$PORT"

# a multi-day log with new combinations injected in its last days
"$GEN" --seed 7 --days 4 --events 6000 --novel 40 --out "$T/log.jsonl" || fail "kadet-gen"

scan --state "$T/ref.db" --output "$T/ref.jsonl" "$T/log.jsonl" 2> "$T/ref.err" || fail "reference: $(cat "$T/ref.err")"
ids "$T/ref.jsonl" | sort > "$T/ref.ids"
n=$(wc -l < "$T/ref.ids")
[ "$n" -ge 40 ] || fail "reference raised only $n alerts"
[ "$(sort -u "$T/ref.ids" | wc -l)" = "$n" ] || fail "reference has an alert id twice"

fresh() { rcli flushall > /dev/null; rm -rf "$T"/in-[abc].jsonl "$T"/out-[abc].jsonl "$XDG_STATE_HOME"; }

# one instance on Redis writes byte for byte the alerts of the state file (kadet.baseline too)
scan --state "$URL/?instance=solo" --output "$T/solo.jsonl" "$T/log.jsonl" 2> "$T/err" || fail "one instance: $(cat "$T/err")"
cmp -s "$T/ref.jsonl" "$T/solo.jsonl" || fail "one instance on Redis: the alerts differ from the state file's"
grep -q "^state: [0-9]* round trips to the server" "$T/err" || fail "summary without the round trips line"
inst() { # inst NAME ARGS...: one scan of instance NAME on its own input and output
    local i=$1; shift
    scan --state "$URL/?instance=$i" --output "$T/out-$i.jsonl" "$@" "$T/in-$i.jsonl"
}

# ---- 1. disjoint and overlapping shares, in time order ---------------------------------------
# Blocks of 400 events in log order; block k goes to instance k mod 3, and every third block also
# to the next instance, which then sees the same events twice. Each instance resumes its own
# input (positions per instance); blocks run one after the other, so the three see the events in
# the order one instance would.
fresh
run_shares
check_union "disjoint and overlapping shares"
# the positions are each instance's own
"$K" state stats --state "$URL/?instance=b" --json > "$T/st.json" || fail "state stats on the URL"
grep -q "in-b.jsonl" "$T/st.json" || fail "stats: instance b's position missing"
grep -q "in-a.jsonl" "$T/st.json" && fail "stats: instance b lists instance a's position"
# ... kept in a local file per instance, not on the server
ls "$XDG_STATE_HOME/kadet/redis/127.0.0.1_${PORT}_0_b.db" > /dev/null || fail "no local file for instance b"
[ "$(rcli --scan --pattern '{kadet:i:*' | wc -l)" = 0 ] || fail "positions or counters on the server"
"$K" state stats --state "$URL/?instance=b&local=$T/elsewhere.db" --json | grep -q "in-b.jsonl" \
    && fail "stats: local= names another file, yet b's positions are listed"
# two processes with one instance name on one host: the second is refused
(
    flock -x "$XDG_STATE_HOME/kadet/redis/127.0.0.1_${PORT}_0_b.db" sleep 3 &
    sleep 0.3
    inst b 2> "$T/err" && fail "a second process of instance b ran"
    grep -q "instance 'b' runs already on this host" "$T/err" || fail "second process: $(cat "$T/err")"
    wait
) || exit 1

# claims of instance $1 still pending (claimed, not committed)
pending() {
    rcli EVAL "local n = 0 for _, k in ipairs(redis.call('KEYS', 'kadet:alert:*')) do if redis.call('GET', k) == ARGV[1] then n = n + 1 end end return n" 0 "$1:p"
}

# ---- 2. three instances at once on the whole log, one killed with SIGKILL and restarted -------
# Instance a starts stopped and runs in slices (SIGCONT, 10 ms, SIGSTOP) until, stopped, it holds
# claims it has not committed; then b and c start on the same log, and a dies of a SIGKILL while
# they run. b and c must leave a's claims alone, and a's rerun (after theirs) must emit them.
fresh
for i in a b c; do cp "$T/log.jsonl" "$T/in-$i.jsonl"; done
(
    kill -STOP $BASHPID
    exec "$K" scan --no-progress --now 2026-02-01T00:00:00Z --batch 50 --state "$URL/?instance=a" \
        --output "$T/out-a.jsonl" "$T/in-a.jsonl"
) 2> /dev/null &
apid=$!
pids+=($apid)
pstate() { cut -d' ' -f3 "/proc/$apid/stat" 2> /dev/null || echo -; }
wait_stopped() {
    local i
    for i in $(seq 5000); do
        case $(pstate) in T) return 0 ;; -|Z) return 1 ;; esac
        sleep 0.001
    done
    return 1
}
while :; do
    wait_stopped || fail "concurrent: instance a ended without ever being stopped with pending claims"
    [ "$(pending a)" -gt 0 ] && break
    kill -CONT "$apid"
    sleep 0.01
    kill -STOP "$apid" 2> /dev/null
done
held=$(pending a)
for i in b c; do
    inst "$i" --batch 50 2> "$T/err-$i" &
    pids+=($!)
done
sleep 0.2
kill -9 "$apid"
wait "$apid" 2>/dev/null
for p in "${pids[@]:1:2}"; do wait "$p" || fail "concurrent: an instance failed: $(cat "$T"/err-[bc])"; done
pids=()
[ "$(pending a)" = "$held" ] || fail "concurrent: a held $held pending claims, $(pending a) after b and c ran"
inst a 2> "$T/err" || fail "concurrent: restart of a: $(cat "$T/err")"
[ "$(pending a)" = 0 ] || fail "concurrent: claims still pending after a's rerun"
check_union "three instances at once, one killed"

# ---- 3. a crash at each step of the commit protocol ------------------------------------------
# instance a crashes; b scans the whole log (a's claims still pending: b does not emit those);
# a reruns and emits exactly what it had claimed. a and b together: the reference. The points
# (batches of 300): inside batch 1 and 17, after batch 1's alerts were written and before its
# commit, after batch 16's commit, and in the store's 1st and 17th commit at each of its steps
# (KADET_TEST_REDIS_CRASH=N:STEP): before the local file's transaction (local), after it and
# before the claims are settled on the server (settle: the rerun settles them when it opens,
# before reading anything), after both (done). Each but the committed ones leaves claims pending
# (checked: the log has alerts in those batches).
for point in record:150 commit:1:written commit:16:committed record:5000 redis:1 redis:17 \
    redis:1:settle redis:17:settle redis:1:done redis:17:done; do
    fresh
    cp "$T/log.jsonl" "$T/in-a.jsonl"
    cp "$T/log.jsonl" "$T/in-b.jsonl"
    case $point in
    redis:*) env KADET_TEST_REDIS_CRASH=${point#redis:} "$K" scan --no-progress --now 2026-02-01T00:00:00Z --batch 300 \
        --state "$URL/?instance=a" --output "$T/out-a.jsonl" "$T/in-a.jsonl" 2> /dev/null ;;
    *) KADET_TEST_CRASH=$point inst a 2> /dev/null ;;
    esac
    [ $? = 137 ] || fail "crash $point: the run did not die of SIGKILL (test hooks missing from $K?)"
    held=$(pending a)
    case $point in
    *:committed|*:done) [ "$held" = 0 ] || fail "crash $point: $held claims pending after a commit" ;;
    *) [ "$held" -gt 0 ] || fail "crash $point: no claim pending: the point tests nothing" ;;
    esac
    inst b 2> "$T/err" || fail "crash $point: b: $(cat "$T/err")"
    [ "$(pending a)" = "$held" ] || fail "crash $point: b took a's pending claims"
    inst a 2> "$T/err" || fail "crash $point: rerun of a: $(cat "$T/err")"
    [ "$(pending a)" = 0 ] || fail "crash $point: claims still pending after a's rerun"
    check_union "crash at $point"
done

# ---- export and import: a state file's baseline moves to Redis, the scan goes on there -------
fresh
head -n 3000 "$T/log.jsonl" > "$T/in-a.jsonl"
tail -n +3001 "$T/log.jsonl" > "$T/in-b.jsonl"
rm -f "$T/p.db"*
scan --state "$T/p.db" --output "$T/out-a.jsonl" "$T/in-a.jsonl" 2> "$T/err" || fail "export: first part: $(cat "$T/err")"
"$K" state export --state "$T/p.db" > "$T/exp1" 2> "$T/err" || fail "export from a file: $(cat "$T/err")"
head -1 "$T/exp1" | grep -qx '{"kadet_state_export":1}' || fail "export: header $(head -1 "$T/exp1")"
"$K" state import --state "$URL" "$T/exp1" > "$T/imp" || fail "import into Redis"
grep -q "^imported 3 baselines, [1-9][0-9]* combinations, [1-9][0-9]* alert ids" "$T/imp" || fail "import: $(cat "$T/imp")"
inst b 2> "$T/err" || fail "import: the scan on Redis: $(cat "$T/err")"
check_union "the first part on a state file, exported, imported into Redis, the rest there"
# and back: Redis -> a new state file -> the same export (the alerted flag is not carried)
"$K" state export --state "$URL" > "$T/exp2" || fail "export from Redis"
rm -f "$T/q.db"*
"$K" state import --state "$T/q.db" "$T/exp2" > /dev/null || fail "import into a new file"
"$K" state export --state "$T/q.db" > "$T/exp3" || fail "export of the imported file"
strip() { sed 's/,"alerted":[a-z]*//' "$1" | sort; }
cmp -s <(strip "$T/exp2") <(strip "$T/exp3") || fail "Redis -> file: the exports differ: $(diff <(strip "$T/exp2") <(strip "$T/exp3") | head -3)"
printf '{"kadet_state_export":1}\n{"term":{"rule_id":"x","logic_hash":"0000000000000001","values":["a"],"first_seen":1,"last_seen":2}}\n' > "$T/badexp"
"$K" state import --state "$URL" "$T/badexp" > /dev/null 2> "$T/err" && fail "import of a term without baseline"
grep -q "<import>:2:1: error: a term before its baseline line" "$T/err" || fail "import error: $(cat "$T/err")"

# ---- kadet state on the URL ------------------------------------------------------------------
"$K" state stats --state "$URL" > "$T/stats" || fail "state stats"
grep -q "state:        redis://127.0.0.1:$PORT (shared)" "$T/stats" || fail "stats: $(head -3 "$T/stats")"
grep -q "^combinations: [1-9]" "$T/stats" || fail "stats: no combinations"
"$K" state terms --state "$URL" --json --limit 5 > "$T/terms" || fail "state terms"
[ "$(wc -l < "$T/terms")" = 5 ] || fail "terms: $(wc -l < "$T/terms") lines"
"$K" state propose --state "$URL" --min-days 1 > /dev/null 2>&1
[ $? -le 1 ] || fail "state propose failed"
"$K" state prune --state "$URL" --older-than 1d > "$T/prune" || fail "state prune"
grep -q "^pruned " "$T/prune" || fail "prune: $(cat "$T/prune")"
"$K" state reset --state "$URL" --all > /dev/null 2> "$T/reset" && fail "reset without --yes"
"$K" state reset --state "$URL" --all --yes > /dev/null || fail "state reset"
[ "$(rcli --scan --pattern '{kadet:*:*}:t:*' | wc -l)" = 0 ] || fail "reset left terms"

# ---- passwords: requirepass and an ACL user, from a file -------------------------------------
stop_redis
RCLI=(-a "s3cret pw")
start_redis --requirepass "s3cret pw"
URL="redis://127.0.0.1:$PORT"
printf 's3cret pw\n' > "$T/pw"
printf 'wrong\n' > "$T/bad"
cp "$T/log.jsonl" "$T/in-a.jsonl"
rm -f "$T/out-a.jsonl"
inst a 2> "$T/err" && fail "no password: the scan ran"
grep -q "requires a password" "$T/err" || fail "no password: $(cat "$T/err")"
inst a --state-password-file "$T/bad" 2> "$T/err" && fail "wrong password: the scan ran"
grep -q "authentication failed" "$T/err" || fail "wrong password: $(cat "$T/err")"
grep -q "wrong" "$T/err" && fail "the password shows in a message"
inst a --state-password-file "$T/pw" 2> "$T/err" || fail "password file: $(cat "$T/err")"
[ "$(ids "$T/out-a.jsonl" | sort | cmp - "$T/ref.ids" && echo same)" = same ] || fail "password file: alerts differ"
"$K" state stats --state "$URL" --state-password-file "$T/pw" > /dev/null || fail "state stats with a password file"
rcli ACL SETUSER kadet on '>user pw' '~*' '&*' '+@all' > /dev/null || fail "ACL SETUSER"
printf 'user pw\n' > "$T/upw"
"$K" state stats --state "redis://kadet@127.0.0.1:$PORT" --state-password-file "$T/upw" > /dev/null \
    || fail "ACL user with a password file"
"$K" state stats --state "redis://kadet@127.0.0.1:$PORT" > /dev/null 2> "$T/err" && fail "ACL user without password"
grep -q "needs a password" "$T/err" || fail "ACL user without password: $(cat "$T/err")"
"$K" scan --state "$T/x.db" --state-password-file "$T/pw" "$T/in-a.jsonl" > /dev/null 2> "$T/err"
[ $? = 1 ] || fail "--state-password-file with a file state is a usage error"
exit 0
