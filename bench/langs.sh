#!/usr/bin/env bash
# bench/langs.sh [SIZE] - `make bench-langs`: kadet scan throughput of Elastic's Kubernetes rules
# by query language on one generated log (SIZE: 1GB by default, also 200MB, 2GB or a number of MB;
# BENCH_LANGS_SIZE): the 29 kuery rules, the 5 EQL rules, the 11 ES|QL rules and all 45, each
# with a state file, pinned to one core, ROUNDS rounds (median CPU time). The rounds interleave
# the four sets (kuery, eql, esql, all, kuery, ...) so that they share the machine's load alike.
# The binary is copied first, so a rebuild during the run does not change what is measured.
# Writes the section "Rules by query language" of bench/RESULTS.md (between marker comments, which
# bench/report.sh keeps). No assertion on time: figures only.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-${BENCH_LANGS_SIZE:-${BENCH_LANGS_MB:-1GB}}}
case $SIZE in
[1-9]*GB) MB=$((${SIZE%GB} * 1000)) ;;
[1-9]*MB) MB=${SIZE%MB} ;;
[1-9]*) MB=${SIZE//[!0-9]/} ;;
*) MB="" ;;
esac
[[ $MB =~ ^[1-9][0-9]*$ ]] || {
    echo "bench-langs: size '$SIZE': expected e.g. 1GB, 200MB or 500 (MB)" >&2
    exit 2
}
ROUNDS=${BENCH_LANGS_ROUNDS:-3}
SHARED=${KAD_SHARED_DATA:-../shared/data}
OUT=bench/out/langs
# the same file (name, bytes) as bench/run.sh's input of that size
IN=bench/data/audit-${MB}MB.jsonl
mkdir -p "$OUT" bench/data
[ -d "$SHARED/detection-rules/kubernetes" ] || { echo "bench-langs: $SHARED/detection-rules/kubernetes absent"; exit 0; }
[ -x ./kadet ] || { echo "bench-langs: ./kadet not built" >&2; exit 1; }
K=$OUT/kadet
cp ./kadet "$K"
if [ ! -s "$IN" ]; then
    echo "bench-langs: generating $IN ($MB MB) ..." >&2
    build/kadet-gen --bytes "$((MB * 1000000))" --seed 1 --out "$IN.tmp"
    mv "$IN.tmp" "$IN"
    sha1sum < build/kadet-gen | cut -c1-12 > "$IN.gen" # bench/run.sh's cache stamp
fi
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

declare -A CPU WALL RSS ALERTS CS WS
median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 0; r < ROUNDS; r++)); do
    for set in kuery eql esql all; do
        rm -f "$OUT/$set.db"*
        /usr/bin/time -f "%U %S %e %M" -o "$OUT/$set.time" $pin "$K" scan --no-progress \
            --rules "$OUT/$set" --state "$OUT/$set.db" "$IN" > "$OUT/$set.alerts" 2> "$OUT/$set.err" || true
        read -r u s e rss < "$OUT/$set.time"
        CS[$set]="${CS[$set]:-} $(echo "$u + $s" | bc)" WS[$set]="${WS[$set]:-} $e"
        [ "$rss" -gt "${RSS[$set]:-0}" ] && RSS[$set]=$rss
        echo "bench-langs: round $((r + 1))/$ROUNDS $set: cpu $(echo "$u + $s" | bc) s, wall $e s" >&2
    done
done
for set in kuery eql esql all; do
    # shellcheck disable=SC2086 # word splitting of the lists is meant
    CPU[$set]=$(median ${CS[$set]})
    # shellcheck disable=SC2086
    WALL[$set]=$(median ${WS[$set]})
    RSS[$set]=$((RSS[$set] / 1024))
    ALERTS[$set]=$(wc -l < "$OUT/$set.alerts")
done

sec=build/bench/langs_section.md
mkdir -p build/bench
{
    echo "<!-- langs-bench begin -->"
    echo "## Rules by query language"
    echo
    echo "\`make bench-langs\` ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'),"
    echo "load $load0 at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end): \`kadet scan --state\` of"
    echo "\`$IN\` ($bytes bytes, $events events, \`build/kadet-gen --bytes ${MB}MB --seed 1\`) with"
    echo "Elastic's Kubernetes rules grouped by query language; $ROUNDS rounds interleaving the four sets, median; \`$pin\`."
    echo "events/s and MB/s from CPU time (user + sys), which the machine's load inflates less than wall"
    echo "time; the ratio is of CPU times, to the 29 kuery rules."
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
    echo "Command: \`make bench-langs\` (\`BENCH_LANGS_SIZE=1GB\` by default, \`BENCH_LANGS_ROUNDS=3\`),"
    echo "or \`bash bench/langs.sh SIZE\`."
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
