#!/usr/bin/env bash
# bench/hostile.sh - `make bench-hostile`: issue 22's linear-time cases at ten times the sizes of
# the report, through the kadet CLI (optimised build), with their CPU time and peak memory
# (/usr/bin/time: user+sys, max RSS). Writes the section "Hostile sizes (issue 22)" of
# bench/RESULTS.md. Nothing here asserts a time; it exits non-zero only when a run does not do
# what it should (wrong alert count, a limit not named).
#
# Where ten times the report's size is beyond one of kadet's limits, the limit is the bound: the
# case runs at the largest input the limit admits, and the 10x input is shown refused with the
# limit's message (and what that refusal cost).
#
#   report (issue 22)                         here
#   a 100,000-value KQL or-list, 20k events   the largest list under 1 MiB of query, 200k events
#   40,000 `and not` terms, 20k events        the most terms under 1 MiB, 200k events
#   100,000 diagnostics in one rule file      the most under the 8 MiB rule file limit
#   a 100,000-segment wildcard (414 MB RSS)   the most segments under 1 MiB of query
#   349,000 sourceIPs in one event            3,490,000 (--max-record 64M)
# and each 10x query or file: refused, with its message.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
K=$(pwd)/kadet
[ -x "$K" ] || { echo "bench/hostile.sh: build kadet first (make kadet)"; exit 1; }
[ -x /usr/bin/time ] || { echo "bench/hostile.sh: /usr/bin/time missing (scripts/deps.sh --bench)"; exit 1; }
W=build/bench/hostile
rm -rf "$W" && mkdir -p "$W"
EVENTS=${HOSTILE_EVENTS:-200000}

python3 - "$W" "$EVENTS" <<'PY'
import datetime, json, sys
w, n = sys.argv[1], int(sys.argv[2])
MAXQ, MAXFILE = 1 << 20, 8 << 20
HEAD = ('[metadata]\ncreation_date = "2026/01/01"\nmaturity = "production"\n'
        'updated_date = "2026/01/01"\n[rule]\nauthor = ["kadet bench"]\ndescription = "d"\n'
        'language = "kuery"\nlicense = "Elastic License v2"\nname = "NAME"\nrisk_score = 21\n'
        'rule_id = "ID"\nseverity = "low"\ntype = "query"\nmax_signals = 100000\n')
def rule(path, rid, query):
    open(path, "w").write(HEAD.replace("NAME", rid).replace("ID", rid) + "query = '''" + query + "'''\n")
def fill(head, item, tail, limit):
    parts, size, i = [], len(head) + len(tail), 0
    while True:
        s = item(i)
        if size + len(s) > limit:
            return head + "".join(parts) + tail, i
        parts.append(s); size += len(s); i += 1
ev = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "stage": "ResponseComplete",
      "requestURI": "/api/v1/pods", "verb": "get", "sourceIPs": ["10.0.0.1"], "userAgent": "a",
      "objectRef": {"resource": "pods", "apiVersion": "v1"}, "responseStatus": {"code": 200},
      "requestReceivedTimestamp": "2026-03-01T10:00:00.000000Z", "stageTimestamp": "2026-03-01T10:00:00.100000Z"}
