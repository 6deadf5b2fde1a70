#!/usr/bin/env bash
# tests/hostile/: hostile inputs and fault injection (see tests/hostile/README.md). Each case
# script exits 0 (ok), 77 (skip) or fails; this test fails when any case fails.
set -u
export KADET=${KADET:-$PWD/kadet}
failed=0
for t in tests/hostile/*.sh; do
    [ "$(basename "$t")" = lib.sh ] && continue
    out=$(bash "$t" 2>&1)
    rc=$?
    case $rc in
    0) echo "ok   $t" ;;
    77) echo "skip $t: $out" ;;
    *) echo "FAIL $t: $out"; failed=1 ;;
    esac
done
exit $failed
