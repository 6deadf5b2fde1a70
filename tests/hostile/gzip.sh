#!/usr/bin/env bash
# gzip inputs: a bomb (64 MiB of NUL bytes packed into 64 KB) is one record over the limit,
# skipped without holding it in memory; 64 MiB of newlines is no record at all; a truncated
# stream is an error that names it (exit 2); trailing garbage is a warning (exit 0).
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
python3 - <<'PY'
import gzip
from ev import ev
open("bomb.gz", "wb").write(gzip.compress(b"\0" * (64 << 20), 9))
open("newlines.gz", "wb").write(gzip.compress(b"\n" * (64 << 20), 9))
g = gzip.compress((ev(1) + "\n" + ev(2) + "\n").encode())
open("cut.gz", "wb").write(g[:len(g) - 12])
open("trailing.gz", "wb").write(g + b"garbage!!")
PY

scan o1 e1 bomb.gz
[ $rc = 2 ] || fail "bomb: exit $rc"
grep -q 'bomb.gz:1:1: error: record longer than 16777216 bytes (at byte 0), skipped' e1 || fail "bomb: $(cat e1)"
scan o2 e2 newlines.gz
[ $rc = 0 ] && grep -q '0 records' e2 || fail "newlines: exit $rc: $(cat e2)"
scan o3 e3 cut.gz
[ $rc = 2 ] || fail "truncated gzip: exit $rc"
grep -q 'cut.gz: error: truncated gzip stream' e3 || fail "truncated gzip: $(cat e3)"
scan o4 e4 trailing.gz
[ $rc = 0 ] || fail "trailing garbage: exit $rc"
[ "$(wc -l < o4)" = 2 ] || fail "trailing garbage: the events before it were not all scanned"
grep -q 'warning: trailing.gz: trailing garbage after the gzip data at byte [0-9]* (compressed) ignored' e4 ||
    fail "trailing garbage: no warning: $(cat e4)"
echo ok