t0 = datetime.datetime(2026, 3, 1, tzinfo=datetime.timezone.utc)
def events(name, m):
    """n events, one a second (no execution reaches max_signals), user u(i*7919 mod m)"""
    with open(f"{w}/{name}", "w") as f:
        for i in range(n):
            ev["auditID"] = f"b-{i}"; ev["user"] = {"username": f"u{i * 7919 % m}"}
            ts = (t0 + datetime.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
            ev["requestReceivedTimestamp"] = ev["stageTimestamp"] = ts
            f.write(json.dumps(ev) + "\n")
counts = {}
q, k = fill("user.name:(", lambda i: (" or " if i else "") + f"u{i}", ")", MAXQ - 64)
rule(f"{w}/orlist.toml", "orlist", q); counts["orlist"] = k
q10, _ = fill("user.name:(", lambda i: (" or " if i else "") + f"u{i}", ")", 10 * (MAXQ - 64))
rule(f"{w}/orlist10.toml", "orlist10", q10)
q, k = fill("user.name:*", lambda i: f" and not user.name:u{i}", "", MAXQ - 64)
rule(f"{w}/andnot.toml", "andnot", q); counts["andnot"] = k
# every alert document carries the rule's 1 MiB query: few alerts, every event evaluated.
# The or-list matches about one event in 2,000; the `and not` terms exclude all but 1 in 400.
events("events_or.jsonl", n * 2000)
events("events_not.jsonl", k + k // 400)
counts["m_or"], counts["m_not"] = n * 2000, k + k // 400
q10, _ = fill("user.name:*", lambda i: f" and not user.name:u{i}", "", 10 * (MAXQ - 64))
rule(f"{w}/andnot10.toml", "andnot10", q10)
q, k = fill("user.name:", lambda i: "a*", "", MAXQ - 64)
rule(f"{w}/wild.toml", "wild", q); counts["wild"] = k
rule(f"{w}/wild10.toml", "wild10", "user.name:" + "a*" * (10 * k))
body = HEAD.replace("NAME", "diags").replace("ID", "diags") + "query = 'user.name:x'\n"
d, k = fill("", lambda i: f"unknown_key_{i} = 1\n", "", MAXFILE - len(body) - 64)
open(f"{w}/diags.toml", "w").write(body.replace("[rule]\n", "[rule]\n" + d)); counts["diags"] = k
d10, _ = fill("", lambda i: f"unknown_key_{i} = 1\n", "", 10 * MAXFILE)
open(f"{w}/diags10.toml", "w").write(body.replace("[rule]\n", "[rule]\n" + d10))
ips = 3490000
with open(f"{w}/ips.jsonl", "w") as f:
    e = dict(ev); e["auditID"] = "ips"; e["user"] = {"username": "u1"}
    s = json.dumps(e)
    f.write(s[:-1] + ', "sourceIPs": [' + ",".join(f'"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"' for i in range(ips)) + "]}\n")
counts["ips"] = ips
rule(f"{w}/get.toml", "get", 'kubernetes.audit.verb:"get"')
json.dump(counts, open(f"{w}/counts.json", "w"))
PY
[ $? = 0 ] || { echo "bench/hostile.sh: generating the inputs failed"; exit 1; }
cnt() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$W/counts.json" "$1"; }
# run NAME CMD...: CPU s (user+sys), max RSS MB, exit status, first error line
rows=()
bad=0
run() {
    local name=$1
    shift
    /usr/bin/time -f '%U %S %M' -o "$W/$name.time" "$@" >"$W/$name.out" 2>"$W/$name.err"
    local rc=$?
    read -r u s m < <(tail -1 "$W/$name.time")
    cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
    rss=$((m / 1024))
    RC=$rc
    echo "$name: exit $rc, CPU $cpu s, max RSS $rss MB" >&2
}
SCAN=("$K" scan --no-state --no-progress --no-host-metadata --now 2026-04-01T00:00:00Z)
matches=$(python3 -c "
n, k, m = $EVENTS, $(cnt orlist), $(cnt m_or)
print(sum(1 for i in range(n) if i * 7919 % m < k))")

run orlist "${SCAN[@]}" --rules "$W/orlist.toml" "$W/events_or.jsonl"
got=$(wc -l <"$W/orlist.out")
[ "$RC" = 0 ] && [ "$got" = "$matches" ] || { echo "orlist: exit $RC, $got alerts, $matches expected"; bad=1; }
rows+=("| KQL or-list of $(cnt orlist) values (1 MiB query), $EVENTS events | $cpu | $rss | $got alerts ($matches expected) |")
run orlist10 "$K" rules check "$W/orlist10.toml"
grep -q "1048576" "$W/orlist10.err" "$W/orlist10.out" || grep -qi "too long\|limit\|larger" "$W/orlist10.err" "$W/orlist10.out" || { echo "orlist10 not refused by a limit"; bad=1; }
rows+=("| the same list 10x (10 MiB query): refused | $cpu | $rss | $(grep -m1 -ho 'error: .*' "$W/orlist10.out" "$W/orlist10.err" | cut -c1-90) |")

run andnot "${SCAN[@]}" --rules "$W/andnot.toml" "$W/events_not.jsonl"
got=$(wc -l <"$W/andnot.out")
want=$(python3 -c "
n, k, m = $EVENTS, $(cnt andnot), $(cnt m_not)
print(sum(1 for i in range(n) if i * 7919 % m >= k))")
[ "$RC" = 0 ] && [ "$got" = "$want" ] || { echo "andnot: exit $RC, $got alerts, $want expected"; bad=1; }
rows+=("| $(cnt andnot) \`and not\` terms (1 MiB query), $EVENTS events | $cpu | $rss | $got alerts ($want expected) |")
run andnot10 "$K" rules check "$W/andnot10.toml"
rows+=("| the same terms 10x: refused | $cpu | $rss | $(grep -m1 -ho 'error: .*' "$W/andnot10.out" "$W/andnot10.err" | cut -c1-90) |")

run diags "$K" rules check "$W/diags.toml"
nd=$(grep -c "unknown_key_" "$W/diags.out" "$W/diags.err" | awk -F: '{ s += $2 } END { print s }')
[ "$nd" -ge "$(cnt diags)" ] || { echo "diags: $nd diagnostics, $(cnt diags) expected"; bad=1; }
rows+=("| a rule file with $(cnt diags) unknown keys (8 MiB), \`rules check\` | $cpu | $rss | $nd diagnostics printed |")
run diags10 "$K" rules check "$W/diags10.toml"
rows+=("| the same 10x (80 MiB file): refused | $cpu | $rss | $(grep -m1 -ho 'error: .*' "$W/diags10.out" "$W/diags10.err" | cut -c1-90) |")

run wild "$K" rules check "$W/wild.toml"
[ "$RC" = 0 ] || { echo "wild: exit $RC: $(head -3 "$W/wild.err")"; bad=1; }
rows+=("| a wildcard of $(cnt wild) segments (1 MiB query), \`rules check\` | $cpu | $rss | exit $RC |")
run wild10 "$K" rules check "$W/wild10.toml"
rows+=("| the same 10x: refused | $cpu | $rss | $(grep -m1 -ho 'error: .*' "$W/wild10.out" "$W/wild10.err" | cut -c1-90) |")

run ips "${SCAN[@]}" --max-record 64M --rules "$W/get.toml" "$W/ips.jsonl"
[ "$(wc -l <"$W/ips.out")" = 1 ] || { echo "ips: $(wc -l <"$W/ips.out") alerts, 1 expected: $(tail -2 "$W/ips.err")"; bad=1; }
rows+=("| one event with $(cnt ips) \`sourceIPs\` (--max-record 64M), a query rule | $cpu | $rss | $(wc -l <"$W/ips.out") alert |")

cpuname=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //' || echo unknown)
{
    echo "<!-- hostile-bench begin -->"
    echo "## Hostile sizes (issue 22)"
    echo
    echo "\`make bench-hostile\` (bench/hostile.sh; $(date -u +%Y-%m-%d), $cpuname, $(nproc) CPUs, load"
    echo "average $(cut -d' ' -f1-3 /proc/loadavg) at the end): issue 22's quadratic cases at ten times"
    echo "the reported sizes through \`kadet scan\`/\`kadet rules check\` (optimised build). CPU is"
    echo "user+sys and memory the peak RSS, both from /usr/bin/time, one run each. Where ten times the"
    echo "report's size is over a limit (1 MiB of KQL query, 8 MiB of rule file), the case runs at the"
    echo "largest size the limit admits and the 10x input is shown refused with its message."
    echo
    echo "| case | CPU s | max RSS MB | result |"
    echo "| --- | --- | --- | --- |"
    printf '%s\n' "${rows[@]}"
    echo
    echo "Before (issue 22's report, wall time): 100,000-value or-list over 20,000 events 7.6 s; 40,000"
    echo "\`and not\` terms 63 s; 100,000 diagnostics 74 s; a 100,000-segment wildcard 414 MB RSS;"
    echo "349,000 \`sourceIPs\` 78 s."
    echo "<!-- hostile-bench end -->"
} >"$W/section.md"
cat "$W/section.md"
bash bench/section.sh hostile-bench "$W/section.md"
rm -f "$W"/*.jsonl "$W"/*.out "$W"/*10.toml # hundreds of MB; the section keeps the figures
exit $bad
