#!/usr/bin/env bash
# Hostile JSON: each bad record is skipped with a clear positioned error (exit 2), each odd but
# valid one gives a valid alert; the good records around them are still scanned.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
python3 - <<'PY'
from ev import ev
# nesting 100,000 deep inside requestObject, then a good event
open("deep.jsonl", "w").write(ev(1)[:-1] + ', "requestObject": ' + "[" * 100000 + "]" * 100000
                              + "}\n" + ev(2) + "\n")
# invalid UTF-8 in a string (raw bytes), then a good event
bad = ev(3, user={"username": "BADNAME"}).encode().replace(b"BADNAME", b"a\xff\xfeb\xc3")
open("utf8.jsonl", "wb").write(bad + b"\n" + ev(4).encode() + b"\n")
# an escaped NUL (valid JSON) and a raw NUL byte (invalid)
esc = ev(5, user={"username": "nul\u0000inside"}).encode()
raw = ev(6, user={"username": "RAW"}).encode().replace(b"RAW", b"r\x00w")
open("nul.jsonl", "wb").write(esc + b"\n" + raw + b"\n")
# numbers out of every range
num = ev(7).replace('"code": 200', '"code": 1e999999').replace(
    '"level"', '"n1": -123456789012345678901234567890, "n2": 1e-999999, "n3": -0, "level"')
open("num.jsonl", "w").write(num + "\n")
# duplicate keys: every value is kept and seen (docs/internals/json.md), so a duplicate cannot
# hide a value from a rule: both events have a "get" and both alert
d1 = ev(8).replace('"verb": "get"', '"verb": "get", "verb": "delete"')
d2 = ev(9).replace('"verb": "get"', '"verb": "delete", "verb": "get"')
open("dup.jsonl", "w").write(d1 + "\n" + d2 + "\n")
PY

scan o1 e1 deep.jsonl
[ $rc = 2 ] || fail "deep nesting: exit $rc, expected 2: $(cat e1)"
grep -q 'deep.jsonl:1:[0-9]*: error: nesting deeper than 512 levels' e1 || fail "deep nesting: $(cat e1)"
grep -q '1 skipped' e1 || fail "deep nesting: not counted: $(cat e1)"
[ "$(wc -l < o1)" = 1 ] && grep -q '"h-2"' o1 || fail "deep nesting: the good event after it was not scanned"

scan o2 e2 utf8.jsonl
[ $rc = 2 ] || fail "invalid UTF-8: exit $rc"
grep -q 'utf8.jsonl:1:[0-9]*: error: invalid UTF-8 in string' e2 || fail "invalid UTF-8: $(cat e2)"
[ "$(wc -l < o2)" = 1 ] && grep -q '"h-4"' o2 || fail "invalid UTF-8: the good event was not scanned"

scan o3 e3 nul.jsonl
[ $rc = 2 ] || fail "NUL: exit $rc"
grep -q 'nul.jsonl:2:[0-9]*: error: unescaped control character in string' e3 || fail "raw NUL: $(cat e3)"
valid_json o3
[ "$(wc -l < o3)" = 1 ] || fail "escaped NUL: no alert"
grep -qF 'nul\u0000inside' o3 || fail "escaped NUL: the value is not kept escaped in the alert"

scan o4 e4 num.jsonl
[ $rc = 0 ] || fail "numbers: exit $rc: $(cat e4)"
valid_json o4
[ "$(wc -l < o4)" = 1 ] || fail "numbers: no alert"
grep -q '"n1":-123456789012345678901234567890' o4 || fail "numbers: a big integer is not copied as written"

scan o5 e5 dup.jsonl
[ $rc = 0 ] || fail "duplicate keys: exit $rc"
valid_json o5
[ "$(wc -l < o5)" = 2 ] || fail "duplicate keys: every value must be seen (2 alerts): $(cut -c1-200 o5)"
grep -q '"verb":"get","verb":"delete"' o5 || fail "duplicate keys: the alert does not keep both values"
echo ok
