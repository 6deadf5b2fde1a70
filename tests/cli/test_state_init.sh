#!/usr/bin/env bash
# A state file that exists but is empty (0 bytes: a failed copy, a full disk, `> state.db`) must
# not be taken for a new state: every alert it had recorded would be raised again. `kadet scan`
# and the writing `kadet state` subcommands refuse it (exit 2, a message naming the file) unless
# --state-init says to start anew; a missing file is still created; a file that is not an SQLite
# database, or a truncated one, is refused even with --state-init and left as it was.
set -u
K=${KADET:-./kadet}
T=$(mktemp -d /tmp/kadet-cli-state-init.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

mkdir -p "$T/rules"
cat > "$T/rules/nt.toml" <<'EOF'
[metadata]
creation_date = "2026/01/01"
maturity = "production"
updated_date = "2026/01/01"

[rule]
author = ["kadet tests"]
description = "state-init test"
language = "kuery"
name = "state-init new terms"
risk_score = 21
rule_id = "init-nt"
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

# 200 events, 10 users x 4 agents: 40 new combinations
awk 'BEGIN {
  for (i = 0; i < 200; i++) {
    s = 1772359200 + i * 60; d = strftime("%Y-%m-%dT%H:%M:%S", s, 1);
    printf "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\",\"auditID\":\"init-%04d\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/api/v1/pods\",\"verb\":\"get\",\"user\":{\"username\":\"user-%d\"},\"sourceIPs\":[\"10.0.0.1\"],\"userAgent\":\"agent/%d\",\"objectRef\":{\"resource\":\"pods\",\"apiVersion\":\"v1\"},\"responseStatus\":{\"code\":200},\"requestReceivedTimestamp\":\"%s.000000Z\",\"stageTimestamp\":\"%s.100000Z\",\"annotations\":{\"authorization.k8s.io/decision\":\"allow\"}}\n", i, i % 10, i % 4 + (i % 10 < 5 ? 0 : 2), d, d
  }
}' > "$T/in.jsonl"
scan() { "$K" scan --no-progress --rules "$T/rules" --now 2026-01-01T00:00:00Z "$@"; }

# ---- a missing file is created, as before
scan --state "$T/sub/s.db" "$T/in.jsonl" > "$T/first.jsonl" 2> "$T/err" || fail "first scan: $(cat "$T/err")"
n=$(wc -l < "$T/first.jsonl")
[ "$n" -ge 10 ] || fail "first scan raised $n alerts"
scan --state "$T/sub/s.db" --from-start "$T/in.jsonl" > "$T/again.jsonl" 2> "$T/err" || fail "rescan: $(cat "$T/err")"
[ -s "$T/again.jsonl" ] && fail "a rescan with the state raised alerts again"

# ---- the same file emptied: refused, left empty, nothing written
: > "$T/sub/s.db"
rm -f "$T/sub/s.db-wal" "$T/sub/s.db-shm"
scan --state "$T/sub/s.db" "$T/in.jsonl" > "$T/out" 2> "$T/err"; rc=$?
[ $rc = 2 ] || fail "scan on an empty state: exit $rc (want 2)"
[ -s "$T/out" ] && fail "scan on an empty state wrote alerts"
grep -q "state '$T/sub/s.db' exists but is empty (0 bytes)" "$T/err" || fail "message: $(cat "$T/err")"
grep -q -- "--state-init" "$T/err" || fail "the message does not name --state-init: $(cat "$T/err")"
[ -s "$T/sub/s.db" ] && fail "the refused state file was written to"
for sub in "prune" "reset --all --yes"; do
  # shellcheck disable=SC2086
  "$K" state $sub --state "$T/sub/s.db" > "$T/out" 2> "$T/err"; rc=$?
  [ $rc = 2 ] || fail "'state $sub' on an empty state: exit $rc (want 2)"
  grep -q "exists but is empty (0 bytes)" "$T/err" || fail "'state $sub' message: $(cat "$T/err")"
  [ -s "$T/sub/s.db" ] && fail "'state $sub' wrote to the empty state"
done

# ---- --state-init: a new state on purpose, the same alerts as the first run
scan --state "$T/sub/s.db" --state-init "$T/in.jsonl" > "$T/init.jsonl" 2> "$T/err" || fail "--state-init: $(cat "$T/err")"
cmp -s "$T/first.jsonl" "$T/init.jsonl" || fail "--state-init run differs from the first run"
# once initialised it is an ordinary state: --state-init changes nothing more
scan --state "$T/sub/s.db" --state-init --from-start "$T/in.jsonl" > "$T/out" 2> "$T/err" || fail "second --state-init: $(cat "$T/err")"
[ -s "$T/out" ] && fail "--state-init on a state with content started anew"
: > "$T/e.db"
"$K" state reset --all --yes --state-init --state "$T/e.db" > /dev/null 2> "$T/err" || fail "reset --state-init: $(cat "$T/err")"
"$K" state stats --state "$T/e.db" > /dev/null 2> "$T/err" || fail "stats after reset --state-init: $(cat "$T/err")"

# ---- usage
scan --no-state --state-init "$T/in.jsonl" > /dev/null 2> "$T/err"; [ $? = 1 ] || fail "--state-init with --no-state"
"$K" state stats --state-init --state "$T/e.db" > /dev/null 2> "$T/err"; [ $? = 1 ] || fail "stats --state-init"
"$K" scan --help | grep -q -- "--state-init" || fail "scan --help lacks --state-init"

# ---- not SQLite, or truncated: refused with or without --state-init, left as it was
echo "not a database" > "$T/junk.db"
cp "$T/junk.db" "$T/junk.orig"
scan --state "$T/junk.db" --state-init "$T/in.jsonl" > /dev/null 2> "$T/err"; rc=$?
[ $rc = 2 ] || fail "junk state: exit $rc"
grep -q "state '$T/junk.db' (15 bytes) is not an SQLite database" "$T/err" || fail "junk message: $(cat "$T/err")"
cmp -s "$T/junk.db" "$T/junk.orig" || fail "the junk file was changed"
sqlite3 "$T/sub/s.db" "PRAGMA wal_checkpoint(TRUNCATE)" > /dev/null 2>&1
size=$(stat -c %s "$T/sub/s.db")
[ "$size" -gt 8192 ] || fail "state file of $size bytes"
head -c 4096 "$T/sub/s.db" > "$T/cut.db"
scan --state "$T/cut.db" --state-init "$T/in.jsonl" > /dev/null 2> "$T/err"; rc=$?
[ $rc = 2 ] || fail "truncated state: exit $rc"
grep -q "state '$T/cut.db' is truncated: 4096 bytes, its header says $size" "$T/err" || fail "truncated message: $(cat "$T/err")"
[ "$(stat -c %s "$T/cut.db")" = 4096 ] || fail "the truncated file was changed"
exit 0
