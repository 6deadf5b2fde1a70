#!/usr/bin/env bash
# bench/langs.sh [MB] - `make bench-langs`: kadet scan throughput of Elastic's Kubernetes rules
# by query language on one generated log: the 29 kuery rules, the 5 EQL rules, the 11 ES|QL
# rules and all 45, each with a state file, pinned to one core, ROUNDS rounds (median CPU time).
# Writes the section "Rules by query language" of bench/RESULTS.md (between marker comments, which
# bench/report.sh keeps). No assertion on time: figures only.
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${1:-${BENCH_LANGS_MB:-200}}
ROUNDS=${BENCH_LANGS_ROUNDS:-3}
SHARED=${KAD_SHARED_DATA:-../shared/data}
K=./kadet
OUT=bench/out/langs
IN=bench/data/audit-${MB}MB.jsonl
mkdir -p "$OUT" bench/data
[ -d "$SHARED/detection-rules/kubernetes" ] || { echo "bench-langs: $SHARED/detection-rules/kubernetes absent"; exit 0; }
[ -s "$IN" ] || build/kadet-gen --bytes "${MB}MB" --seed 1 --out "$IN"
cat "$IN" > /dev/null # warm the page cache
bytes=$(stat -c %s "$IN")
events=$(wc -l < "$IN")

for set in kuery eql esql all; do
    rm -rf "$OUT/$set" && mkdir -p "$OUT/$set"
done
for f in "$SHARED"/detection-rules/kubernetes/*.toml; do
    lang=$(sed -n 's/^language = "\(.*\)"$/\1/p' "$f" | head -1)
    abs="$(cd "$(dirname "$f")" && pwd)/$(basename "$f")"
    ln -s "$abs" "$OUT/all/"
    case $lang in kuery | eql | esql) ln -s "$abs" "$OUT/$lang/" ;; esac
done
pin=""
command -v taskset > /dev/null && pin="taskset -c 0"

declare -A CPU WALL RSS ALERTS
for set in kuery eql esql all; do
    c=() w=() m=0
    for ((r = 0; r < ROUNDS; r++)); do
        rm -f "$OUT/$set.db"*
        /usr/bin/time -f "%U %S %e %M" -o "$OUT/$set.time" $pin "$K" scan --no-progress \
            --rules "$OUT/$set" --state "$OUT/$set.db" "$IN" > "$OUT/$set.alerts" 2> "$OUT/$set.err" || true
        read -r u s e rss < "$OUT/$set.time"
        c+=("$(echo "$u + $s" | bc)") w+=("$e")
        [ "$rss" -gt "$m" ] && m=$rss
    done
    CPU[$set]=$(printf '%s\n' "${c[@]}" | sort -n | sed -n "$(((ROUNDS + 1) / 2))p")
    WALL[$set]=$(printf '%s\n' "${w[@]}" | sort -n | sed -n "$(((ROUNDS + 1) / 2))p")
    RSS[$set]=$((m / 1024))
    ALERTS[$set]=$(wc -l < "$OUT/$set.alerts")
done

sec=build/bench/langs_section.md
mkdir -p build/bench
{
    echo "<!-- langs-bench begin -->"
    echo "## Rules by query language"
    echo
    echo "\`make bench-langs\` ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'),"
    echo "load $(cut -d' ' -f1-3 /proc/loadavg) before the last round): \`kadet scan --state\` of"
    echo "\`$IN\` ($bytes bytes, $events events, \`build/kadet-gen --bytes ${MB}MB --seed 1\`) with"
    echo "Elastic's Kubernetes rules grouped by query language; $ROUNDS rounds, median; \`$pin\`."
    echo "events/s and MB/s from CPU time (user + sys); the ratio is to the 29 kuery rules."
    echo
    echo "| rules | CPU s | wall s | events/s | MB/s | vs kuery | peak RSS MB | alerts |"
    echo "| --- | --: | --: | --: | --: | --: | --: | --: |"
    for set in kuery eql esql all; do
        n=$(ls "$OUT/$set" | wc -l)
        eps=$(echo "$events / ${CPU[$set]}" | bc)
        mbs=$(echo "scale=1; $bytes / 1000000 / ${CPU[$set]}" | bc)
        ratio=$(echo "scale=2; ${CPU[kuery]} / ${CPU[$set]}" | bc)
        echo "| $n $set | ${CPU[$set]} | ${WALL[$set]} | $eps | $mbs | ${ratio}x | ${RSS[$set]} | ${ALERTS[$set]} |"
    done
    echo
    echo "Command: \`make bench-langs\` (\`BENCH_LANGS_MB\`, \`BENCH_LANGS_ROUNDS\`)."
    echo "<!-- langs-bench end -->"
} > "$sec"
cat "$sec"
res=bench/RESULTS.md
touch "$res"
if grep -q '<!-- langs-bench begin -->' "$res"; then
    awk -v f="$sec" '
        /<!-- langs-bench begin -->/ { while ((getline l < f) > 0) print l; skip = 1; next }
        /<!-- langs-bench end -->/ { skip = 0; next }
        !skip { print }' "$res" > "$res.tmp" && mv "$res.tmp" "$res"
else
    { [ -s "$res" ] && echo; cat "$sec"; } >> "$res"
fi
