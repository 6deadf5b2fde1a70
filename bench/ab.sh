#!/usr/bin/env bash
# bench/ab.sh OLD_REV NEW_REV - `make bench-ab`: kadet scan of two commits side by side.
#
# Each revision is exported with `git archive` into build/ab/<commit>/ and built there
# (`make kadet`; kept between runs: a commit's tree does not change). Both binaries then scan
# the same generated raw audit log with the same rules:
#   founding  the shipped founding rule (rules/, seed rule id), with --host-metadata
#   kuery     Elastic's 29 kuery Kubernetes rules ($KAD_SHARED_DATA; skipped when absent)
# and the script measures, per binary and rule set:
#   - instructions: valgrind --tool=callgrind on two small logs (AB_CG_MB, default 4 MB, and
#     four times that), one run each; deterministic, so load on the machine cannot move them.
#     The difference between the two sizes divided by the difference in events is the cost per
#     event, free of the fixed start cost (loading rules, creating the state);
#   - CPU time (user + sys, /usr/bin/time): AB_ROUNDS interleaved rounds (old, new, old, new,
#     ...) on a larger log (AB_MB, default 200 MB), pinned to one core; the median of each.
# Cross-check: both binaries write byte-identical alerts (--now fixed, --no-progress).
# Writes the "A/B" section of bench/RESULTS.md between marker comments. No assertion on time.
#
# With the founding rule, the simdjson reference (build/bench/ref_simdjson, `make bench-tools`)
# runs in the same interleaved rounds when it is built, and jq with bench/seed.jq when AB_JQ=1,
# so the ratios to them (the targets of issue 19) are measured side by side too.
#
# Environment: AB_MB, AB_CG_MB, AB_ROUNDS (default 5), KAD_SHARED_DATA (default a shared/data
# folder beside the repository), AB_NO_CALLGRIND=1 (skip the instruction counts), AB_JQ=1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
[ $# -eq 2 ] || { echo "usage: bench/ab.sh OLD_REV NEW_REV" >&2; exit 2; }
MB=${AB_MB:-200}
CG_MB=${AB_CG_MB:-4}
ROUNDS=${AB_ROUNDS:-5}
SHARED=${KAD_SHARED_DATA:-../shared/data}
NOW=2026-01-01T00:00:00Z
OUT=bench/out/ab
mkdir -p "$OUT" bench/data build/ab
say() { printf 'bench-ab: %s\n' "$*" >&2; }

build_rev() { # REV -> prints the binary's path
    local c dir
    c=$(git rev-parse --verify "$1^{commit}") || { echo "bench-ab: no such revision: $1" >&2; exit 2; }
    dir=build/ab/$c
    if [ ! -x "$dir/kadet" ]; then
        say "building $1 ($c) in $dir"
        rm -rf "$dir" && mkdir -p "$dir"
        git archive "$c" | tar -x -C "$dir"
        make -C "$dir" -j2 kadet > "$dir.log" 2>&1 || { echo "bench-ab: build of $1 failed (see $dir.log)" >&2; exit 1; }
    fi
    echo "$dir/kadet"
}
OLD=$(build_rev "$1")
NEW=$(build_rev "$2")
OLDC=$(git rev-parse --short=12 "$1^{commit}")
NEWC=$(git rev-parse --short=12 "$2^{commit}")

[ -x build/kadet-gen ] || make build/kadet-gen > /dev/null
IN=bench/data/audit-${MB}MB.jsonl
CG_IN=bench/data/audit-${CG_MB}MB.jsonl
CG_MB2=$((CG_MB * 4))
CG_IN2=bench/data/audit-${CG_MB2}MB.jsonl
[ -s "$IN" ] || build/kadet-gen --bytes "${MB}MB" --seed 1 --out "$IN"
[ -s "$CG_IN" ] || build/kadet-gen --bytes "${CG_MB}MB" --seed 1 --out "$CG_IN"
[ -s "$CG_IN2" ] || build/kadet-gen --bytes "${CG_MB2}MB" --seed 1 --out "$CG_IN2"
cat "$IN" "$CG_IN" "$CG_IN2" > /dev/null # warm the page cache

# rule sets: directories of symlinks
sets=()
rm -rf "$OUT/founding" "$OUT/kuery" && mkdir -p "$OUT/founding" "$OUT/kuery"
f=$(grep -l '^rule_id = "8a1db198-da6f-4500-b985-7fe2457300af"' rules/*.toml | head -1 || true)
[ -n "$f" ] && ln -s "$ROOT/$f" "$OUT/founding/" && sets+=(founding)
if [ -d "$SHARED/detection-rules/kubernetes" ]; then
    for f in "$SHARED"/detection-rules/kubernetes/*.toml; do
        grep -q '^language = "kuery"' "$f" || continue
        ln -s "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" "$OUT/kuery/"
    done
    sets+=(kuery)
else
    say "$SHARED/detection-rules/kubernetes absent: kuery rules skipped"
fi
[ ${#sets[@]} -gt 0 ] || { echo "bench-ab: no rules to run" >&2; exit 1; }
pin=()
command -v taskset > /dev/null && taskset -c 0 true 2> /dev/null && pin=(taskset -c 0)

# One decoding thread in every run (callgrind's too, which is not pinned): the cost of the
# single-core pipeline, comparable between builds; binaries without --threads run one anyway.
declare -A THR
for b in "$OLD" "$NEW"; do
    THR[$b]=""
    "$b" scan --help 2>&1 | grep -q -- '--threads' && THR[$b]="--threads 1"
done

scan() { # BIN SET INPUT TAG [prefix...] : one scan, new state file
    local bin=$1 set=$2 in=$3 tag=$4
    shift 4
    rm -f "$OUT/$tag.db"*
    # shellcheck disable=SC2086
    "$@" "$bin" scan ${THR[$bin]} --no-progress --now "$NOW" --host-metadata --rules "$OUT/$set" \
        --state "$OUT/$tag.db" "$in" > "$OUT/$tag.alerts" 2> "$OUT/$tag.err" ||
        say "$tag: exit status $? (see $OUT/$tag.err)"
}

cg_events=$(wc -l < "$CG_IN")
cg_events2=$(wc -l < "$CG_IN2")
declare -A INS INS2 PER CPU ALERTS SAME
for set in "${sets[@]}"; do
    # cross-check and instruction counts
    for v in old new; do
        bin=$OLD && [ $v = new ] && bin=$NEW
        INS[$set-$v]="" INS2[$set-$v]="" PER[$set-$v]=""
        if [ "${AB_NO_CALLGRIND:-}" != 1 ] && command -v valgrind > /dev/null; then
            scan "$bin" "$set" "$CG_IN" "$set-$v-cg" valgrind --tool=callgrind \
                --callgrind-out-file=/dev/null
            INS[$set-$v]=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$OUT/$set-$v-cg.err" | tail -1)
            scan "$bin" "$set" "$CG_IN2" "$set-$v-cg2" valgrind --tool=callgrind \
                --callgrind-out-file=/dev/null
            INS2[$set-$v]=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$OUT/$set-$v-cg2.err" | tail -1)
            [ -n "${INS[$set-$v]}" ] && [ -n "${INS2[$set-$v]}" ] &&
                PER[$set-$v]=$(((INS2[$set-$v] - INS[$set-$v]) / (cg_events2 - cg_events)))
        fi
    done
    # CPU time, interleaved (with the reference and jq beside the founding rule)
    o=() n=()
    others=()
    if [ "$set" = founding ]; then
        [ -x build/bench/ref_simdjson ] && others+=(ref)
        [ "${AB_JQ:-}" = 1 ] && command -v jq > /dev/null && others+=(jq)
    fi
    for t in "${others[@]}"; do eval "X_$t=()"; done
    for ((r = 0; r < ROUNDS; r++)); do
        for t in "${others[@]}"; do
            case $t in
            ref) cmd=(build/bench/ref_simdjson "$IN") ;;
            jq) cmd=(jq -c -f bench/seed.jq "$IN") ;;
            esac
            /usr/bin/time -f "%U %S" -o "$OUT/$t.time" "${pin[@]}" "${cmd[@]}" > "$OUT/$t.out" 2>&1 ||
                say "$t: exit status $?"
            read -r u s < "$OUT/$t.time"
            tt=$(echo "$u + $s" | bc)
            eval "X_$t+=(\"\$tt\")"
        done
        for v in old new; do
            bin=$OLD && [ $v = new ] && bin=$NEW
            scan "$bin" "$set" "$IN" "$set-$v" /usr/bin/time -f "%U %S" -o "$OUT/$set-$v.time" "${pin[@]}"
            read -r u s < "$OUT/$set-$v.time"
            t=$(echo "$u + $s" | bc)
            if [ $v = old ]; then o+=("$t"); else n+=("$t"); fi
        done
    done
    med() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }
    CPU[$set-old]=$(med "${o[@]}") CPU[$set-new]=$(med "${n[@]}")
    for t in "${others[@]}"; do
        eval "all=(\"\${X_$t[@]}\")"
        CPU[$t]=$(med "${all[@]}") CPU[$t-all]="${all[*]}"
    done
    CPU[$set-oldall]="${o[*]}" CPU[$set-newall]="${n[*]}"
    ALERTS[$set]=$(wc -l < "$OUT/$set-new.alerts")
    if cmp -s "$OUT/$set-old.alerts" "$OUT/$set-new.alerts"; then SAME[$set]=identical; else SAME[$set]=DIFFERENT; fi
done

bytes=$(stat -c %s "$IN")
events=$(wc -l < "$IN")
sec=build/bench/ab_section.md
mkdir -p build/bench
ratio() { [ -n "$1" ] && [ -n "$2" ] && echo "scale=3; $2 / $1" | bc || echo "n/a"; }
{
    echo "<!-- ab-bench begin -->"
    echo "## A/B: two commits side by side (\`make bench-ab\`)"
    echo
    echo "\`bench/ab.sh $1 $2\` ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs,"
    echo "$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), load $(cut -d' ' -f1-3 /proc/loadavg) at the end):"
    echo "old = \`$OLDC\`, new = \`$NEWC\`, both built with \`make kadet\` from \`git archive\`."
    echo "\`kadet scan --threads 1 --no-progress --now $NOW --host-metadata --rules SET --state NEW.db LOG\`"
    echo "(\`--threads 1\` left out for a binary without the option)."
    echo "Instructions: \`valgrind --tool=callgrind\`, one run each on \`$CG_IN\` ($cg_events events) and"
    echo "\`$CG_IN2\` ($cg_events2 events); per event = the difference of the two over the difference in events"
    echo "(the fixed start cost cancels out)."
    echo "CPU: user + sys (\`/usr/bin/time\`), $ROUNDS interleaved rounds on \`$IN\` ($bytes bytes,"
    echo "$events events, \`build/kadet-gen --bytes ${MB}MB --seed 1\`), \`${pin[*]:-not pinned}\`, median."
    echo "new/old below 1.000 means the new commit is cheaper."
    echo
    echo "| rules | instr. small log old / new | new/old | instr. per event old / new | new/old | CPU s old / new | new/old | alerts | old vs new alerts |"
    echo "| --- | --: | --: | --: | --: | --: | --: | --: | --- |"
    for set in "${sets[@]}"; do
        echo "| $set ($(ls "$OUT/$set" | wc -l)) | ${INS[$set-old]:-n/a} / ${INS[$set-new]:-n/a} | $(ratio "${INS[$set-old]}" "${INS[$set-new]}") | ${PER[$set-old]:-n/a} / ${PER[$set-new]:-n/a} | $(ratio "${PER[$set-old]}" "${PER[$set-new]}") | ${CPU[$set-old]} / ${CPU[$set-new]} | $(ratio "${CPU[$set-old]}" "${CPU[$set-new]}") | ${ALERTS[$set]} | ${SAME[$set]} |"
    done
    echo
    for set in "${sets[@]}"; do
        echo "- $set, every round (old): ${CPU[$set-oldall]}; (new): ${CPU[$set-newall]}"
    done
    # throughput ratios from CPU-time medians: reference_CPU / kadet_CPU (same bytes)
    for t in ref jq; do
        [ -n "${CPU[$t]:-}" ] || continue
        name="the simdjson reference (\`build/bench/ref_simdjson LOG\`)"
        [ $t = jq ] && name="jq (\`jq -c -f bench/seed.jq LOG\`)"
        echo "- $name in the same rounds: CPU ${CPU[$t]} s (every round: ${CPU[$t-all]});" \
            "founding rule old $(ratio "${CPU[founding-old]}" "${CPU[$t]}")x, new" \
            "$(ratio "${CPU[founding-new]}" "${CPU[$t]}")x its throughput"
    done
    echo
    echo "Command: \`make bench-ab AB_OLD=$1 AB_NEW=$2\` (\`AB_MB\`, \`AB_CG_MB\`, \`AB_ROUNDS\`)."
    echo "<!-- ab-bench end -->"
} > "$sec"
cat "$sec"
res=bench/RESULTS.md
touch "$res"
if grep -q '<!-- ab-bench begin -->' "$res"; then
    awk -v f="$sec" '
        /<!-- ab-bench begin -->/ { while ((getline l < f) > 0) print l; skip = 1; next }
        /<!-- ab-bench end -->/ { skip = 0; next }
        !skip { print }' "$res" > "$res.tmp" && mv "$res.tmp" "$res"
else
    { [ -s "$res" ] && echo; cat "$sec"; } >> "$res"
fi
