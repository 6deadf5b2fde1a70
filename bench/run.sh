#!/usr/bin/env bash
# bench/run.sh - the harness behind `make bench` and `make bench-quick`.
#
# It generates raw audit logs with the project's own generator (tools/kadet-gen.c), then runs
# the tools side by side on the same file and the same core, round-robin (one run of each tool
# per round, so drift on this shared machine hits all of them alike), several rounds, and writes:
#   bench/out/runs.tsv      every run: tool, input MB, round, wall s, user s, sys s, peak RSS KB
#   bench/out/*.txt         outputs and cross-checks
#   bench/RESULTS.md        medians, ratios, targets met or missed, machine, load, commands
#   bench/results.svg       throughput per tool (gnuplot)
#
# Tools: cat (memory bound), the simdjson reference extractor (bench/ref/), jq running the seed
# rule's query (bench/seed.jq), `kadet scan` with the founding rule (state on, new file), with
# all 29 kuery Kubernetes rules of ../shared/data, and `kadet hunt` with the seed query. A kadet
# command that does not exist yet is reported as "not available"; absent shared data is skipped
# with a message.
#
# What it does not do: build anything (mk/bench.mk does), assert timings (targets are reported,
# never enforced), or run under `make check`.
#
# Usage: bench/run.sh full|quick
# Environment: BENCH_INPUT=FILE   use FILE instead of generated data (development; no growth)
#              BENCH_REPS=N       rounds per tool (default 5 full, 3 quick)
#              BENCH_CORE=N       core to pin to (default 0; "none" disables pinning)
#              KAD_SHARED_DATA    shared data root (default ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

MODE=${1:-quick}
case $MODE in
full)
    MAIN_MB=1000 GROWTH_MB="250 1000 4000" REPS=${BENCH_REPS:-5} JQ_REPS=3 GROWTH_REPS=3
    COMBOS=1000000
    ;;
quick)
    MAIN_MB=50 GROWTH_MB="12 50 200" REPS=${BENCH_REPS:-3} JQ_REPS=2 GROWTH_REPS=2
    COMBOS=100000
    ;;
*)
    echo "usage: bench/run.sh full|quick" >&2
    exit 1
    ;;
esac
[ "$JQ_REPS" -gt "$REPS" ] && JQ_REPS=$REPS

