#!/usr/bin/env bash
# bench/put_section.sh NAME SECTION RESULTS - put the file SECTION (which begins with
# "<!-- NAME begin -->" and ends with "<!-- NAME end -->") into RESULTS in place of the
# section between the same markers, or at the end when RESULTS has none.
set -euo pipefail
name=$1 sec=$2 res=$3
touch "$res"
if grep -q "<!-- $name begin -->" "$res"; then
    awk -v f="$sec" -v b="<!-- $name begin -->" -v e="<!-- $name end -->" '
        $0 == b { while ((getline l < f) > 0) print l; skip = 1; next }
        $0 == e { skip = 0; next }
        !skip' "$res" > "$res.tmp" && mv "$res.tmp" "$res"
else
    { [ -s "$res" ] && echo; cat "$sec"; } >> "$res"
fi
