#!/usr/bin/env bash
# bench/section.sh NAME FILE - put FILE (which starts with "<!-- NAME begin -->" and ends with
# "<!-- NAME end -->") into bench/RESULTS.md in place of the section between the same markers,
# or append it. For the benchmark scripts that write their own section.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1 file=$2 res=bench/RESULTS.md
touch "$res"
if grep -q "<!-- $name begin -->" "$res"; then
    awk -v f="$file" -v b="<!-- $name begin -->" -v e="<!-- $name end -->" '
        $0 == b { while ((getline l < f) > 0) print l; skip = 1; next }
        $0 == e { skip = 0; next }
        !skip { print }' "$res" >"$res.tmp" && mv "$res.tmp" "$res"
else
    { echo; cat "$file"; } >>"$res"
fi