DATA=bench/data
OUT=bench/out
BIN=build/bench
KADET=$ROOT/kadet
GEN=build/kadet-gen
REF=$BIN/ref_simdjson
BSTATE=build/kadet-statebench
SHARED=${KAD_SHARED_DATA:-../shared/data}
SEED_RULE=$(ls "$SHARED"/detection-rules/seed-history/2025-07-22_*.toml 2>/dev/null | head -1 || true)
SEED_QUERY='host.os.type:"linux" and event.dataset:"kubernetes.audit_logs" and kubernetes.audit.stage:"ResponseComplete" and user_agent.original:*'
# The founding rule: the shipped rule file with the seed rule's id (rules/ holds other rules too)
FOUNDING_RULES=$(grep -l '^rule_id = "8a1db198-da6f-4500-b985-7fe2457300af"' rules/*.toml 2> /dev/null | head -1 || true)
mkdir -p "$DATA" "$OUT"
RUNS=$OUT/runs.tsv
: > "$RUNS"
: > "$OUT/notes.txt"

say() { printf 'bench: %s\n' "$*" >&2; }
note() {
    say "$*"
    printf '%s\n' "$*" >> "$OUT/notes.txt"
}

# ---- pinning ------------------------------------------------------------------------------------
CORE=${BENCH_CORE:-0}
PIN=()
if [ "$CORE" != none ] && command -v taskset > /dev/null && taskset -c "$CORE" true 2> /dev/null; then
    PIN=(taskset -c "$CORE")
else
    note "not pinned to a core (taskset unavailable or BENCH_CORE=none)"
fi

# ---- input --------------------------------------------------------------------------------------
have_gen() { [ -x "$GEN" ]; }

# gen_file MB -> prints the path of a cached generated file of about MB * 10^6 bytes
gen_file() {
    local mb=$1 f="$DATA/audit-${1}MB.jsonl"
    local stamp
    stamp=$(sha1sum < "$GEN" | cut -c1-12)
    if [ -s "$f" ] && [ "$(cat "$f.gen" 2> /dev/null)" = "$stamp" ]; then
        echo "$f"
        return
    fi
    say "generating $f ($mb MB) ..."
    rm -f "$f" "$f.gen" "$f.events"
    "$GEN" --bytes "$((mb * 1000000))" --seed 1 > "$f.tmp"
    mv "$f.tmp" "$f"
    echo "$stamp" > "$f.gen"
    echo "$f"
}

events_of() {
    local f=$1
    if [ ! -s "$f.events" ] || [ "$f.events" -ot "$f" ]; then
        wc -l < "$f" | tr -d ' ' > "$f.events"
    fi
    cat "$f.events"
}

if [ -n "${BENCH_INPUT:-}" ]; then
    MAIN=$BENCH_INPUT
    GROWTH_MB=""
    GEN_CMD="(given file: $BENCH_INPUT)"
    note "input given by BENCH_INPUT=$BENCH_INPUT: no generation, no growth series"
elif have_gen; then
    MAIN=$(gen_file "$MAIN_MB")
    GEN_CMD="$GEN --bytes $((MAIN_MB * 1000000)) --seed 1"
else
    say "the generator ($GEN from tools/kadet-gen.c) is not built: nothing to measure."
    say "for development, run with BENCH_INPUT=some.jsonl"
    exit 1
fi
[ -s "$MAIN" ] || {
    say "input $MAIN is empty or missing"
    exit 1
}

# ---- which tools exist --------------------------------------------------------------------------
kadet_has() { [ -x "$KADET" ] && "$KADET" --help 2>&1 | grep -Eq "^[[:space:]]+$1([[:space:]]|\$)"; }

HAVE_SCAN=0 HAVE_HUNT=0 HAVE_FOUNDING=0 HAVE_RULES29=0
kadet_has scan && HAVE_SCAN=1
kadet_has hunt && HAVE_HUNT=1
[ $HAVE_SCAN = 1 ] || note "kadet scan: not available (the engine has not landed)"
[ $HAVE_HUNT = 1 ] || note "kadet hunt: not available (KQL/hunt has not landed)"
if [ -n "$FOUNDING_RULES" ]; then
    HAVE_FOUNDING=1
else
    note "founding rule: not available (no rules/*.toml with rule_id 8a1db198-...)"
fi

# The 29 kuery rules (query and new_terms) of the Kubernetes integration, linked into one
# directory so that eql/esql rules are not even offered to the loader.
R29=$OUT/rules29
if N29=$(bash bench/rules29.sh "$R29" "$SHARED"); then
    [ "$N29" = 29 ] || note "expected 29 kuery rules, found $N29"
    HAVE_RULES29=1
else
    note "29 rules: skipped ($SHARED/detection-rules/kubernetes absent)"
fi

# ---- tools ---------------------------------------------------------------------------------------
# Each tool: CMD (run by bash -c under /usr/bin/time and the pin), PRE (untimed setup),
# OKRC (accepted exit codes). {IN} is replaced by the input file.
declare -A CMD PRE OKRC
TOOLS=()
add_tool() {
    TOOLS+=("$1")
    CMD[$1]=$2
    PRE[$1]=${3:-true}
    OKRC[$1]=${4:-0}
}
add_tool cat 'cat {IN} > /dev/null'
add_tool reference "$REF {IN} > $OUT/reference.txt"
add_tool jq "jq -c -f bench/seed.jq {IN} > $OUT/jq.txt"
if [ $HAVE_SCAN = 1 ] && [ $HAVE_FOUNDING = 1 ]; then
    add_tool scan-founding \
        "$KADET scan --host-metadata --rules $FOUNDING_RULES --state $OUT/state-founding.db {IN} > $OUT/scan-founding.alerts 2> $OUT/scan-founding.err" \
        "rm -f $OUT/state-founding.db $OUT/state-founding.db-wal $OUT/state-founding.db-shm"
fi
if [ $HAVE_SCAN = 1 ] && [ $HAVE_RULES29 = 1 ]; then
    add_tool scan-29rules \
        "$KADET scan --host-metadata --rules $R29 --state $OUT/state-29.db {IN} > $OUT/scan-29.alerts 2> $OUT/scan-29.err" \
        "rm -f $OUT/state-29.db $OUT/state-29.db-wal $OUT/state-29.db-shm"
fi
if [ $HAVE_HUNT = 1 ]; then
    add_tool hunt-seed "$KADET hunt '$SEED_QUERY' {IN} > $OUT/hunt.txt 2> $OUT/hunt.err" true "0 1"
fi

# measure TOOL MB ROUND FILE: one timed run, appended to runs.tsv
measure() {
    local tool=$1 mb=$2 round=$3 in=$4
    local cmd=${CMD[$tool]//\{IN\}/$in} tf=$OUT/time.tmp rc t0 t1
    bash -c "${PRE[$tool]}"
    t0=$(date +%s%N)
    set +e
    /usr/bin/time -f '%e %U %S %M' -o "$tf" "${PIN[@]}" bash -c "$cmd"
    rc=$?
    set -e
    t1=$(date +%s%N)
    local wall user sys rss
    read -r _ user sys rss < <(tail -1 "$tf")
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')
    local ok=0 c
    for c in ${OKRC[$tool]}; do [ "$rc" = "$c" ] && ok=1; done
    if [ $ok = 0 ]; then
        note "$tool on $(basename "$in"): exit status $rc (run $round); output in $OUT/"
        return 1
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$mb" "$round" "$wall" "$user" "$sys" "$rss" >> "$RUNS"
    say "$(printf '%-14s %6s MB  round %s  %8.3f s  %8s KB' "$tool" "$mb" "$round" "$wall" "$rss")"
}

FAILED=""
run_round_robin() { # MB FILE ROUNDS TOOL...
    local mb=$1 in=$2 rounds=$3
    shift 3
    local r t
    for ((r = 1; r <= rounds; r++)); do
        for t in "$@"; do
            case " $FAILED " in *" $t@$mb "*) continue ;; esac
            [ "$t" = jq ] && [ "$r" -gt "$JQ_REPS" ] && continue
            measure "$t" "$mb" "$r" "$in" || FAILED="$FAILED $t@$mb"
        done
    done
}

MAIN_BYTES=$(stat -c %s "$MAIN")
MAIN_MB_REAL=$(awk -v b="$MAIN_BYTES" 'BEGIN { printf "%.0f", b / 1e6 }')
MAIN_EVENTS=$(events_of "$MAIN")
LOAD_BEFORE=$(uptime)
START=$(date -u '+%Y-%m-%d %H:%M UTC')
say "input: $MAIN ($MAIN_BYTES bytes, $MAIN_EVENTS events); tools: ${TOOLS[*]}"

cat "$MAIN" > /dev/null # warm the page cache: every tool reads from memory
run_round_robin "$MAIN_MB_REAL" "$MAIN" "$REPS" "${TOOLS[@]}"

# ---- cross-checks (untimed) ---------------------------------------------------------------------
{
    echo "reference: $(cat $OUT/reference.txt 2> /dev/null)"
    if [ -s $OUT/jq.txt ]; then
        echo "jq: matched=$(wc -l < $OUT/jq.txt) distinct complete tuples=$(grep -v null $OUT/jq.txt | sort -u | wc -l)"
    fi
    [ -f $OUT/scan-founding.alerts ] && echo "scan founding rule: alerts=$(wc -l < $OUT/scan-founding.alerts)"
    [ -f $OUT/scan-29.alerts ] && echo "scan 29 rules: alerts=$(wc -l < $OUT/scan-29.alerts)"
    [ -f $OUT/hunt.txt ] && echo "hunt seed query: matched=$(wc -l < $OUT/hunt.txt)"
} > "$OUT/crosscheck.txt"

# ---- growth -------------------------------------------------------------------------------------
GROWTH_TOOLS=(reference)
[ $HAVE_SCAN = 1 ] && [ $HAVE_FOUNDING = 1 ] && GROWTH_TOOLS+=(scan-founding)
for mb in $GROWTH_MB; do
    f=$(gen_file "$mb")
    events_of "$f" > /dev/null
    gmb=$(awk -v b="$(stat -c %s "$f")" 'BEGIN { printf "%.0f", b / 1e6 }')
    [ "$gmb" = "$MAIN_MB_REAL" ] && continue # measured above
    cat "$f" > /dev/null
    run_round_robin "$gmb" "$f" "$GROWTH_REPS" "${GROWTH_TOOLS[@]}"
done
[ -f $OUT/scan-founding.alerts ] && echo "scan founding rule (last growth run): alerts=$(wc -l < $OUT/scan-founding.alerts)" >> "$OUT/crosscheck.txt"

# ---- state scale --------------------------------------------------------------------------------
# tools/kadet-statebench.c (the state module's own measuring tool, built by mk/gen.mk) inserts
# COMBOS realistic combinations through src/state/state.h, closes, reopens, and times lookups.
rm -f "$OUT/state.json"
if [ -x "$BSTATE" ]; then
    say "state scale: $COMBOS combinations ..."
    rm -f "$OUT"/statebench-*.db*
    if ! "${PIN[@]}" "$BSTATE" bench --terms "$COMBOS" --dir "$OUT" --json > "$OUT/state.json.tmp"; then
        note "kadet-statebench failed (see $OUT/state.json.tmp)"
    else
        mv "$OUT/state.json.tmp" "$OUT/state.json"
    fi
else
    note "state scale: not available ($BSTATE from tools/kadet-statebench.c not built)"
fi

# ---- profile ------------------------------------------------------------------------------------
rm -f "$OUT/profile.txt"
if [ $HAVE_SCAN = 1 ] && [ $HAVE_FOUNDING = 1 ]; then
    pin=$MAIN
    [ -s "$DATA/audit-250MB.jsonl" ] && [ "$MODE" = full ] && pin=$DATA/audit-250MB.jsonl
    PROFILE_INPUT=$pin bash bench/profile.sh > /dev/null || note "profile failed"
fi

LOAD_AFTER=$(uptime)
END=$(date -u '+%Y-%m-%d %H:%M UTC')

# ---- report -------------------------------------------------------------------------------------
PIN_DESC="${PIN[*]:-none}"
for v in MODE MAIN MAIN_BYTES MAIN_EVENTS MAIN_MB_REAL GEN_CMD LOAD_BEFORE LOAD_AFTER START END \
    SEED_QUERY SEED_RULE FOUNDING_RULES R29 REF KADET PIN_DESC COMBOS; do
    printf '%s=%q\n' "$v" "${!v}"
done > "$OUT/context.sh"
bash bench/report.sh
say "wrote bench/RESULTS.md and bench/results.svg"
