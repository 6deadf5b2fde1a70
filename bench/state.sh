#!/usr/bin/env bash
# bench/state.sh - `make bench-state`: the state store's issue-19 figures, the current tree's
# build/kadet-statebench side by side with the same tool built from an older commit
# (BENCH_STATE_BASE, default 4ca19ce: main before the inline hash and probe and the 64 MiB WAL
# checkpoints; 88323bc was main before schema 4, the insertion-ordered terms tables, 552046e
# before the batched lookups), runs interleaved in the
# same minutes. Figures are CPU time (the tool reads CLOCK_PROCESS_CPUTIME_ID); instruction
# counts come from callgrind (deterministic) on a smaller store. Writes the section "State store
# (`make bench-state`)" of bench/RESULTS.md between marker comments. Asserts nothing.
#
#   BENCH_STATE_TERMS=N       combinations (default 1000000)
#   BENCH_STATE_RUNS=R        interleaved pairs of `mem` runs (default 3; median of per-run minima)
#   BENCH_STATE_BENCH_RUNS=R  interleaved pairs of `bench` runs (insert, commit, preload; default 1:
#                             the old tool takes minutes to insert 1 M)
#   BENCH_STATE_CALLGRIND=0   skip the instruction counts
set -euo pipefail
cd "$(dirname "$0")/.."
TERMS=${BENCH_STATE_TERMS:-1000000}
RUNS=${BENCH_STATE_RUNS:-3}
BRUNS=${BENCH_STATE_BENCH_RUNS:-1}
BASE=${BENCH_STATE_BASE:-4ca19ce}
NEW=build/kadet-statebench
OUT=bench/out/state
mkdir -p "$OUT" build/bench
OLDDIR=build/bench/state-old-$BASE
OLD=$OLDDIR/build/kadet-statebench
if [ ! -x "$OLD" ]; then
    echo "bench-state: building kadet-statebench of $BASE in $OLDDIR"
    rm -rf "$OLDDIR"
    mkdir -p "$OLDDIR"
    git archive "$BASE" | tar -x -C "$OLDDIR"
    make -C "$OLDDIR" -j2 build/kadet-statebench > "$OUT/old-build.log" 2>&1 ||
        { echo "bench-state: cannot build $BASE (see $OUT/old-build.log)"; exit 1; }
