#!/usr/bin/env bash
# bench/kql_section.sh TABLE - put the KQL micro-benchmark table (from bench_kql --markdown)
# into bench/RESULTS.md as the section "KQL evaluation", replacing an earlier one. The section
# sits between marker comments so bench/report.sh (which regenerates the rest) can keep it.
set -euo pipefail
cd "$(dirname "$0")/.."
table=$1
res=bench/RESULTS.md
cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //' || echo unknown)
{
    echo "<!-- kql-bench begin -->"
    echo "## KQL evaluation"
    echo
    echo "\`make bench-kql\` ($(date -u +%Y-%m-%d), $cpu, gcc -O2, one thread): \`kql_match\`"
    echo "on an event view that is already decoded (bench/bench_kql.c; thread CPU time, best of 5 rounds). Target:"
    echo "at least 5 M evaluations/s per core for the seed rule's query. Load average during the"
    echo "run: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs (CPU time leaves out waiting, not"
    echo "cache contention)."
    echo
    cat "$table"
    echo "<!-- kql-bench end -->"
} > build/bench/kql_section.md
touch "$res"
if grep -q '<!-- kql-bench begin -->' "$res"; then
    awk -v f=build/bench/kql_section.md '
        /<!-- kql-bench begin -->/ { while ((getline l < f) > 0) print l; skip = 1; next }
        /<!-- kql-bench end -->/ { skip = 0; next }
        !skip { print }' "$res" > "$res.tmp" && mv "$res.tmp" "$res"
else
    { [ -s "$res" ] && echo; cat build/bench/kql_section.md; } >> "$res"
fi
