#!/usr/bin/env bash
# A Redis server restarted under a running `kadet scan` (docs/state-redis.md): the scan
# authenticates as an ACL user with --state-password-file, the server (with an append-only
# file, fsync always, so its data survive) is stopped while the scan has a batch to send and
# started again on the same port ~0.5 s later. The scan reconnects with backoff, logs
# "reconnecting", authenticates again, and ends with exit 0 and exactly the alerts of a scan on
# an SQLite state file (by alert id), none twice. (When the loaded machine takes longer than the
# retries last to restart the server, the scan exits 2 "Redis unreachable", as documented, and
# its rerun must still complete the alerts, none twice.) Also: no password and a wrong password are
# refused with a clear message that does not show the password. Skipped when redis-server is
# not installed.
set -u
K=${KADET:-./kadet}
GEN=${KADET_GEN:-build/kadet-gen}
. "$(dirname "$0")/redis_lib.sh" # redis_need, redis_ref, start_redis, stop_redis, restart_redis
redis_need
T=$(mktemp -d /tmp/kadet-rrestart.XXXXXX)
export XDG_STATE_HOME="$T/xdg"
spid=
cleanup() {
    [ -n "$spid" ] && kill -9 "$spid" 2>/dev/null
    [ -f "$T/redis.pid" ] && kill "$(cat "$T/redis.pid")" 2>/dev/null
    sleep 0.2
    rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

RCLI=(--user kadet --pass "acl pw")
start_redis --appendonly yes --appendfsync always --requirepass "admin pw" \
    --user default off --user kadet on '>acl pw' '~*' '&*' '+@all'
printf 'acl pw\n' > "$T/pw"
printf 'not it\n' > "$T/bad"
BASE="redis://kadet@127.0.0.1:$PORT"
URL="$BASE/?instance=r"

redis_ref 9 4000 30 100

# refused: no password, a wrong one (the message names neither)
scan --state "$URL" "$T/log.jsonl" > /dev/null 2> "$T/err" && fail "no password: the scan ran"
grep -q "needs a password" "$T/err" || fail "no password: $(cat "$T/err")"
scan --state "$URL" --state-password-file "$T/bad" "$T/log.jsonl" > /dev/null 2> "$T/err"
[ $? = 2 ] || fail "wrong password: exit status (want 2): $(cat "$T/err")"
grep -q "authentication failed" "$T/err" || fail "wrong password: $(cat "$T/err")"
grep -q "not it\|acl pw" "$T/err" && fail "a password shows in a message"

# the scan reads a pipe: the first half, then (once told) the rest
(
    head -n 2000 "$T/log.jsonl"
    while [ ! -f "$T/go" ]; do sleep 0.05; done
    tail -n +2001 "$T/log.jsonl"
) | scan --state "$URL" --state-password-file "$T/pw" --output "$T/out.jsonl" 2> "$T/scan.err" &
spid=$!
# the first half is decided and committed: its alerts are out
for _ in $(seq 600); do
    [ "$(ids "$T/out.jsonl" 2>/dev/null | wc -l)" -gt 0 ] && break
    sleep 0.1
done
[ "$(ids "$T/out.jsonl" 2>/dev/null | wc -l)" -gt 0 ] || fail "no alert from the first half after 60 s: $(cat "$T/scan.err")"
sleep 1
kill -0 "$spid" 2>/dev/null || fail "the scan ended before the restart: $(cat "$T/scan.err")"
stop_redis
touch "$T/go" # the second half arrives while the server is down
sleep 0.5
restart_redis
wait "$spid"
rc=$?
spid=
if [ $rc = 2 ] && grep -q "Redis unreachable after" "$T/scan.err"; then
    # the restart took longer than the retries last (about 2.6 s; a loaded machine): the
    # documented failure. Its rerun (the whole log again: a pipe has no position) must still
    # give every alert once: the failed batch's claims are this instance's to emit
    echo "note: the server came back after the retries; the scan is rerun"
    scan --state "$URL" --state-password-file "$T/pw" --output "$T/out.jsonl" < "$T/log.jsonl" 2>> "$T/scan.err"
    rc=$?
fi
[ $rc = 0 ] || fail "the scan across the restart: exit $rc: $(tail -5 "$T/scan.err")"
grep -q "reconnecting" "$T/scan.err" || fail "no reconnection logged (the restart tested nothing): $(tail -5 "$T/scan.err")"
grep -q "acl pw" "$T/scan.err" && fail "the password shows in the scan's log"
ids "$T/out.jsonl" | sort > "$T/out.ids"
[ "$(uniq -d "$T/out.ids" | wc -l)" = 0 ] || fail "alerts emitted twice across the restart"
cmp -s "$T/ref.ids" "$T/out.ids" || fail "the alerts differ from the reference ($(comm -23 "$T/ref.ids" "$T/out.ids" | wc -l) missing, $(comm -13 "$T/ref.ids" "$T/out.ids" | wc -l) extra)"
# and the state survived: a second scan of the whole log raises nothing
scan --state "$BASE/?instance=r2" --state-password-file "$T/pw" --output "$T/again.jsonl" "$T/log.jsonl" 2> "$T/err" \
    || fail "second scan: $(cat "$T/err")"
[ ! -s "$T/again.jsonl" ] || fail "second scan raised $(wc -l < "$T/again.jsonl") alerts again"
echo "restart: $(wc -l < "$T/out.ids") alerts, $(grep -c reconnecting "$T/scan.err") reconnection warnings"
exit 0
