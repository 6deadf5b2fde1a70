#!/usr/bin/env bash
# libkad.so exports only the public API (kad_*), kadet.pc describes it, and `make install`
# (DESTDIR, PREFIX) puts kadet, kad.h, libkad.a, libkad.so and kadet.pc in place;
# a program built against the installed tree with pkg-config runs; `make uninstall` removes it.
set -u
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
[ -f libkad.so ] && [ -f kadet.pc ] || { echo "skip: libkad.so or kadet.pc not built (make)"; exit 77; }
syms=$(nm -D --defined-only libkad.so | awk '$2 ~ /^[TDBRVW]$/ {print $3}')
[ -n "$syms" ] || fail "nm -D shows no symbol"
bad=$(echo "$syms" | grep -v '^kad_' | head -n 5)
[ -z "$bad" ] || fail "libkad.so exports non-kad_ symbols: $bad"
echo "$syms" | grep -qx kad_engine_new || fail "kad_engine_new not exported"
make -s install DESTDIR="$T/root" PREFIX=/opt/kadet >/dev/null || fail "make install"
P=$T/root/opt/kadet
for f in bin/kadet include/kad.h lib/libkad.a lib/libkad.so lib/libkad.so.0 \
         lib/pkgconfig/kadet.pc; do
  [ -e "$P/$f" ] || fail "make install: $f missing"
done
grep -q '^prefix=/opt/kadet$' "$P/lib/pkgconfig/kadet.pc" || fail "kadet.pc prefix"
if command -v pkg-config >/dev/null; then
  sed -i "s|^prefix=.*|prefix=$P|" "$P/lib/pkgconfig/kadet.pc"
  flags=$(PKG_CONFIG_PATH=$P/lib/pkgconfig pkg-config --cflags --libs kadet) || fail "pkg-config"
  # shellcheck disable=SC2086
  cc -o "$T/ex" examples/scan_stdin.c $flags -Wl,-rpath,"$P/lib" || fail "build against the install"
  "$T/ex" rules/kubernetes_unusual_decision_by_user_agent.toml </dev/null 2>/dev/null \
    || fail "the example linked to libkad.so does not run"
fi
"$P/bin/kadet" version >/dev/null || fail "installed kadet does not run"
make -s uninstall DESTDIR="$T/root" PREFIX=/opt/kadet || fail "make uninstall"
[ -e "$P/bin/kadet" ] || [ -e "$P/lib/libkad.so" ] || [ -e "$P/include/kad.h" ] && fail "uninstall left files"
echo ok
