#!/usr/bin/env bash
# The terms of an event have one definition (src/detect/det_terms.c), used by `kadet scan` (the
# streaming engine) and `kadet preview` (Elastic's executions replayed). Over documents with
# tricky new-terms values (strings at and over ignore_above in bytes and in characters,
# non-ASCII and escaped strings, arrays with duplicates and nested arrays, numbers, booleans,
# "1" next to 1, objects, null, empty arrays, missing fields), both give the same alerts: the
# same (document, kibana.alert.new_terms) pairs. With no history before the execution, every
# combination is new in preview exactly when the stream sees it first.
set -u
K=${KADET:-./kadet}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cat > "$T/rule.toml" <<'TOML'
[metadata]
creation_date = "2026/01/01"
maturity = "production"
updated_date = "2026/01/01"

[rule]
author = ["kadet tests"]
description = "terms of an event, scan and preview"
name = "terms_same"
risk_score = 21
rule_id = "terms-same"
severity = "low"
type = "new_terms"
language = "kuery"
query = 'event.dataset:"kubernetes.audit_logs"'
max_signals = 1000
from = "now-1h"
interval = "1h"

[rule.new_terms]
field = "new_terms_fields"
value = ["host.name", "user.name"]
history_window_start = "now-1d"
TOML

python3 - "$T/in.jsonl" <<'PY'
import json, sys
a1024 = "a" * 1024            # at ignore_above: a term
a1025 = "a" * 1025            # over it: no term
e600 = "\u00e9" * 600         # 1200 bytes, 600 characters: a term
e1025 = "\u00e9" * 1025       # over in characters: no term
cjk = "\u6f22" * 1024         # 3072 bytes, 1024 characters: a term
hosts = [
    "h1", a1024, a1025, e600, e1025, cjk, ["h1", "h1", "h2"], [["n1", "n2"], "n3"],
    1, "1", 1.5, "1.5", -0.0, 10000000000000000000000, True, "true", False, None,
    [], [None, "h3"], {"x": 1}, [{"x": 1}, "h4"], "", "tab\there", "quote\"and\\slash",
    "\u2603 snow", [True, "true", 1, "1"], 1e3, "1e3",
]
users = ["u1", ["u1", "u2", "u1"], 7, "7", False, a1025, None]
lines = []
i = 0
for h in hosts:
    for u in users:
        i += 1
        doc = {"_id": "d%d" % i, "@timestamp": "2026-01-01T00:%02d:%02d.000Z" % (i // 60 % 60, i % 60),
               "event": {"dataset": "kubernetes.audit_logs"}, "host": {"name": h}, "user": {"name": u}}
        lines.append(json.dumps(doc, ensure_ascii=(i % 2 == 0)))
# missing fields
i += 1
lines.append(json.dumps({"_id": "d%d" % i, "@timestamp": "2026-01-01T00:59:00.000Z",
                         "event": {"dataset": "kubernetes.audit_logs"}, "user": {"name": "u9"}}))
i += 1
lines.append(json.dumps({"_id": "d%d" % i, "@timestamp": "2026-01-01T00:59:01.000Z",
                         "event": {"dataset": "kubernetes.audit_logs"}, "host": {"name": "h9"}}))
# a value written with escapes and the same value written plainly: one term
i += 1
lines.append('{"_id":"d%d","@timestamp":"2026-01-01T00:59:02.000Z","event":{"dataset":"kubernetes.audit_logs"},"host":{"name":"\\u00e9t\\u00e9"},"user":{"name":"u1"}}' % i)
i += 1
lines.append('{"_id":"d%d","@timestamp":"2026-01-01T00:59:03.000Z","event":{"dataset":"kubernetes.audit_logs"},"host":{"name":"\u00e9t\u00e9"},"user":{"name":"u1"}}' % i)
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY

"$K" scan --no-state --no-progress --now 2026-01-01T01:00:00Z --rules "$T/rule.toml" "$T/in.jsonl" \
    > "$T/scan.jsonl" 2> "$T/scan.err" || fail "scan failed: $(cat "$T/scan.err")"
"$K" preview --rules "$T/rule.toml" --end 2026-01-01T01:00:00Z "$T/in.jsonl" \
    > "$T/preview.jsonl" 2> "$T/preview.err" || fail "preview failed: $(cat "$T/preview.err")"

pairs() {
    python3 - "$1" <<'PY'
import json, sys
out = []
for line in open(sys.argv[1], encoding="utf-8"):
    a = json.loads(line)
    anc = a["kibana.alert.ancestors"][0]["id"]
    out.append(anc + " " + json.dumps(a["kibana.alert.new_terms"], ensure_ascii=True))
for p in sorted(out):
    print(p)
PY
}
pairs "$T/scan.jsonl" > "$T/scan.pairs" || fail "scan output is not alerts"
pairs "$T/preview.jsonl" > "$T/preview.pairs" || fail "preview output is not alerts"
n=$(wc -l < "$T/scan.pairs")
[ "$n" -gt 50 ] || fail "only $n alerts from scan (see $T/scan.err)"
diff "$T/scan.pairs" "$T/preview.pairs" > "$T/diff" || fail "scan and preview terms differ: $(head -20 "$T/diff")"
# the values themselves, byte for byte as each wrote them
grep -o '"kibana.alert.new_terms":\[[^]]*\]' "$T/scan.jsonl" | sort > "$T/scan.raw"
grep -o '"kibana.alert.new_terms":\[[^]]*\]' "$T/preview.jsonl" | sort > "$T/preview.raw"
cmp -s "$T/scan.raw" "$T/preview.raw" || fail "kibana.alert.new_terms texts differ between scan and preview"
# spot checks of the definition
grep -q "\"$(printf 'a%.0s' $(seq 1024))\"" "$T/scan.raw" || fail "a 1024-character value is a term"
grep -q "$(printf 'a%.0s' $(seq 1025))" "$T/scan.raw" && fail "a 1025-character value is not a term"
grep -q '"kibana.alert.new_terms":\[1.5,' "$T/scan.raw" || fail "a number is written as a number"
grep -q '"kibana.alert.new_terms":\[true,' "$T/scan.raw" || fail "a boolean is written as a boolean"
grep -q '"h4"' "$T/scan.raw" || fail "an array's string next to an object is a term"
exit 0
