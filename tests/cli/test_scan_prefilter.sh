#!/usr/bin/env bash
# The prefilter only skips rules that cannot match: with the 29 Kubernetes kuery rules of
# ../shared/data, every input of tests/cases gives byte-identical alerts with and without it
# (KADET_NO_PREFILTER=1 makes every rule a candidate for every event).
set -u
K=${KADET:-./kadet}
R=${KAD_SHARED_DATA:-../shared/data}/detection-rules/kubernetes
[ -d "$R" ] || { echo "skip: $R absent"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
find tests/cases -name '*.jsonl' ! -name expected.jsonl | sort | xargs cat | grep -v '^$' > "$T/in.jsonl"
[ -s "$T/in.jsonl" ] || fail "no case inputs found"
args=(scan --no-state --no-progress --now 2026-01-01T00:00:00Z --rules "$R" "$T/in.jsonl")
"$K" "${args[@]}" > "$T/with.jsonl" 2> "$T/with.err"
KADET_NO_PREFILTER=1 "$K" "${args[@]}" > "$T/without.jsonl" 2> "$T/without.err"
[ -s "$T/with.jsonl" ] || fail "no alerts at all (see $T/with.err)"
cmp -s "$T/with.jsonl" "$T/without.jsonl" || fail "alerts differ with and without the prefilter"
grep -q "prefilter: [1-9]" "$T/with.err" || fail "the prefilter indexed no rule"
exit 0
