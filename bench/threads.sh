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
# The serial part: each --threads 2 run sets KADET_PIPE_CPU, so the pipe writes the calling
# thread's CPU, the part of it spent decoding batches (it decodes only when it would otherwise
# wait) and the workers' CPU (docs/internals/pipeline.md). The calling thread's own work
# (reading, copying records into batches, the ordered part of detection, state, alerts,
# commits) cannot be split: its share of CPU(2) is the serial fraction, and
# CPU(1) / max(own, CPU(2) / 2) is the most two cores can give (Amdahl, with the pipeline's
# cost).
# OLD_BIN=path/to/kadet (or BENCH_THREADS_OLD) adds that binary to every round, side by side
# (labelled "old"; its alerts compared too). Without KADET_PIPE_CPU support it has no serial
# columns.
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
OLD=${OLD_BIN:-${BENCH_THREADS_OLD:-}}
BINS="new"
if [ -n "$OLD" ]; then
    [ -x "$OLD" ] || { echo "bench-threads: OLD_BIN '$OLD' is not an executable" >&2; exit 2; }
    cp "$OLD" "$OUT/kadet-old"
    BINS="old new"
fi
bin_of() { if [ "$1" = old ]; then echo "$OUT/kadet-old"; else echo "$K"; fi; }
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
declare -A CS WS US LS OWN DEC WRK
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 0; r < ROUNDS; r++)); do
    for c in $CONFIGS; do
        for b in $BINS; do
            for th in 1 2; do
                k=$b.$c.$th
                rm -f "$OUT/$k.db"* "$OUT/$k.cpu"
                l=$(load)
                KADET_PIPE_CPU=$OUT/$k.cpu /usr/bin/time -f "%U %S %e" -o "$OUT/$k.time" \
                    "$(bin_of "$b")" scan --no-progress --threads "$th" \
                    --host-metadata --now 2026-01-01T00:00:00Z --rules "$(rules_of "$c")" \
                    --state "$OUT/$k.db" "$IN" > "$OUT/$k.alerts" 2> "$OUT/$k.err" || true
                read -r u s e < <(tail -1 "$OUT/$k.time")
                cpu=$(echo "$u + $s" | bc)
                CS[$k]="${CS[$k]:-} $cpu" WS[$k]="${WS[$k]:-} $e"
                US[$k]="${US[$k]:-} $(echo "scale=2; $cpu / $e" | bc)" LS[$k]="${LS[$k]:-} $l"
                msg=""
                if [ -s "$OUT/$k.cpu" ]; then
                    # caller_cpu C caller_decode D workers_cpu W ...
                    read -r _ cc _ cd _ wc _ < "$OUT/$k.cpu"
                    own=$(echo "$cc - $cd" | bc)
                    OWN[$k]="${OWN[$k]:-} $own" DEC[$k]="${DEC[$k]:-} $cd" WRK[$k]="${WRK[$k]:-} $wc"
                    msg=", calling thread $cc s (decoding $cd s), workers $wc s"
                fi
                echo "bench-threads: round $((r + 1))/$ROUNDS $b $c --threads $th: cpu $cpu s, wall $e s$msg, load $l" >&2
            done
        done
        for b in $BINS; do
            for th in 1 2; do
                cmp -s "$OUT/new.$c.1.alerts" "$OUT/$b.$c.$th.alerts" ||
                    { echo "bench-threads: $c: $b --threads $th alerts differ from new --threads 1" >&2; exit 1; }
            done
        done
    done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

