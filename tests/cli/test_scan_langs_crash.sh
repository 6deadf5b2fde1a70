#!/usr/bin/env bash
# Crash safety of EQL sequence and ES|QL rules in `kadet scan` (docs/internals/engine.md, "EQL
# and ES|QL rules"): their state between events (partial sequences with their documents, the
# open ES|QL windows' partial aggregates) is saved with every commit, so a scan killed at any
# point and rerun with the same command and state writes exactly the alerts of one
# uninterrupted run (compared by kibana.alert.uuid and byte for byte). With --batch 200 the
# sequences and windows span many commits, so the kills land in the middle of them.
set -u
K=${KADET:-./kadet}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
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
index = ["logs-kubernetes.audit_logs-*"]
risk_score = 21
severity = "low"
max_signals = 10000
EOF
}
{ header; cat <<'EOF'; } > "$T/rules/seq.toml"
name = "crash test sequence"
rule_id = "crash-seq"
type = "eql"
language = "eql"
query = '''
sequence by user.name with maxspan=1m
  [any where kubernetes.audit.objectRef.resource == "roles" and kubernetes.audit.verb == "patch"]
  [any where kubernetes.audit.objectRef.resource == "deployments" and kubernetes.audit.verb == "create"]
'''
EOF
{ header; cat <<'EOF'; } > "$T/rules/agg.toml"
name = "crash test burst"
rule_id = "crash-agg"
type = "esql"
language = "esql"
query = '''
from logs-kubernetes.audit_logs-* metadata _id, _index, _version
| where kubernetes.audit.verb == "get" and kubernetes.audit.objectRef.resource == "secrets"
| stats n = count_distinct(kubernetes.audit.objectRef.name), names = values(kubernetes.audit.objectRef.name) by user.name
| where n >= 3
'''
EOF
{ header; cat <<'EOF'; } > "$T/rules/row.toml"
name = "crash test row"
rule_id = "crash-row"
type = "esql"
language = "esql"
query = '''
from logs-kubernetes.audit_logs-* metadata _id, _index, _version
| where kubernetes.audit.verb == "delete"
| eval Esql.who = concat(user.name, "@", kubernetes.audit.objectRef.resource)
| keep _id, Esql.who
'''
EOF

# 3000 audit events, one every 7 s (about 6 hours), in blocks of 6 by one of 11 users: a patch
# of roles then a create of deployments (a sequence), three gets of secrets (9 names) and a
# delete. A user comes back every 66 events (7.7 minutes).
awk 'BEGIN {
  for (i = 0; i < 3000; i++) {
    u = "user-" (int(i / 6) % 11); k = i % 6;
    if (k == 0) { v = "patch"; r = "roles" } else if (k == 1) { v = "create"; r = "deployments" }
    else if (k == 5) { v = "delete"; r = "pods" } else { v = "get"; r = "secrets" }
    n = "s-" (i * 5 % 9);
    s = 1772359200 + i * 7; d = strftime("%Y-%m-%dT%H:%M:%S", s, 1);
    printf "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\",\"auditID\":\"lc-%06d\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/api/v1/x\",\"verb\":\"%s\",\"user\":{\"username\":\"%s\"},\"sourceIPs\":[\"10.0.0.1\"],\"userAgent\":\"kubectl\",\"objectRef\":{\"resource\":\"%s\",\"name\":\"%s\",\"apiVersion\":\"v1\"},\"responseStatus\":{\"code\":200},\"requestReceivedTimestamp\":\"%s.000000Z\",\"stageTimestamp\":\"%s.100000Z\",\"annotations\":{\"authorization.k8s.io/decision\":\"allow\"}}\n", i, v, u, r, n, d, d
  }
}' > "$T/in.jsonl"

scan() { "$K" scan --no-progress --rules "$T/rules" --now 2026-01-01T00:00:00Z --batch 200 "$@"; }
ids() { grep -o '"kibana.alert.uuid":"[0-9a-f]*"' "$1" | cut -d'"' -f4; }
count() { grep -c "\"kibana.alert.rule.rule_id\":\"$1\"" "$2"; }

scan --state "$T/ref.db" --output "$T/ref.jsonl" "$T/in.jsonl" 2>"$T/ref.err" || fail "reference run: $(cat "$T/ref.err")"
ids "$T/ref.jsonl" | sort > "$T/ref.ids"
n=$(wc -l < "$T/ref.ids")
[ "$(sort -u "$T/ref.ids" | wc -l)" = "$n" ] || fail "reference run has duplicate ids"
# every rule fires many times: sequences (shell + 2 building blocks), windows and rows
[ "$(count crash-seq "$T/ref.jsonl")" -gt 100 ] || fail "few sequence alerts: $(count crash-seq "$T/ref.jsonl")"
[ "$(grep -c '"kibana.alert.building_block_type":"default"' "$T/ref.jsonl")" -gt 60 ] || fail "few building blocks"
[ "$(count crash-agg "$T/ref.jsonl")" -gt 20 ] || fail "few window alerts: $(count crash-agg "$T/ref.jsonl")"
[ "$(count crash-row "$T/ref.jsonl")" = 500 ] || fail "row alerts: $(count crash-row "$T/ref.jsonl"), expected 500"

