#!/usr/bin/env bash
# kadet scan: usage errors, exit codes, stdin, --table, --learn, the per-rule summary, default
# state location. Engine semantics are in tests/cases/ (driver tests/unit/test_cases.c).
set -u
K=${KADET:-./kadet}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
R=tests/cases/nt-unknown-alerts/rules
IN=tests/cases/nt-unknown-alerts/input.jsonl
[ -d "$R" ] || fail "missing $R"

"$K" help scan | grep -q "usage: kadet scan" || fail "help scan"
"$K" scan --help | grep -q -- "--learn" || fail "scan --help"

"$K" scan --bogus 2>"$T/err" >"$T/out"; rc=$?
[ $rc = 1 ] || fail "unknown option exit $rc"
grep -q "unknown option '--bogus'" "$T/err" || fail "unknown option message"
[ -s "$T/out" ] && fail "usage error wrote to stdout"
"$K" scan --format xml --no-state --rules "$R" "$IN" 2>"$T/err"; [ $? = 1 ] || fail "--format xml"
grep -q "expected auto, audit or ecs" "$T/err" || fail "--format message"
"$K" scan --now yesterday --no-state --rules "$R" "$IN" 2>/dev/null; [ $? = 1 ] || fail "--now"
"$K" scan --table --output x --no-state --rules "$R" "$IN" 2>/dev/null; [ $? = 1 ] || fail "--table --output"

# a rule file with an error: exit 1, nothing scanned, positioned diagnostic
"$K" scan --no-state --rules tests/cases/rules-bad-rule/rules "$IN" >"$T/out" 2>"$T/err"; rc=$?
[ $rc = 1 ] || fail "bad rule exit $rc"
grep -q "bad.toml:[0-9]*:[0-9]*: error" "$T/err" || fail "bad rule diagnostic: $(cat "$T/err")"
[ -s "$T/out" ] && fail "bad rule: alerts written"
"$K" scan --no-state --rules "$T/nothing-here" "$IN" >/dev/null 2>&1; [ $? = 1 ] || fail "missing rules path"

# unreadable input: exit 2, the other inputs are still scanned
"$K" scan --no-state --no-progress --rules "$R" "$T/missing.jsonl" "$IN" >"$T/out" 2>"$T/err"; rc=$?
[ $rc = 2 ] || fail "missing input exit $rc"
grep -q "missing.jsonl" "$T/err" || fail "missing input not named"
[ "$(wc -l < "$T/out")" = 2 ] || fail "the readable input was not scanned"

# stdin, summary
"$K" scan --no-state --no-progress --rules "$R" < "$IN" >"$T/out" 2>"$T/err" || fail "stdin scan"
[ "$(wc -l < "$T/out")" = 2 ] || fail "stdin: expected 2 alerts"
grep -q "3 records, 3 events, 0 skipped" "$T/err" || fail "summary counts: $(cat "$T/err")"
grep -qE "Unusual decision by user agent \(test\) +3 +0 +2" "$T/err" || fail "per-rule line"
# `-` is stdin too: the same alerts (pinned @timestamp) as with no FILE
"$K" scan --no-state --no-progress --now 2026-03-10T00:00:00Z --rules "$R" < "$IN" >"$T/out" 2>/dev/null
"$K" scan --no-state --no-progress --now 2026-03-10T00:00:00Z --rules "$R" - < "$IN" >"$T/out2" 2>/dev/null || fail "stdin as -"
[ -s "$T/out2" ] && cmp -s "$T/out" "$T/out2" || fail "'-' and no FILE give different alerts"

# --table
"$K" scan --no-state --no-progress --table --rules "$R" "$IN" >"$T/out" 2>/dev/null || fail "--table"
head -n 1 "$T/out" | grep -q "event time (UTC)" || fail "--table header"
grep -q "curl/8.5.0" "$T/out" || fail "--table row"

