#!/usr/bin/env bash
# check-src.sh - source rules that the compiler does not check (curl's checksrc spirit):
#  1. module include direction: base -> event -> kql -> eql -> esql -> rule -> state -> detect ->
#     output (a module includes only headers of modules to its left, and only their one public
#     header);
#  2. no raw malloc/calloc/realloc/free/strdup in src/ outside src/base/alloc.c;
#  3. cli/ includes no private src/ header except base/ and the documented exceptions listed
#     in docs/internals/cli-includes.txt.
set -u
cd "$(dirname "$0")/.."
fail=0
order=(base event kql eql esql rule state detect output)
rank() { local i; for i in "${!order[@]}"; do [ "${order[$i]}" = "$1" ] && echo "$i" && return; done; echo 99; }

for f in $(find src -name '*.c' -o -name '*.h' | sort); do
  mod=$(echo "$f" | cut -d/ -f2)
  case "$mod" in *.c|*.h) mod=top;; esac
  my=$(rank "$mod"); [ "$mod" = top ] && my=98
  while IFS= read -r inc; do
    dep=$(echo "$inc" | cut -d/ -f1)
    [ "$dep" = "$mod" ] && continue
    r=$(rank "$dep")
    [ "$r" = 99 ] && continue
    if [ "$r" -ge "$my" ]; then
      echo "check-src: $f includes $inc: modules depend one way (${order[*]})"; fail=1
    fi
    hdr=$(basename "$inc")
    if [ "$dep" != base ] && [ "$hdr" != "$dep.h" ]; then
      echo "check-src: $f includes $inc: include only the module's own header $dep/$dep.h"; fail=1
    fi
  done < <(sed -n 's/^#include "\([a-z_]*\/[a-z_0-9]*\.h\)".*/\1/p' "$f")
done

if grep -nE '(^|[^_a-z])(malloc|calloc|realloc|free|strdup|strndup)\(' $(find src -name '*.c' ! -path src/base/alloc.c) \
     | grep -v 'kx_' | grep -vE '^\S+:[0-9]+:\s*(/?\*|//)'; then
  echo "check-src: raw allocation in src/ (use kx_malloc & co. from base/alloc.h)"; fail=1
fi

allowed=docs/internals/cli-includes.txt
for f in cli/*.c cli/*.h; do
  [ -e "$f" ] || continue
  while IFS= read -r inc; do
    case "$inc" in base/*) continue;; esac
    if ! grep -qxF "$(basename "$f") $inc" "$allowed" 2>/dev/null; then
      echo "check-src: $f includes private header $inc (add a KAD_API to include/kad.h, or list the exception in $allowed)"; fail=1
    fi
  done < <(sed -n 's/^#include "\([a-z_]*\/[a-z_0-9]*\.h\)".*/\1/p' "$f")
done
[ $fail = 0 ] && echo "check-src: ok"
exit $fail
