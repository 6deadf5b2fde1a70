#!/usr/bin/env bash
# check-src.sh - source rules that the compiler does not check (curl's checksrc spirit):
#  1. module include direction: base -> event -> kql -> eql -> esql -> rule -> state -> detect ->
#     output -> api (a module includes only headers of modules to its left, and only their one
#     public header);
#  2. no raw malloc/calloc/realloc/free/strdup in src/ outside src/base/alloc.c;
#  3. cli/, serve/ and examples/ include only include/kad.h among the project's headers (besides
#     their own directory's headers and the generated build/gen/ tables; cli/cmd_serve.c also
#     includes serve/serve.h, serve's entry point, and scan's --listen serve/listen.h): libkad's
#     public API is all a client gets
#     (the Makefile also compiles them without -Isrc).
set -u
cd "$(dirname "$0")/.."
fail=0
order=(base event kql eql esql rule state detect output api)
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

for f in cli/*.c cli/*.h examples/*.c examples/*.h serve/*.c serve/*.h; do
  [ -e "$f" ] || continue
  while IFS= read -r inc; do
    [ "$inc" = kad.h ] && continue
    [ -e "$(dirname "$f")/$inc" ] && continue        # the directory's own headers
    [ "$f" = cli/cmd_serve.c ] && [ "$inc" = serve.h ] && continue  # serve's one entry point
    case "$f" in cli/cmd_scan.c|cli/scan.h|cli/scan_args.c|cli/scan_setup.c|cli/scan_report.[ch]) [ "$inc" = listen.h ] && continue;; esac  # scan --listen runs on serve's HTTP layer (serve/listen.h)
    case "$inc" in cmd_list.h|git_commit.h) continue;; esac  # build/gen/ (Makefile, mk/package.mk)
    echo "check-src: $f includes \"$inc\": cli/, serve/ and examples/ include only kad.h (add what is missing to the public API)"; fail=1
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done
# The repository stands on its own: comments and docs cite docs/internals/ (semantics.md for
# what comes from outside specs), never files outside the repository. Test data under
# $KAD_SHARED_DATA (default ../shared/data) is read by tests and benchmarks, which is allowed.
if git grep -nE '(\.\./shared/spec|/work/|(time-and-state|new-terms|k8s-audit-formats)\.md)' -- \
     src cli serve include examples docs tests tools bench scripts mk Makefile README.md \
     ':!fuzz/corpus' ':!scripts/check-src.sh' 2> /dev/null; then
  echo "check-src: a comment or doc points outside the repository (cite docs/internals/semantics.md)"; fail=1
fi
[ $fail = 0 ] && echo "check-src: ok"
exit $fail
