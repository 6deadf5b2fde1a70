#!/usr/bin/env bash
# Crash safety of `kadet scan` (semantics.md "State and delivery"): a scan killed with
# SIGKILL at several points, then rerun with the same command and state, yields exactly the
# alerts of one uninterrupted run, compared by kibana.alert.uuid (no alert lost, none twice).
#
# Kill points (KADET_TEST_CRASH, src/api/kad_engine.c; test builds only): in the middle of a batch (record:N), after a
# batch's alerts were written to --output but before its commit (commit:N:written), right after a
# commit (commit:N:committed), plus external kill -9s in the middle of a run and a chain of
# three crashes. With stdout (no --output) a crash inside a batch must also lose nothing.
#
# No step depends on timing: the external kills and the lock check run kadet in slices
# (SIGCONT, a few ms, SIGSTOP) and act only while it is stopped and still running, when a
# condition on its files holds (see step_until), so a loaded machine changes nothing but speed.
set -u
K=${KADET:-./kadet}
T=$(mktemp -d)
pid=""
# a kadet left stopped by a failed step must not outlive the test (it would hold its pipes)
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

mkdir -p "$T/rules"
header() {
    cat <<'EOF'
[metadata]
creation_date = "2026/01/01"
maturity = "production"
updated_date = "2026/01/01"

[rule]
author = ["kadet tests"]
description = "crash test"
language = "kuery"
EOF
}
{ header; cat <<'EOF'; } > "$T/rules/nt.toml"
name = "crash test new terms"
risk_score = 21
rule_id = "crash-nt"
severity = "low"
type = "new_terms"
query = 'kubernetes.audit.stage:"ResponseComplete"'

[rule.new_terms]
field = "new_terms_fields"
value = ["kubernetes.audit.user.username", "user_agent.original"]
[[rule.new_terms.history_window_start]]
field = "history_window_start"
value = "now-10d"
EOF
{ header; cat <<'EOF'; } > "$T/rules/q.toml"
name = "crash test deletes"
risk_score = 47
rule_id = "crash-q"
severity = "medium"
type = "query"
max_signals = 1000
query = 'kubernetes.audit.verb:"delete"'
EOF

# 6000 audit events over 30 days: 40 users x 25 agents, every 7th a delete.
awk 'BEGIN {
  for (i = 0; i < 6000; i++) {
    u = "user-" (i * 7 % 40); a = "agent/" (i * 11 % 25); v = (i % 7 == 0) ? "delete" : "get";
    s = 1772359200 + i * 432; d = strftime("%Y-%m-%dT%H:%M:%S", s, 1);
    printf "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\",\"auditID\":\"crash-%06d\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/api/v1/pods\",\"verb\":\"%s\",\"user\":{\"username\":\"%s\"},\"sourceIPs\":[\"10.0.0.1\"],\"userAgent\":\"%s\",\"objectRef\":{\"resource\":\"pods\",\"apiVersion\":\"v1\"},\"responseStatus\":{\"code\":200},\"requestReceivedTimestamp\":\"%s.000000Z\",\"stageTimestamp\":\"%s.100000Z\",\"annotations\":{\"authorization.k8s.io/decision\":\"allow\"}}\n", i, v, u, a, d, d
  }
}' > "$T/in.jsonl"

scan() { "$K" scan --no-progress --rules "$T/rules" --now 2026-01-01T00:00:00Z --batch 500 "$@"; }
ids() { grep -o '"kibana.alert.uuid":"[0-9a-f]*"' "$1" | cut -d'"' -f4; }

scan --state "$T/ref.db" --output "$T/ref.jsonl" "$T/in.jsonl" 2>"$T/ref.err" || fail "reference run: $(cat "$T/ref.err")"
ids "$T/ref.jsonl" | sort > "$T/ref.ids"
n=$(wc -l < "$T/ref.ids")
[ "$n" -gt 900 ] || fail "reference run raised only $n alerts"
[ "$(sort -u "$T/ref.ids" | wc -l)" = "$n" ] || fail "reference run has duplicate ids"

# One crash (or a chain of them), then a clean rerun; --output must equal the reference exactly.
IN="$T/in.jsonl"
check_file() {
    local name=$1; shift
    rm -f "$T/c.db"* "$T/c.jsonl"
    for point in "$@"; do
        KADET_TEST_CRASH=$point scan --state "$T/c.db" --output "$T/c.jsonl" "$IN" \
            2>/dev/null && fail "$name: the run with crash point $point did not crash"
    done
    scan --state "$T/c.db" --output "$T/c.jsonl" "$IN" 2>"$T/c.err" \
        || fail "$name: rerun failed: $(cat "$T/c.err")"
    ids "$T/c.jsonl" | sort > "$T/c.ids"
    cmp -s "$T/ref.ids" "$T/c.ids" || fail "$name: alert ids differ from the uninterrupted run ($(comm -3 "$T/ref.ids" "$T/c.ids" | wc -l) differences)"
    cmp -s "$T/ref.jsonl" "$T/c.jsonl" || fail "$name: output differs from the uninterrupted run"
}
check_file mid-batch record:1234
check_file first-record record:1
check_file last-record record:6000
check_file written-not-committed commit:3:written
check_file after-commit commit:5:committed
check_file chain record:700 commit:4:written record:3000

# .gz input resumes by decompressing and skipping to the committed (uncompressed) offset
gzip -c "$T/in.jsonl" > "$T/in.jsonl.gz"
IN="$T/in.jsonl.gz"
check_file gzip-mid-batch record:2222
check_file gzip-chain commit:2:committed record:1500
IN="$T/in.jsonl"