# the same in one scan without a state file: the state only makes it durable
scan --no-state "$T/in.jsonl" > "$T/mem.jsonl" 2>/dev/null || fail "--no-state run"
ids "$T/mem.jsonl" | sort | cmp -s - "$T/ref.ids" || fail "--no-state run differs"

check_file() {
    local name=$1; shift
    rm -f "$T/c.db"* "$T/c.jsonl"
    for point in "$@"; do
        KADET_TEST_CRASH=$point scan --state "$T/c.db" --output "$T/c.jsonl" "$T/in.jsonl" \
            2>/dev/null && fail "$name: the run with crash point $point did not crash"
    done
    scan --state "$T/c.db" --output "$T/c.jsonl" "$T/in.jsonl" 2>"$T/c.err" \
        || fail "$name: rerun failed: $(cat "$T/c.err")"
    ids "$T/c.jsonl" | sort > "$T/c.ids"
    cmp -s "$T/ref.ids" "$T/c.ids" || fail "$name: alert ids differ from the uninterrupted run ($(comm -3 "$T/ref.ids" "$T/c.ids" | wc -l) differences)"
    cmp -s "$T/ref.jsonl" "$T/c.jsonl" || fail "$name: output differs from the uninterrupted run"
}
check_file mid-batch record:1234
check_file first-record record:1
check_file last-record record:3000
check_file written-not-committed commit:3:written
check_file after-commit commit:5:committed
check_file chain record:333 commit:4:written record:2100 commit:2:committed

# a rerun of the same input with the state raises nothing new (every id is known)
scan --state "$T/ref.db" --output "$T/again.jsonl" --from-start "$T/in.jsonl" 2>/dev/null || fail "replay"
[ ! -s "$T/again.jsonl" ] || cmp -s "$T/again.jsonl" "$T/ref.jsonl" || fail "replay with the state wrote new alerts: $(ids "$T/again.jsonl" | sort | comm -13 "$T/ref.ids" - | wc -l)"

# ---- on a Redis state shared by two instances (docs/state-redis.md): the EQL and ES|QL alert ids
# are claimed on the server atomically like new_terms ones (det_alert_admit): two instances
# scanning the same log at the same time emit every alert of the state file's run once between
# them; a third one afterwards emits none. Skipped without redis-server.
if command -v redis-server > /dev/null && command -v redis-cli > /dev/null; then
    export XDG_STATE_HOME="$T/xdg"
    RCLI=()
    . "$(dirname "$0")/redis_lib.sh" # start_redis, stop_redis
    trap 'stop_redis 2>/dev/null; rm -rf "$T"' EXIT
    start_redis
    for i in a b; do
        scan --state "redis://127.0.0.1:$PORT/?instance=$i" --output "$T/r$i.jsonl" "$T/in.jsonl" 2> "$T/r$i.err" &
    done
    wait %1 || fail "redis instance a: $(cat "$T/ra.err")"
    wait %2 || fail "redis instance b: $(cat "$T/rb.err")"
    cat "$T/ra.jsonl" "$T/rb.jsonl" > "$T/rab.jsonl"
    ids "$T/rab.jsonl" | sort > "$T/rab.ids"
    [ "$(uniq -d "$T/rab.ids" | wc -l)" = 0 ] || fail "two instances on Redis: $(uniq -d "$T/rab.ids" | wc -l) alerts emitted twice"
    cmp -s "$T/rab.ids" "$T/ref.ids" || fail "two instances on Redis: alert ids differ from the state file's ($(comm -3 "$T/ref.ids" "$T/rab.ids" | wc -l) differences)"
    scan --state "redis://127.0.0.1:$PORT/?instance=c" --output "$T/rc.jsonl" "$T/in.jsonl" 2> "$T/rc.err" \
        || fail "redis instance c: $(cat "$T/rc.err")"
    [ ! -s "$T/rc.jsonl" ] || fail "redis instance c emitted $(wc -l < "$T/rc.jsonl") alerts again"
    echo "redis: a emitted $(wc -l < "$T/ra.jsonl"), b $(wc -l < "$T/rb.jsonl")"
    # crashes (kill -9 in a batch, then after a commit) and the rerun: the partial sequences and
    # open windows come back from the instance's local file (st_blob_set on Redis), so the
    # alerts are the state file's, none twice
    redis-cli -p "$PORT" FLUSHALL > /dev/null
    rm -rf "$XDG_STATE_HOME" "$T/rd.jsonl"
    for point in record:1234 commit:5:committed; do
        KADET_TEST_CRASH=$point scan --state "redis://127.0.0.1:$PORT/?instance=d" --output "$T/rd.jsonl" \
            "$T/in.jsonl" 2>/dev/null && fail "redis: the run with crash point $point did not crash"
    done
    scan --state "redis://127.0.0.1:$PORT/?instance=d" --output "$T/rd.jsonl" "$T/in.jsonl" 2> "$T/rd.err" \
        || fail "redis: rerun after the crashes: $(cat "$T/rd.err")"
    ids "$T/rd.jsonl" | sort > "$T/rd.ids"
    cmp -s "$T/rd.ids" "$T/ref.ids" || fail "redis: crashes and rerun: alert ids differ from the state file's ($(comm -3 "$T/ref.ids" "$T/rd.ids" | wc -l) differences)"
    stop_redis
    trap 'rm -rf "$T"' EXIT
fi
exit 0
