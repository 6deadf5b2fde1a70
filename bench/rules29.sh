#!/usr/bin/env bash
# bench/rules29.sh DIR SHARED - link the kuery rules (query and new_terms; 29 today) of the
# Kubernetes integration, SHARED/detection-rules/kubernetes, into DIR (made anew), so that EQL
# and ES|QL rules are not even offered to the loader. Prints how many; exit 1 when SHARED has
# no such directory (DIR is then absent).
set -euo pipefail
dir=$1 shared=$2
rm -rf "$dir"
[ -d "$shared/detection-rules/kubernetes" ] || exit 1
mkdir -p "$dir"
for f in "$shared"/detection-rules/kubernetes/*.toml; do
    if grep -Eq '^language = "kuery"' "$f" && grep -Eq '^type = "(query|new_terms)"' "$f"; then
        ln -s "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" "$dir/"
    fi
done
ls "$dir" | wc -l
