#!/usr/bin/env bash
# bench/profile.sh - `make bench-profile`: where `kadet scan` with the founding rule spends its
# time. Uses `perf record` (software cpu-clock event, call graphs) when perf works here, else
# valgrind's callgrind on a smaller input. Writes bench/out/profile.txt (flat top symbols and
# the callers of the top ones); the raw data stays in bench/out/.
#
# What it does not do: judge the profile. The analysis goes into bench/NOTES.md by hand.
#
# Environment: PROFILE_INPUT=FILE (default: the generated 250 MB file, or the quick 50 MB one),
# Arguments: kadet's arguments before the input file (default: scan --rules FOUNDING-RULE-FILE
#            --state bench/out/profile.db), e.g. bench/profile.sh hunt -c 'user_agent.original:curl*' 
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out
mkdir -p "$OUT"
IN=${PROFILE_INPUT:-}
if [ -z "$IN" ]; then
    for f in bench/data/audit-250MB.jsonl bench/data/audit-50MB.jsonl bench/data/audit-200MB.jsonl; do
        [ -s "$f" ] && IN=$f && break
    done
fi
[ -n "$IN" ] && [ -s "$IN" ] || {
    echo "profile: no input: run make bench-quick first or set PROFILE_INPUT" >&2
    exit 1
}
FOUNDING=$(grep -l '^rule_id = "8a1db198-da6f-4500-b985-7fe2457300af"' rules/*.toml 2> /dev/null | head -1 || true)
if [ $# -gt 0 ]; then ARGS=("$@"); else ARGS=(scan --host-metadata --rules "${FOUNDING:-rules}" --state $OUT/profile.db); fi
SUB=${ARGS[0]}
if ! ./kadet --help 2>&1 | grep -Eq "^[[:space:]]+$SUB([[:space:]]|\$)"; then
    echo "profile: kadet $SUB is not available yet" >&2
    exit 1
fi
rm -f $OUT/profile.db $OUT/profile.db-wal $OUT/profile.db-shm
P=$OUT/profile.txt
PIN=()
taskset -c 0 true 2> /dev/null && PIN=(taskset -c 0)

if perf record -o /dev/null -e cpu-clock true > /dev/null 2>&1; then
    echo "profile: perf record on $IN" >&2
    "${PIN[@]}" perf record -q -e cpu-clock -F 2999 --call-graph dwarf,16384 -o $OUT/perf.data \
        ./kadet "${ARGS[@]}" "$IN" > /dev/null 2> $OUT/profile.scan.err
    {
        echo "# perf record -e cpu-clock -F 2999 --call-graph dwarf: kadet ${ARGS[*]} $IN"
        echo "# flat profile (self time), top 40"
        perf report -i $OUT/perf.data --stdio --no-children --sort symbol -g none 2> /dev/null |
            grep -v '^#' | grep -v '^$' | head -40 || true
        echo
        echo "# by shared object"
        perf report -i $OUT/perf.data --stdio --no-children --sort dso -g none 2> /dev/null |
            grep -v '^#' | grep -v '^$' | head -10 || true
        echo
        echo "# inclusive time (children), top 45"
        perf report -i $OUT/perf.data --stdio --children --sort symbol -g none 2> /dev/null |
            grep -v '^#' | grep -v '^$' | head -45 || true
        echo
        echo "# call chains of the top self-time symbols"
        perf report -i $OUT/perf.data --stdio --no-children --sort symbol -G --percent-limit 4 \
            2> /dev/null | grep -v '^#' | grep -v '^$' | head -200 || true
    } > "$P"
else
    small=$OUT/profile-input.jsonl
    head -c 20000000 "$IN" | sed '$d' > "$small"
    echo "profile: perf unusable here; callgrind on $small" >&2
    valgrind --tool=callgrind --callgrind-out-file=$OUT/callgrind.out \
        ./kadet "${ARGS[@]}" "$small" > /dev/null 2> $OUT/profile.scan.err
    {
        echo "# valgrind --tool=callgrind: kadet ${ARGS[*]} $small (instructions)"
        callgrind_annotate --inclusive=no $OUT/callgrind.out 2> /dev/null | head -60 || true
        echo
        callgrind_annotate --inclusive=yes $OUT/callgrind.out 2> /dev/null | head -60 || true
    } > "$P"
fi
echo "profile: wrote $P" >&2
head -50 "$P"
