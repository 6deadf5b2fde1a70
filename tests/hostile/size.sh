#!/usr/bin/env bash
# Sizes: a record over --max-record is skipped with its position and byte offset and scanning
# goes on; an alert that would pass the 16 MiB document limit is written with its source values
# capped and kadet.truncated (it was a poison pill: every rerun stopped at that record).
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
python3 - <<'PY'
from ev import ev
# a 3 KB record between two small ones (--max-record 2K)
open("rec.jsonl", "w").write(ev(1) + "\n" + ev(2, userAgent="x" * 3000) + "\n" + ev(3) + "\n")
# three 7 MB strings: a 21 MB record (under --max-record 40M), whose alert would be over 16 MiB
big = ev(4, requestObject={"a": "x" * 7000000, "b": "y" * 6999999 + "\u00e9", "c": "z" * 7000000})
open("big.jsonl", "w").write(big + "\n" + ev(5) + "\n")
# 1.2 million sourceIPs: 15 MB of record, its source.ip/related.ip copies pass 16 MiB
open("ips.jsonl", "w").write(ev(6, sourceIPs=["1.2.3.%d" % (i % 250) for i in range(1200000)]) + "\n")
PY

scan o1 e1 --max-record 2K rec.jsonl
[ $rc = 2 ] || fail "--max-record: exit $rc, expected 2: $(cat e1)"
off=$(python3 -c 'import sys; print(len(open("rec.jsonl","rb").readline()))')
grep -q "rec.jsonl:2:1: error: record longer than 2048 bytes (at byte $off), skipped" e1 ||
    fail "--max-record: no position/offset: $(cat e1)"
grep -q 'too large: 1' e1 || fail "--max-record: not counted: $(head -2 e1)"
[ "$(wc -l < o1)" = 2 ] && grep -q '"h-3"' o1 || fail "--max-record: the record after it was not scanned"
scan o1b e1b --max-record 1X rec.jsonl
[ $rc = 1 ] && grep -q -- '--max-record: expected a positive number of bytes' e1b || fail "--max-record 1X: exit $rc"

scan o2 e2 --max-record 40M big.jsonl
[ $rc = 0 ] || fail "oversized alert: exit $rc: $(cat e2)"
valid_json o2
[ "$(wc -l < o2)" = 2 ] || fail "oversized alert: $(wc -l < o2) alerts, expected 2 (the big one and the next)"
python3 - o2 <<'PY' || fail "oversized alert: not capped as documented"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
t = a[0]["kadet.truncated"]
assert t == {"strings": 3, "string_max_bytes": 32768, "array_values_dropped": 0,
             "array_max_values": 10000}, t
ro = a[0]["kubernetes"]["audit"]["requestObject"]
assert ro["a"] == "x" * 32768 + "\u2026", len(ro["a"])
assert ro["b"] == "y" * 32768 + "\u2026"
assert len(open(sys.argv[1], "rb").readline()) < 16 << 20
assert "kadet.truncated" not in a[1]
PY

scan o3 e3 ips.jsonl
[ $rc = 0 ] || fail "1.2M sourceIPs: exit $rc: $(cat e3)"
valid_json o3
python3 - o3 <<'PY' || fail "1.2M sourceIPs: arrays not capped as documented"
import json, sys
a = json.loads(open(sys.argv[1]).readline())
t = a["kadet.truncated"]
assert t["array_max_values"] == 10000 and t["array_values_dropped"] > 0, t
assert len(a["source"]["ip"]) == 10000
PY
echo ok