fi
load() { cut -d' ' -f1-3 /proc/loadavg; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
LOAD0=$(load)

# lookups in an ST_OPEN_MEM store of TERMS: per-run minimum of 5 rounds, one by one and batched
: > "$OUT/mem.old"
: > "$OUT/mem.new"
for r in $(seq "$RUNS"); do
    "$OLD" mem --terms "$TERMS" >> "$OUT/mem.old"
    "$NEW" mem --terms "$TERMS" >> "$OUT/mem.new"
done
mins() { grep "$1" "$2" | sed 's/.*min //' | median; }
L_OLD=$(mins 'lookups per round' "$OUT/mem.old")
L_NEW=$(mins 'lookups per round' "$OUT/mem.new")
L_BAT=$(mins 'st_lookup_batch' "$OUT/mem.new")
L_OBAT=$(mins 'st_lookup_batch' "$OUT/mem.old") # "" for a tool without batches
[ -n "$L_OBAT" ] || L_OBAT=$L_OLD

# insert, commit, preload, lookups and observes on a state file
: > "$OUT/bench.old"
: > "$OUT/bench.new"
for r in $(seq "$BRUNS"); do
    "$OLD" bench --terms "$TERMS" --dir "$OUT" --json >> "$OUT/bench.old"
    "$NEW" bench --terms "$TERMS" --dir "$OUT" --json >> "$OUT/bench.new"
done
LOAD1=$(load)
f() { jq -r ".$1 // \"-\"" "$2" | median; }

# instructions per lookup (callgrind: the cost inside the timed function / its calls)
IR_OLD=- IR_NEW=- IR_BAT=-
if [ "${BENCH_STATE_CALLGRIND:-1}" != 0 ] && command -v valgrind > /dev/null; then
    ir() { # binary, function, output -> instructions per call of the function
        valgrind --tool=callgrind --callgrind-out-file="$3" --toggle-collect="$2" \
            "$1" mem --terms 100000 $4 > /dev/null 2>&1
        # with --toggle-collect the program's total is the cost inside that function
        callgrind_annotate "$3" 2> /dev/null |
            awk '/PROGRAM TOTALS/ && !d { gsub(",", "", $1); print $1; d = 1 }'
    }
    # calls per run: 5 rounds of the lookups (--lookups 200000; 2 M for a tool without it)
    OLD_CALLS=1000000 OLD_ARGS="--lookups 200000"
    "$OLD" 2>&1 | grep -q -- --lookups || { OLD_CALLS=10000000; OLD_ARGS=""; }
    a=$(ir "$OLD" st_lookup "$OUT/cg.old" "$OLD_ARGS")
    b=$(ir "$NEW" st_lookup "$OUT/cg.new" "--lookups 200000")
    c=$(ir "$NEW" st_lookup_batch "$OUT/cg.bat" "--lookups 200000")
    [ -n "$a" ] && IR_OLD=$(echo "scale=1; $a / $OLD_CALLS" | bc)
    [ -n "$b" ] && IR_NEW=$(echo "scale=1; $b / 1000000" | bc)
    [ -n "$c" ] && IR_BAT=$(echo "scale=1; $c / 1000000" | bc)
fi

verdict() { # value, target -> met / missed (the targets are for 1 M combinations)
    [ "$2" = - ] && return
    [ "$TERMS" = 1000000 ] || { echo "(target is for 1 M)"; return; }
    awk -v v="$1" -v t="$2" 'BEGIN { print (v + 0 <= t + 0) ? "met" : "missed" }'
}
row() { # what, old, new, target
    echo "| $1 | $2 | $3 | $4 | $(verdict "$3" "$4") |"
}
sec=build/bench/state_section.md
{
    echo "<!-- state-bench begin -->"
    echo "## State store (\`make bench-state\`)"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'),"
    echo "load average $LOAD0 at the start, $LOAD1 at the end. Old = \`kadet-statebench\` built from"
    echo "$BASE, new = this tree's; runs interleaved (old, new, old, new...). CPU time. $TERMS"
    echo "combinations of the founding rule's shape (decision, user, user agent; 94 key bytes)."
    echo "Lookups: \`mem\` (an ST_OPEN_MEM store, 5 rounds of 2 M random known combinations per run,"
    echo "median of $RUNS per-run minima). The rest: \`bench --json\` on a state file (median of $BRUNS)."
    echo "Old batched figures: the old tool's batches (its one-by-one figure when it has none)."
    echo
    echo "| figure | old | new | target | |"
    echo "| --- | --: | --: | --: | --- |"
    row "lookup of a known combination, one by one (ns)" "$L_OLD" "$L_NEW" 150
    row "lookup of a known combination, st_lookup_batch (ns)" "$L_OBAT" "$L_BAT" 150
    row "observe of a known combination, one by one, file store (ns)" "$(f observe_known_cpu_ns "$OUT/bench.old")" "$(f observe_known_cpu_ns "$OUT/bench.new")" 250
    row "observe of a known combination, st_observe_batch, file store (ns)" "$(jq -r '.observe_known_batch_cpu_ns // .observe_known_cpu_ns' "$OUT/bench.old" | median)" "$(f observe_known_batch_cpu_ns "$OUT/bench.new")" 250
    row "insert of $TERMS new, commits included (s CPU)" "$(f insert_cpu_s "$OUT/bench.old")" "$(f insert_cpu_s "$OUT/bench.new")" 10
    row "insert of $TERMS new, commits included (s wall)" "$(f insert_s "$OUT/bench.old")" "$(f insert_s "$OUT/bench.new")" 10
    row "insert: system CPU (s), waits (voluntary switches), preemptions, MB written" "$(f insert_sys_s "$OUT/bench.old") / $(f insert_vcsw "$OUT/bench.old") / $(f insert_ivcsw "$OUT/bench.old") / $(f insert_written_mb "$OUT/bench.old")" "$(f insert_sys_s "$OUT/bench.new") / $(f insert_vcsw "$OUT/bench.new") / $(f insert_ivcsw "$OUT/bench.new") / $(f insert_written_mb "$OUT/bench.new")" -
    row "commit after touching 1 M (s wall)" "$(f commit_1M_dirty_s "$OUT/bench.old")" "$(f commit_1M_dirty_s "$OUT/bench.new")" 3
    row "commit after touching 1 M (s CPU)" "$(f commit_cpu_s "$OUT/bench.old")" "$(f commit_cpu_s "$OUT/bench.new")" 3
    row "commit: system CPU (s), waits, preemptions, MB written" "$(f commit_sys_s "$OUT/bench.old") / $(f commit_vcsw "$OUT/bench.old") / $(f commit_ivcsw "$OUT/bench.old") / $(f commit_written_mb "$OUT/bench.old")" "$(f commit_sys_s "$OUT/bench.new") / $(f commit_vcsw "$OUT/bench.new") / $(f commit_ivcsw "$OUT/bench.new") / $(f commit_written_mb "$OUT/bench.new")" -
    row "preload of $TERMS (s CPU)" "$(f preload_cpu_s "$OUT/bench.old")" "$(f preload_cpu_s "$OUT/bench.new")" 1
    row "state file (bytes per combination)" "$(jq -r '.file_bytes / .terms' "$OUT/bench.old" | median)" "$(jq -r '.file_bytes / .terms' "$OUT/bench.new" | median)" -
    row "index overhead per combination (bytes)" "$(f overhead_bytes "$OUT/bench.old")" "$(f overhead_bytes "$OUT/bench.new")" 64
    echo
    echo "Instructions per lookup (callgrind, inside the timed function, 100,000 combinations): old st_lookup $IR_OLD,"
    echo "new st_lookup $IR_NEW, new st_lookup_batch $IR_BAT. The batch saves latency, not"
    echo "instructions: it starts the slot and record loads of 32 probes before answering them;"
    echo "fewer instructions per lookup save latency too, as the CPU then overlaps the misses of"
    echo "consecutive calls. Waits are voluntary context switches (blocking I/O, fsync),"
    echo "preemptions involuntary ones (other processes): where wall time goes beyond CPU time."
    echo
    echo "Command: \`make bench-state\` (\`BENCH_STATE_TERMS\`, \`BENCH_STATE_RUNS\`,"
    echo "\`BENCH_STATE_BENCH_RUNS\`, \`BENCH_STATE_BASE\`, \`BENCH_STATE_CALLGRIND\`); raw output in $OUT/."
    echo "<!-- state-bench end -->"
} > "$sec"
cat "$sec"
bash bench/section.sh state-bench "$sec"
echo "wrote the state store section of bench/RESULTS.md"
