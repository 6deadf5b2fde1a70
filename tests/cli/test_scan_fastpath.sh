#!/usr/bin/env bash
# The extractor path (a raw event decoded into a document holding only the fields the rules
# read, the ECS fields no rule reads left out) gives the same alerts as whole documents, byte
# for byte: on generated logs (one of 12 days with novel combinations) and on every input of
# tests/cases, with the founding rule, the shipped rules and the Kubernetes rules of
# ../shared/data (skipped when absent). KADET_FULL_DOCS=1 (a test hook of the sanitizer build)
# makes the engine ask for whole documents, as it did for every event before the extractor.
set -u
K=${KADET:-./kadet}
GEN=${KADET_GEN:-build/kadet-gen}
R=${KAD_SHARED_DATA:-../shared/data}/detection-rules/kubernetes
fail() { echo "FAIL: $*"; exit 1; }
[ -x "$GEN" ] || { echo "skip: $GEN not built (make tools)"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
FOUNDING=$(grep -l '^rule_id = "8a1db198-da6f-4500-b985-7fe2457300af"' rules/*.toml | head -1)
[ -n "$FOUNDING" ] || fail "founding rule not found in rules/"

"$GEN" --seed 5 --events 6000 --out "$T/gen.jsonl" || fail "kadet-gen"
"$GEN" --seed 9 --events 8000 --days 12 --novel 200 --out "$T/gen12.jsonl" || fail "kadet-gen 12 days"
find tests/cases -name '*.jsonl' ! -name expected.jsonl | sort | xargs cat | grep -v '^$' > "$T/cases.jsonl"
[ -s "$T/cases.jsonl" ] || fail "no case inputs found"

sets=("$FOUNDING" rules)
[ -d "$R" ] && sets+=("$R")
n=0
for in in gen gen12 cases; do
    for rs in "${sets[@]}"; do
        for hm in --host-metadata --no-host-metadata; do
            args=(scan $hm --no-state --no-progress --now 2026-01-01T00:00:00Z --rules "$rs" "$T/$in.jsonl")
            # exit status 1 or 2 (bad records in the cases, alerts): the same for both
            "$K" "${args[@]}" > "$T/fast.jsonl" 2> "$T/fast.err"
            a=$?
            KADET_FULL_DOCS=1 "$K" "${args[@]}" > "$T/full.jsonl" 2> "$T/full.err"
            b=$?
            [ $a -le 2 ] || fail "$in $rs $hm: scan failed ($a): $(tail -3 "$T/fast.err")"
            [ $a = $b ] || fail "$in $rs $hm: exit status $a, with whole documents $b"
            # the summaries, times left out: same counts per rule (matched, no time, ...)
            for v in fast full; do sed -E -e 's/ in [0-9.]+ s \([0-9.]+ [KMG]?B\/s\)//' -e 's/was read \([^)]*\)/was read (T)/' "$T/$v.err" > "$T/$v.sum"; done
            cmp -s "$T/fast.sum" "$T/full.sum" ||
                fail "$in $rs $hm: the summaries differ: $(diff "$T/fast.sum" "$T/full.sum" | head -5)"
            cmp -s "$T/fast.jsonl" "$T/full.jsonl" ||
                fail "$in, rules $rs, $hm: alerts differ between the extractor path and whole documents"
            n=$((n + $(wc -l < "$T/fast.jsonl")))
        done
    done
done
echo "compared $n alerts (extractor path vs whole documents)"
[ "$n" -gt 100 ] || fail "only $n alerts in all: the comparison compared too little"
exit 0
