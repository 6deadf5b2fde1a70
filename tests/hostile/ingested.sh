#!/usr/bin/env bash
# Live input is stamped with event.ingested at read time (issue 22, "clock skew"): stdin from a
# pipe gets it by default, a file does not (an archive's event time is its @timestamp), and
# --ingested none turns it off for an archive replayed through a pipe.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
python3 -c 'from ev import ev
print(ev(1)); print(ev(2))' > two.jsonl
has_ingested() { python3 -c 'import json,sys
n = sum("ingested" in json.loads(l).get("event", {}) for l in open(sys.argv[1]))
print(n)' "$1"; }
before=$(date -u +%s)
scan o1 e1 < <(cat two.jsonl)
[ $rc = 0 ] || fail "pipe: exit $rc: $(cat e1)"
[ "$(has_ingested o1)" = 2 ] || fail "pipe: alerts without event.ingested: $(head -c 600 o1)"
# the stamp is the read time (whole seconds), not the event's 2026-03-01 time
python3 - "$before" o1 <<'PY' || fail "pipe: event.ingested is not the read time"
import json, sys, datetime
lo = int(sys.argv[1])
for l in open(sys.argv[2]):
    t = json.loads(l)["event"]["ingested"]
    s = datetime.datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
    assert lo - 1 <= s <= lo + 120, t
PY
scan o2 e2 two.jsonl
[ $rc = 0 ] && [ "$(has_ingested o2)" = 0 ] || fail "file: event.ingested set: $(head -c 600 o2)"
scan o3 e3 --ingested none < <(cat two.jsonl)
[ $rc = 0 ] && [ "$(has_ingested o3)" = 0 ] || fail "pipe with --ingested none: event.ingested set"
scan o4 e4 - < two.jsonl # stdin redirected from a file is not live
[ $rc = 0 ] && [ "$(has_ingested o4)" = 0 ] || fail "stdin from a file: event.ingested set"
echo ok
