#!/usr/bin/env bash
# bench/threads.sh [MB] - `make bench-threads`: `kadet scan --threads 1` against `--threads 2`
# (issue 19: decoding in parallel, >= 1.7x the one-thread throughput on 2 cores) on one
# generated log (MB: 1000 by default, BENCH_THREADS_MB; the same file as bench/run.sh's and
# bench/langs.sh's input of that size), with the founding rule and with a rule set (Elastic's
# kuery rules from $KAD_SHARED_DATA as bench/run.sh picks them, else the bundled rules/), a new
# state file each run. ROUNDS rounds (BENCH_THREADS_ROUNDS, default 5) interleave the
# configurations (1, 2, 1, 2, ...) so that they share the machine's load alike;
# figures are medians of CPU time (user + sys) and wall time from /usr/bin/time. Not pinned (two
# threads need two cores). The alerts of the two thread counts are compared (cmp).
#
# On a loaded machine the wall speedup says how much of the second core the load left, so the
# section also gives, per run, the cores obtained (CPU / wall) and the machine's load, and the
# bound 2 x CPU(1) / CPU(2): the speedup if both threads stayed busy on two free cores (the cost
# of the pipeline itself is the gap between CPU(2) and CPU(1)).
# Writes the section "Parallel decoding (`make bench-threads`)" of bench/RESULTS.md with
# bench/section.sh. No assertion on time: figures only.
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${1:-${BENCH_THREADS_MB:-1000}}
[[ $MB =~ ^[1-9][0-9]*$ ]] || { echo "bench-threads: '$MB': expected a size in MB (e.g. 1000)" >&2; exit 2; }
ROUNDS=${BENCH_THREADS_ROUNDS:-5}
OUT=bench/out/threads
IN=bench/data/audit-${MB}MB.jsonl
mkdir -p "$OUT" bench/data build/bench
[ -x ./kadet ] || { echo "bench-threads: ./kadet not built" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench-threads: /usr/bin/time missing (scripts/deps.sh --bench)" >&2; exit 1; }
[ -s "$IN" ] || { # generated once (bench/run.sh and bench/langs.sh make the same file)
    echo "bench-threads: generating $IN ($MB MB) ..." >&2 &&
        build/kadet-gen --bytes "$((MB * 1000000))" --seed 1 --out "$IN.tmp" && mv "$IN.tmp" "$IN"
}
K=$OUT/kadet
cp ./kadet "$K" # a rebuild during the run does not change what is measured
cat "$IN" > /dev/null # warm the page cache
bytes=$(stat -L -c %s "$IN") events=$(wc -l < "$IN")
FOUNDING=$(grep -l '^rule_id = "8a1db198-da6f-4500-b985-7fe2457300af"' rules/*.toml | head -1)
# the second set: Elastic's kuery rules (query and new_terms) as bench/run.sh picks them, else
# the bundled rules/
SHARED=${KAD_SHARED_DATA:-../shared/data}
ALL=rules
rm -rf "$OUT/rules-kuery"
if [ -d "$SHARED/detection-rules/kubernetes" ]; then
    mkdir -p "$OUT/rules-kuery"
    grep -l -E '^language = "kuery"' "$SHARED"/detection-rules/kubernetes/*.toml |
        xargs grep -l -E '^type = "(query|new_terms)"' |
        while read -r f; do ln -s "$(realpath "$f")" "$OUT/rules-kuery/"; done
    ALL=$OUT/rules-kuery
fi
nrules=$(ls "$ALL" | wc -l)
ALL_LABEL=$([ "$ALL" = rules ] && echo "all $nrules bundled rules" || echo "$nrules kuery rules (Elastic's)")
CONFIGS="founding all"
rules_of() { if [ "$1" = founding ]; then echo "$FOUNDING"; else echo "$ALL"; fi; }

median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }
load() { cut -d' ' -f1 /proc/loadavg; }
declare -A CS WS US LS
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 0; r < ROUNDS; r++)); do
    for c in $CONFIGS; do
        for th in 1 2; do
            k=$c.$th
            rm -f "$OUT/$k.db"*
            l=$(load)
            /usr/bin/time -f "%U %S %e" -o "$OUT/$k.time" "$K" scan --no-progress --threads "$th" \
                --host-metadata --now 2026-01-01T00:00:00Z --rules "$(rules_of "$c")" \
                --state "$OUT/$k.db" "$IN" > "$OUT/$k.alerts" 2> "$OUT/$k.err" || true
            read -r u s e < "$OUT/$k.time"
            cpu=$(echo "$u + $s" | bc)
            CS[$k]="${CS[$k]:-} $cpu" WS[$k]="${WS[$k]:-} $e"
            US[$k]="${US[$k]:-} $(echo "scale=2; $cpu / $e" | bc)" LS[$k]="${LS[$k]:-} $l"
            echo "bench-threads: round $((r + 1))/$ROUNDS $c --threads $th: cpu $cpu s, wall $e s, load $l" >&2
        done
        cmp -s "$OUT/$c.1.alerts" "$OUT/$c.2.alerts" ||
            { echo "bench-threads: $c: --threads 2 alerts differ from --threads 1" >&2; exit 1; }
    done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

sec=build/bench/threads_section.md
{
    echo "<!-- threads-bench begin -->"
    echo "## Parallel decoding (\`make bench-threads\`)"
    echo
    echo "\`make bench-threads\` ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'),"
    echo "load $load0 at the start, $load1 at the end): \`kadet scan --threads 1\` and \`--threads 2\` of"
    echo "\`$IN\` ($bytes bytes, $events events, \`build/kadet-gen --bytes ${MB}MB --seed 1\`), state on (a new"
    echo "file each run), \`--host-metadata\`; $ROUNDS rounds interleaving 1 and 2 threads, medians; not pinned."
    echo "Alerts of 1 and 2 threads compared byte for byte (identical)."
    echo
    echo "| rules | threads | CPU s | wall s | MB/s (wall) | cores obtained (CPU/wall) | load 1-min |"
    echo "| --- | --: | --: | --: | --: | --: | --: |"
    for c in $CONFIGS; do
        for th in 1 2; do
            k=$c.$th
            # shellcheck disable=SC2086 # word splitting of the lists is meant
            cpu=$(median ${CS[$k]})
            # shellcheck disable=SC2086
            wall=$(median ${WS[$k]})
            # shellcheck disable=SC2086
            use=$(median ${US[$k]})
            # shellcheck disable=SC2086
            ld=$(median ${LS[$k]})
            eval "C_$c$th=$cpu W_$c$th=$wall"
            label=$([ "$c" = founding ] && echo "founding rule" || echo "$ALL_LABEL")
            printf '| %s | %s | %.2f | %.2f | %.0f | %.2f | %s |\n' "$label" "$th" "$cpu" "$wall" \
                "$(echo "scale=1; $bytes / 1000000 / $wall" | bc)" "$use" "$ld"
        done
    done
    echo
    echo "| rules | wall speedup (this machine) | CPU(2) / CPU(1) | bound on 2 free cores: 2 x CPU(1) / CPU(2) |"
    echo "| --- | --: | --: | --: |"
    for c in $CONFIGS; do
        eval "c1=\$C_${c}1 c2=\$C_${c}2 w1=\$W_${c}1 w2=\$W_${c}2"
        label=$([ "$c" = founding ] && echo "founding rule" || echo "$ALL_LABEL")
        printf '| %s | %.2fx | %.2f | %.2fx |\n' "$label" "$(echo "scale=3; $w1 / $w2" | bc)" \
            "$(echo "scale=3; $c2 / $c1" | bc)" "$(echo "scale=3; 2 * $c1 / $c2" | bc)"
    done
    echo
    echo "On a shared machine the wall speedup is not the speedup of a quiet one: the kernel shares"
    echo "the CPU per thread, so a two-thread process gets up to twice the share of a one-thread one"
    echo "(the wall speedup can pass 2; see \"cores obtained\"). The bound is the speedup if both"
    echo "threads stayed busy on two free cores at the measured CPU cost; the calling thread's own work"
    echo "(reading, detection, state, commits) is not split, so a quiet machine gives at most the bound."
    echo "Command: \`BENCH_THREADS_MB=$MB BENCH_THREADS_ROUNDS=$ROUNDS make bench-threads\`, or"
    echo "\`bash bench/threads.sh MB\`."
    echo "<!-- threads-bench end -->"
} > "$sec"
cat "$sec"
bash bench/section.sh threads-bench "$sec"