# --learn writes no alert and says what would have been raised
"$K" scan --state "$T/s.db" --no-progress --learn --rules "$R" "$IN" >"$T/out" 2>"$T/err" || fail "--learn"
[ -s "$T/out" ] && fail "--learn wrote alerts"
grep -q "would" "$T/err" || fail "--learn summary"
# ... and the baseline it built holds: a scan of the same events raises nothing
"$K" scan --state "$T/s.db" --no-progress --from-start --rules "$R" "$IN" >"$T/out" 2>/dev/null
[ -s "$T/out" ] && fail "scan after --learn alerted on learned combinations"

# --ingested now (live input): event.ingested = read time in whole seconds, and the rule's
# timestamp_override (event.ingested) makes it the event time; --timestamp request
"$K" scan --no-state --no-progress --ingested now --rules "$R" "$IN" >"$T/out" 2>/dev/null ||
    fail "--ingested now"
python3 - "$T/out" <<'PY' || fail "--ingested now: event.ingested / event time"
import json, sys
for line in open(sys.argv[1]):
    a = json.loads(line)
    ing = a["event"]["ingested"]
    assert len(ing) == 20 and ing.endswith("Z"), ing  # whole seconds
    assert a["kadet.event_time"] == ing[:-1] + ".000Z", (a["kadet.event_time"], ing)
PY
"$K" scan --no-state --no-progress --ingested later --rules "$R" "$IN" >/dev/null 2>&1
[ $? = 1 ] || fail "bad --ingested"
"$K" scan --no-state --no-progress --timestamp request --rules "$R" "$IN" >"$T/out" 2>/dev/null ||
    fail "--timestamp request"
grep -q '"kibana.alert.original_time":"2026-03-01T09:59:59.995Z"' "$T/out" ||
    fail "--timestamp request: original_time $(head -c 300 "$T/out")"

# default state file under $XDG_STATE_HOME
XDG_STATE_HOME="$T/xdg" "$K" scan --no-progress --rules "$R" "$IN" >/dev/null 2>&1 || fail "default state"
[ -f "$T/xdg/kadet/state.db" ] || fail "no state at \$XDG_STATE_HOME/kadet/state.db"
# ... the same file `kadet state` opens by default
XDG_STATE_HOME="$T/xdg" "$K" state stats >"$T/out" 2>"$T/err" || fail "state stats on scan's default state: $(cat "$T/err")"
grep -q "^state: *$T/xdg/kadet/state.db" "$T/out" || fail "state stats opened another file: $(cat "$T/out")"
grep -q "^nt-ua .* current" "$T/out" || fail "state stats does not show scan's baseline: $(cat "$T/out")"
# a relative XDG_STATE_HOME is ignored (XDG spec) by both: HOME decides
mkdir -p "$T/home"
(cd "$T" && XDG_STATE_HOME=rel HOME="$T/home" "$K" scan --no-progress --rules "$OLDPWD/$R" "$OLDPWD/$IN" >/dev/null 2>&1) || fail "relative XDG: scan"
[ -f "$T/home/.local/state/kadet/state.db" ] || fail "relative XDG_STATE_HOME not ignored by scan"
[ -e "$T/rel" ] && fail "scan used a relative XDG_STATE_HOME"

# default rules: the bundled ones, found from the binary's location like `kadet rules` does
KA=$(cd "$(dirname "$K")" && pwd)/$(basename "$K")
(cd "$T" && env -u KADET_RULES "$KA" scan --no-state --no-progress "$OLDPWD/$IN" >/dev/null 2>"$T/err") 
grep -q "Unusual Decision by User Agent" "$T/err" || fail "default rules not the bundled ones: $(cat "$T/err")"
env -u KADET_RULES "$KA" rules list >"$T/out" 2>&1 || fail "rules list"
grep -q "Unusual Decision by User Agent" "$T/out" || fail "rules list: bundled rules"
exit 0