# stdout: crash inside a batch; the two runs' outputs together are the reference, no id twice.
rm -f "$T/s.db"*
KADET_TEST_CRASH=record:2500 scan --state "$T/s.db" "$T/in.jsonl" > "$T/s1.jsonl" 2>/dev/null && fail "stdout: no crash"
scan --state "$T/s.db" "$T/in.jsonl" > "$T/s2.jsonl" 2>"$T/s.err" || fail "stdout rerun: $(cat "$T/s.err")"
cat "$T/s1.jsonl" "$T/s2.jsonl" > "$T/s.jsonl"
ids "$T/s.jsonl" | sort > "$T/s.ids"
cmp -s "$T/ref.ids" "$T/s.ids" || fail "stdout: alert ids differ from the uninterrupted run"

# External kill -9s. kadet starts stopped (a subshell stops itself, then execs kadet: $pid is
# kadet's own pid, so the kill reaches kadet and not a shell beside it) and step_until lets it
# run in slices until a condition holds while it is stopped. A process stopped and not exited
# cannot finish before the SIGKILL, so each kill lands in the middle of the run, at whatever
# instruction the SIGSTOP found (inside a write, an fdatasync, an SQLite commit, ...).
start_stopped() {
    (
        kill -STOP $BASHPID
        exec "$@"
    ) &
    pid=$!
}
pstate() { # R, S, D, T (stopped), Z (exited, not yet reaped), or - when gone
    local st
    st=$(cat "/proc/$1/stat" 2>/dev/null) || { echo -; return; }
    st=${st##*) }
    echo "${st%% *}"
}
wait_stopped() { # until $pid is stopped or has exited (a SIGSTOP is delivered asynchronously)
    local i
    for ((i = 0; i < 30000; i++)); do
        case $(pstate "$pid") in T | t | Z | X | -) return 0 ;; esac
        sleep 0.001
    done
    fail "kadet $pid did not stop"
}
step_until() { # run $pid in slices until "$@" holds with $pid stopped; 1 if it exited first
    local i
    for ((i = 0; i < 100000; i++)); do
        wait_stopped
        case $(pstate "$pid") in T | t) ;; *) return 1 ;; esac
        "$@" && return 0
        kill -CONT "$pid"
        sleep 0.005
        kill -STOP "$pid" 2>/dev/null
    done
    fail "kadet $pid did not reach the condition: $*"
}
kill_stopped() { # SIGKILL the stopped $pid; it must die of it
    local rc
    kill -9 "$pid"
    wait "$pid" 2>/dev/null
    rc=$?
    pid=""
    [ $rc = 137 ] || fail "$1: kadet exited with $rc, not by the SIGKILL"
}
size() { stat -c %s "$1" 2>/dev/null || echo 0; }
at_least() { [ "$(size "$1")" -ge "$2" ]; }

for i in 1 2 3 4 5 6 7 8; do cat "$T/in.jsonl"; done > "$T/big.jsonl"
# the scan every external-kill run makes (an array: start_stopped execs it, so no function)
escan=("$K" scan --no-progress --rules "$T/rules" --now 2026-01-01T00:00:00Z --batch 50
    --state "$T/e.db" --output "$T/e.jsonl" "$T/big.jsonl")
scan --state "$T/e2.db" --output "$T/e2.jsonl" --batch 50 "$T/big.jsonl" 2>/dev/null || fail "external kill: reference failed"
full=$(size "$T/e2.jsonl")
[ "$full" -gt 0 ] || fail "external kill: reference wrote no alerts"
rm -f "$T/e.db"* "$T/e.jsonl"
# every alert of big.jsonl comes from its first copy (the other seven are replays: already
# emitted, too late): kill 1 lands while alerts are being written, kill 2 during the replays
# of the resumed run; then a clean rerun must write exactly the reference.
for attempt in 1 2 3 4 5 6; do
    start_stopped "${escan[@]}" 2>/dev/null
    step_until at_least "$T/e.jsonl" $((full / 2)) && break
    wait "$pid" 2>/dev/null; pid=""; rm -f "$T/e.db"* "$T/e.jsonl" # finished in one slice: start over
    [ $attempt = 6 ] && fail "external kill 1: kadet never stopped mid-run"
done
[ "$(size "$T/e.jsonl")" -lt "$full" ] || fail "external kill 1: the output was complete before the kill"
kill_stopped "external kill 1"
start_stopped "${escan[@]}" 2>/dev/null
step_until at_least "$T/e.jsonl" "$full" || fail "external kill 2: the resumed scan ended before writing all alerts"
kill_stopped "external kill 2"
"${escan[@]}" 2>"$T/e.err" >/dev/null || fail "external kill: rerun failed: $(cat "$T/e.err")"
cmp -s "$T/e.jsonl" "$T/e2.jsonl" || fail "external kill: output differs from an uninterrupted run ($(ids "$T/e.jsonl" | sort | comm -3 "$T/ref.ids" - | wc -l) ids differ)"

# A second scan on a state in use is refused (exit 2), it does not interleave with the first:
# the first holds STATE.lock (flock(1) cannot take it) and is stopped while the second runs.
lock_held() { ! flock -n "$T/e.db.lock" true; }
start_stopped "$K" scan --no-progress --rules "$T/rules" --state "$T/e.db" --batch 50 --from-start "$T/big.jsonl" >/dev/null 2>&1
step_until lock_held || fail "state in use: the first scan ended before it was seen holding the lock"
scan --state "$T/e.db" "$T/in.jsonl" >/dev/null 2>"$T/lock.err"
rc=$?
kill_stopped "state in use"
[ $rc = 2 ] || fail "state in use: exit $rc, expected 2: $(cat "$T/lock.err")"
grep -q "in use" "$T/lock.err" || fail "state in use: message $(cat "$T/lock.err")"
exit 0
