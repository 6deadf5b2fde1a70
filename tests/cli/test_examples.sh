#!/usr/bin/env bash
# examples/scan_stdin.c (built by make check against kad.h alone) scans stdin with one rule and
# prints the same alerts as `kadet scan --no-state` (@timestamp aside).
set -u
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
K=${KADET:-./kadet}
EX=build/asan/examples/scan_stdin
[ -x "$EX" ] || { echo "skip: $EX not built (make examples)"; exit 77; }
R=tests/cases/nt-unknown-alerts/rules
IN=tests/cases/nt-unknown-alerts/input.jsonl
RULE=$(ls "$R"/*.toml | head -n 1)
"$EX" "$RULE" < "$IN" > "$T/ex.jsonl" 2> "$T/ex.err" || fail "example exit $?: $(cat "$T/ex.err")"
"$K" scan --no-state --no-progress --rules "$RULE" "$IN" > "$T/k.jsonl" 2>/dev/null
[ -s "$T/k.jsonl" ] || fail "kadet scan raised no alert: bad test input"
ids() { grep -o '"kibana.alert.uuid":"[0-9a-f]*"' "$1"; }
[ "$(ids "$T/ex.jsonl")" = "$(ids "$T/k.jsonl")" ] || fail "example and kadet scan differ"
grep -q "3 events, 2 alerts" "$T/ex.err" || fail "example summary: $(cat "$T/ex.err")"
"$EX" 2>/dev/null; [ $? = 1 ] || fail "usage exit"
"$EX" "$T/missing.toml" </dev/null 2>"$T/err"; [ $? = 1 ] || fail "bad rule exit"
grep -q "missing.toml" "$T/err" || fail "bad rule message: $(cat "$T/err")"
echo ok
