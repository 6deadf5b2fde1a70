#!/usr/bin/env bash
# A state file written by an older kadet (schema 3, tests/state/README.md): read-only commands
# read it as it is, the first writer upgrades it to schema 4 (docs/internals/state.md), and every
# `kadet state` reader shows what the old kadet showed for the same file.
set -u
K=${KADET:-./kadet}
D=tests/state
fail() { echo "FAIL: $*"; exit 1; }
command -v sqlite3 > /dev/null || { echo "skip: no sqlite3 shell"; exit 0; }
T=$(mktemp -d /tmp/kadet-cli-schema3.XXXXXX)
trap 'rm -rf "$T"' EXIT
ver() { sqlite3 "$1" "PRAGMA user_version"; }

# ---- read-only: the same output, the file stays schema 3
cp "$D/schema3.db" "$T/ro.db"
"$K" state terms --json --all-baselines --state "$T/ro.db" > "$T/terms" || fail "terms (ro)"
cmp -s "$T/terms" "$D/schema3.terms.json" || fail "terms of a schema 3 file differ"
"$K" state export --state "$T/ro.db" > "$T/export" 2> /dev/null || fail "export (ro)"
cmp -s "$T/export" "$D/schema3.export" || fail "export of a schema 3 file differs"
"$K" state stats --json --state "$T/ro.db" > "$T/stats" || fail "stats (ro)"
grep -q '"combinations":400,"alert_ids":80' "$T/stats" || fail "stats: $(cat "$T/stats")"
[ "$(ver "$T/ro.db")" = 3 ] || fail "a read-only command changed the schema"

# ---- a writer upgrades it; prune removes what the old kadet removed
cp "$D/schema3.db" "$T/rw.db"
"$K" state prune --state "$T/rw.db" > "$T/out" 2> "$T/err" || fail "prune: $(cat "$T/err")"
grep -q "pruned 81 combinations, 18 alert ids, 0 stale baselines" "$T/out" || fail "prune: $(cat "$T/out")"
[ "$(ver "$T/rw.db")" = 4 ] || fail "prune did not upgrade the schema"
"$K" state terms --json --all-baselines --state "$T/rw.db" > "$T/terms" || fail "terms (pruned)"
cmp -s "$T/terms" "$D/schema3.pruned.terms.json" || fail "terms after prune differ"
[ "$(sqlite3 "$T/rw.db" "SELECT count(*) FROM terms_key")" = 319 ] || fail "terms_key rows"
[ "$(sqlite3 "$T/rw.db" "SELECT count(*) FROM terms_seen")" = 319 ] || fail "terms_seen rows"
# the sqlite3 shell still reads the view terms (no kadet function needed)
[ "$(sqlite3 "$T/rw.db" "SELECT count(*) FROM terms")" = 319 ] || fail "view terms"

# ---- upgraded without pruning: export unchanged; import into a new file as the old kadet did
cp "$D/schema3.db" "$T/up.db"
"$K" state prune --older-than 100000d --state "$T/up.db" > /dev/null 2>&1 || fail "prune (nothing)"
[ "$(ver "$T/up.db")" = 4 ] || fail "no upgrade"
"$K" state export --state "$T/up.db" > "$T/export" 2> /dev/null || fail "export (upgraded)"
cmp -s "$T/export" "$D/schema3.export" || fail "export after the upgrade differs"
"$K" state import --state "$T/new.db" "$D/schema3.export" > /dev/null 2>&1 || fail "import"
"$K" state export --state "$T/new.db" > "$T/export" 2> /dev/null || fail "export (imported)"
cmp -s "$T/export" "$D/schema3.import.export" || fail "import then export differs from the old kadet's"

# ---- reset of one rule on the upgraded file
"$K" state reset --rule rule-two --yes --state "$T/up.db" > /dev/null 2>&1 || fail "reset"
[ "$(sqlite3 "$T/up.db" "SELECT count(*) FROM terms_key")" = 200 ] || fail "reset: terms_key"
[ "$(sqlite3 "$T/up.db" "SELECT count(*) FROM terms_seen")" = 200 ] || fail "reset: terms_seen"
echo "test_state_schema3: ok"