sec=build/bench/threads_section.md
lbl() { # a configuration's label
    local l
    l=$([ "$2" = founding ] && echo "founding rule" || echo "$ALL_LABEL")
    if [ "$BINS" = new ]; then echo "$l"; else echo "$1: $l"; fi
}
{
    echo "<!-- threads-bench begin -->"
    echo "## Parallel decoding (\`make bench-threads\`)"
    echo
    echo "\`make bench-threads\` ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'),"
    echo "load $load0 at the start, $load1 at the end): \`kadet scan --threads 1\` and \`--threads 2\` of"
    echo "\`$IN\` ($bytes bytes, $events events, \`build/kadet-gen --bytes ${MB}MB --seed 1\`), state on (a new"
    echo "file each run), \`--host-metadata\`; $ROUNDS rounds interleaving 1 and 2 threads, medians; not pinned."
    if [ "$BINS" = new ]; then
        echo "kadet $(git rev-parse --short HEAD 2>/dev/null || echo '?'). Alerts of 1 and 2 threads compared byte for byte (identical)."
    else
        echo "old: \`$OLD\`, new: kadet $(git rev-parse --short HEAD 2>/dev/null || echo '?'), side by side in the same rounds."
        echo "Alerts of 1 and 2 threads, old and new, compared byte for byte (identical)."
    fi
    echo
    echo "| rules | threads | CPU s | wall s | MB/s (wall) | cores obtained (CPU/wall) | load 1-min |"
    echo "| --- | --: | --: | --: | --: | --: | --: |"
    for c in $CONFIGS; do
        for b in $BINS; do
            for th in 1 2; do
                k=$b.$c.$th
                # shellcheck disable=SC2086 # word splitting of the lists is meant
                cpu=$(median ${CS[$k]})
                # shellcheck disable=SC2086
                wall=$(median ${WS[$k]})
                # shellcheck disable=SC2086
                use=$(median ${US[$k]})
                # shellcheck disable=SC2086
                ld=$(median ${LS[$k]})
                eval "C_$b$c$th=$cpu W_$b$c$th=$wall"
                printf '| %s | %s | %.2f | %.2f | %.0f | %.2f | %s |\n' "$(lbl "$b" "$c")" "$th" "$cpu" "$wall" \
                    "$(echo "scale=1; $bytes / 1000000 / $wall" | bc)" "$use" "$ld"
            done
        done
    done
    echo
    echo "| rules | wall speedup (this machine) | CPU(2) / CPU(1) | bound on 2 free cores: 2 x CPU(1) / CPU(2) |"
    echo "| --- | --: | --: | --: |"
    for c in $CONFIGS; do
        for b in $BINS; do
            eval "c1=\$C_$b${c}1 c2=\$C_$b${c}2 w1=\$W_$b${c}1 w2=\$W_$b${c}2"
            printf '| %s | %.2fx | %.2f | %.2fx |\n' "$(lbl "$b" "$c")" "$(echo "scale=3; $w1 / $w2" | bc)" \
                "$(echo "scale=3; $c2 / $c1" | bc)" "$(echo "scale=3; 2 * $c1 / $c2" | bc)"
        done
    done
    echo
    echo "The serial part, from the --threads 2 runs (\`KADET_PIPE_CPU\`, medians): the calling thread's"
    echo "own CPU (its CPU less the batches it decoded itself while it would otherwise have waited),"
    echo "what it decoded, the workers' CPU; serial fraction = own / CPU(2); Amdahl bound on 2 free"
    echo "cores = CPU(1) / max(own, CPU(2) / 2)."
    echo
    echo "| rules | calling thread, own s | calling thread, decoding s | workers s | serial fraction | Amdahl bound |"
    echo "| --- | --: | --: | --: | --: | --: |"
    for c in $CONFIGS; do
        for b in $BINS; do
            k=$b.$c.2
            if [ -z "${OWN[$k]:-}" ]; then
                echo "| $(lbl "$b" "$c") | - | - | - | - | - |"
                continue
            fi
            # shellcheck disable=SC2086
            own=$(median ${OWN[$k]})
            # shellcheck disable=SC2086
            dec=$(median ${DEC[$k]})
            # shellcheck disable=SC2086
            wrk=$(median ${WRK[$k]})
            eval "c1=\$C_$b${c}1 c2=\$C_$b${c}2"
            half=$(echo "scale=4; $c2 / 2" | bc)
            mx=$(echo "if ($own > $half) $own else $half" | bc)
            printf '| %s | %.3f | %.3f | %.3f | %.2f | %.2fx |\n' "$(lbl "$b" "$c")" "$own" "$dec" "$wrk" \
                "$(echo "scale=4; $own / $c2" | bc)" "$(echo "scale=4; $c1 / $mx" | bc)"
        done
    done
    echo
    echo "On a shared machine the wall speedup is not the speedup of a quiet one: the kernel shares"
    echo "the CPU per thread, so a two-thread process gets up to twice the share of a one-thread one"
    echo "(the wall speedup can pass 2; see \"cores obtained\"). The bound is the speedup if both"
    echo "threads stayed busy on two free cores at the measured CPU cost; the calling thread's own work"
    echo "(reading, detection, state, commits) is not split, so a quiet machine gives at most the bound."
    echo "Command: \`BENCH_THREADS_MB=$MB BENCH_THREADS_ROUNDS=$ROUNDS${OLD:+ OLD_BIN=$OLD} make bench-threads\`, or"
    echo "\`bash bench/threads.sh MB\`."
    echo "<!-- threads-bench end -->"
} > "$sec"
cat "$sec"
bash bench/section.sh threads-bench "$sec"
