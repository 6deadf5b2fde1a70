#!/usr/bin/env bash
# kadet hunt: matching records printed verbatim, --ecs documents, --format, counts, grep-style
# exit status (0 match, 1 none, 2 error), query errors with a caret, bad records skipped.
set -u
K=${KADET:-./kadet}
fail() { echo "FAIL: $*"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

ev() { # VERB USER UA -> one raw audit event line
    printf '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"id-%s-%s","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/secrets","verb":"%s","user":{"username":"%s","groups":["system:authenticated"]},"sourceIPs":["10.0.0.7"],"userAgent":"%s","objectRef":{"resource":"secrets","namespace":"default","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2025-07-22T10:00:00.000000Z","stageTimestamp":"2025-07-22T10:00:00.010000Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}}\n' \
        "$1" "$2" "$1" "$2" "$3"
}
{ ev get alice curl/8.4.0; ev list bob 'kubectl/v1.29.2 (linux/amd64) kubernetes/$Format'; ev get system:node:n1 kubelet/v1.29.2; } > "$T/audit.jsonl"

# a match prints the input record verbatim, exit 0
out=$("$K" hunt 'kubernetes.audit.verb:get and user.name:alice' "$T/audit.jsonl"); rc=$?
[ $rc = 0 ] || fail "match exit $rc"
[ "$out" = "$(sed -n 1p "$T/audit.jsonl")" ] || fail "match output: $out"

# the ingested field names work: decision annotation, user_agent.original, source.ip
n=$("$K" hunt -c 'kubernetes.audit.annotations.authorization_k8s_io/decision:allow and user_agent.original:(* and not (*kubernetes/$Format*)) and source.ip:10.0.0.0/8' "$T/audit.jsonl")
[ "$n" = 2 ] || fail "ingest-shaped fields: count $n"

# no match: nothing printed, exit 1
out=$("$K" hunt 'kubernetes.audit.verb:delete' "$T/audit.jsonl"); rc=$?
[ $rc = 1 ] || fail "no-match exit $rc"
[ -z "$out" ] || fail "no-match printed: $out"

# count
n=$("$K" hunt -c 'kubernetes.audit.verb:(get or list)' "$T/audit.jsonl"); rc=$?
[ $rc = 0 ] && [ "$n" = 3 ] || fail "count: $n rc $rc"
n=$("$K" hunt --count 'user.name:nobody' "$T/audit.jsonl"); rc=$?
[ $rc = 1 ] && [ "$n" = 0 ] || fail "count none: $n rc $rc"

# the empty query, also only whitespace, matches every event (kql.md 5.11); `not *:*` none
n=$("$K" hunt -c '' "$T/audit.jsonl"); rc=$?
[ $rc = 0 ] && [ "$n" = 3 ] || fail "empty query: $n rc $rc"
n=$("$K" hunt -c $' \n\t' "$T/audit.jsonl"); rc=$?
[ $rc = 0 ] && [ "$n" = 3 ] || fail "blank query: $n rc $rc"
n=$("$K" hunt -c 'not *:*' "$T/audit.jsonl"); rc=$?
[ $rc = 1 ] && [ "$n" = 0 ] || fail "not *:*: $n rc $rc"

# keyword case, value lists distributed over the field, any-element semantics and a
# document-level not over the groups array (kql.md 2, 5.5)
n=$("$K" hunt -c 'kubernetes.audit.verb:(GET or get) AND NOT user.name:(alice Or bob)' "$T/audit.jsonl")
[ "$n" = 1 ] || fail "keywords: $n"
n=$("$K" hunt -c 'not kubernetes.audit.user.groups:"system:authenticated"' "$T/audit.jsonl"); rc=$?
[ $rc = 1 ] || fail "not over an array: rc $rc"

# quiet
out=$("$K" hunt -q 'kubernetes.audit.verb:get' "$T/audit.jsonl"); rc=$?
[ $rc = 0 ] && [ -z "$out" ] || fail "quiet: rc $rc out $out"

# stdin, with and without '-'
n=$("$K" hunt -c 'user.name:bob' < "$T/audit.jsonl")
[ "$n" = 1 ] || fail "stdin: $n"
n=$("$K" hunt -c 'user.name:bob' - < "$T/audit.jsonl")
[ "$n" = 1 ] || fail "stdin '-': $n"

# --ecs prints the ECS document
out=$("$K" hunt --ecs 'user.name:bob' "$T/audit.jsonl")
echo "$out" | grep -q '"event":{.*"action":"list"' || fail "--ecs document: $out"
echo "$out" | grep -q '"user_agent":{"original":"kubectl' || fail "--ecs user_agent: $out"

# an EventList record is printed once; --ecs prints each matching event
printf '{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[%s,%s]}\n' \
    "$(ev get carol a/1)" "$(ev get carol b/1)" > "$T/list.json"
n=$("$K" hunt -c 'user.name:carol' "$T/list.json")
[ "$n" = 1 ] || fail "EventList record count $n"
n=$("$K" hunt --ecs 'user.name:carol' "$T/list.json" | wc -l)
[ "$n" = 2 ] || fail "EventList --ecs documents $n"

# --format ecs: documents matched as they are
printf '{"user":{"name":"alice"},"n":1}\n{"user":{"name":"bob"},"n":2}\n' > "$T/docs.jsonl"
out=$("$K" hunt --format ecs 'n > 1' "$T/docs.jsonl"); rc=$?
[ $rc = 0 ] && [ "$out" = '{"user":{"name":"bob"},"n":2}' ] || fail "--format ecs: $out"
# --format auto takes ECS documents (kadet's own --ecs output) as they are
"$K" hunt --ecs 'user.name:alice' "$T/audit.jsonl" > "$T/ecs.jsonl"
n=$("$K" hunt -c 'user.name:alice and kubernetes.audit.verb:get' "$T/ecs.jsonl")
[ "$n" = 1 ] || fail "auto on ECS documents: $n"
# --format audit refuses documents that are already ECS
"$K" hunt --format audit 'user.name:alice' "$T/ecs.jsonl" > /dev/null 2> "$T/err"; rc=$?
[ $rc = 2 ] || fail "--format audit on ECS exit $rc"
grep -q "not a raw audit event" "$T/err" || fail "--format audit message: $(cat "$T/err")"

# host.* is added like Elastic Agent does unless --no-host
n=$("$K" hunt -c --no-host 'host.os.type:*' "$T/audit.jsonl")
[ "$n" = 0 ] || fail "--no-host: $n"

# a bad query: exit 2, positioned error and a caret under the column
"$K" hunt 'not(user.name:alice)' "$T/audit.jsonl" > "$T/out" 2> "$T/err"; rc=$?
[ $rc = 2 ] || fail "bad query exit $rc"
[ -s "$T/out" ] && fail "bad query printed to stdout"
head -1 "$T/err" | grep -q '^<query>:1:4: error: expected ":", "<", "<=", ">", ">=", AND, OR, end of input, whitespace but "(" found$' \
    || fail "bad query message: $(cat "$T/err")"
[ "$(sed -n 2p "$T/err")" = 'not(user.name:alice)' ] || fail "query line"
[ "$(sed -n 3p "$T/err")" = '   ^' ] || fail "caret line: '$(sed -n 3p "$T/err")'"

# a malformed record is reported with its position and skipped; the rest is searched; exit 2
{ ev get alice x/1; echo '{"kind":"Event",'; ev get alice y/1; } > "$T/bad.jsonl"
out=$("$K" hunt 'user.name:alice' "$T/bad.jsonl" 2> "$T/err"); rc=$?
[ $rc = 2 ] || fail "bad record exit $rc"
[ "$(echo "$out" | wc -l)" = 2 ] || fail "bad record: other records not printed: $out"
grep -q "bad.jsonl:2:" "$T/err" || fail "bad record position: $(cat "$T/err")"

# usage errors and unreadable input are errors (2), not "no match"
"$K" hunt 2> /dev/null; [ $? = 2 ] || fail "missing query must exit 2"
"$K" hunt --bogus x 2> /dev/null; [ $? = 2 ] || fail "unknown option must exit 2"
"$K" hunt --format xml x 2> /dev/null; [ $? = 2 ] || fail "bad --format must exit 2"
"$K" hunt x "$T/nonexistent" 2> /dev/null; [ $? = 2 ] || fail "unreadable file must exit 2"
"$K" hunt --help | grep -q "usage: kadet hunt" || fail "--help"

# the seed rule's query on the Elastic pipeline sample (when the shared data is present)
S=${KAD_SHARED_DATA:-../shared/data}
if [ -f "$S/elastic-audit-pipeline/test-audit.log" ]; then
    q='host.os.type:"linux" and event.dataset:"kubernetes.audit_logs" and kubernetes.audit.stage:"ResponseComplete" and user_agent.original:*'
    n=$("$K" hunt -c "$q" "$S/elastic-audit-pipeline/test-audit.log")
    [ "$n" -ge 1 ] || fail "seed query on the pipeline sample: $n"
fi
# --language eql: an EQL event query, matching records printed as for KQL; `:` is
# case-insensitive, `==` is not
out=$("$K" hunt --language eql 'any where kubernetes.audit.verb == "get" and user.name : "ALICE"' "$T/audit.jsonl"); rc=$?
[ $rc = 0 ] || fail "eql match exit $rc"
[ "$out" = "$(sed -n 1p "$T/audit.jsonl")" ] || fail "eql match output: $out"
"$K" hunt --language eql -q 'any where user.name == "ALICE"' "$T/audit.jsonl"; [ $? = 1 ] || fail "eql == is case-sensitive"
n=$("$K" hunt --language eql -c 'any where kubernetes.audit.verb in ("get", "list")' "$T/audit.jsonl")
[ "$n" = 3 ] || fail "eql count: $n"
# a sequence runs over the input: one NDJSON line per sequence, its events grouped, each with
# its id and the input record verbatim as _source (Elastic's RBAC-then-workload rule query over
# the eql-sequence case: bob and erin complete one each, the near misses none)
SEQIN="$(dirname "$0")/../cases/eql-sequence/input.jsonl"
SEQ='sequence by user.name with maxspan=5m
  [any where `kubernetes.audit.annotations.authorization_k8s_io/decision` == "allow" and
    kubernetes.audit.objectRef.resource in ("roles", "clusterroles") and
    kubernetes.audit.verb in ("create", "update", "patch")]
  [any where `kubernetes.audit.annotations.authorization_k8s_io/decision` == "allow" and
    kubernetes.audit.objectRef.resource in ("daemonsets", "deployments", "cronjobs") and
    kubernetes.audit.verb in ("create", "patch") and
    not kubernetes.audit.user.groups == "system:masters"]'
"$K" hunt --language eql "$SEQ" "$SEQIN" > "$T/seq"; rc=$?
[ $rc = 0 ] || fail "eql sequence exit $rc"
[ "$(wc -l < "$T/seq")" = 2 ] || fail "eql sequences: $(cat "$T/seq")"
grep -q '^{"sequence":1,"join_keys":\["bob"\],"events":\[{"_id":"00000000-0000-4000-8000-000000000201-ResponseComplete","_source":{' "$T/seq" || fail "eql sequence 1: $(head -1 "$T/seq")"
sed -n 2p "$T/seq" | grep -q '^{"sequence":2,"join_keys":\["erin"\],' || fail "eql sequence 2: $(sed -n 2p "$T/seq")"
[ "$(grep -o '"_id"' "$T/seq" | wc -l)" = 4 ] || fail "eql sequences: two events each"
grep -qF "$(grep -m1 000000000203 "$SEQIN")" "$T/seq" || fail "eql sequence: _source is the input record"
n=$("$K" hunt --language eql -c "$SEQ" "$SEQIN"); [ "$n" = 2 ] || fail "eql sequence count: $n"
"$K" hunt --language eql --table "$SEQ" "$SEQIN" > "$T/seqt" || fail "eql sequence --table exit"
head -1 "$T/seqt" | grep -q '^sequence | stage | @timestamp  *| _id  *| ' || fail "eql table header: $(head -1 "$T/seqt")"
[ "$(wc -l < "$T/seqt")" = 6 ] || fail "eql table rows: $(cat "$T/seqt")"
sed -n 3p "$T/seqt" | grep -q '^1  *| 1  *| 2026-03-01T10:00:00.000Z .*| bob  *|' || fail "eql table row: $(sed -n 3p "$T/seqt")"
sed -n 6p "$T/seqt" | grep -q '^2  *| 2  *| .*| erin  *|' || fail "eql table last row: $(sed -n 6p "$T/seqt")"
# --ecs: the events' ECS documents
"$K" hunt --language eql --ecs "$SEQ" "$SEQIN" | head -1 | grep -q '"_source":{[^}]*"@timestamp":"2026-03-01T10:00:00.000Z"' || fail "eql sequence --ecs"
# no sequence: exit 1, nothing printed; an unordered pair does not match (get before list)
out=$("$K" hunt --language eql 'sequence [any where kubernetes.audit.verb == "list"] [any where kubernetes.audit.verb == "delete"]' "$T/audit.jsonl"); rc=$?
[ $rc = 1 ] && [ -z "$out" ] || fail "eql no sequence: exit $rc, $out"
out=$("$K" hunt --language eql 'sequence [any where kubernetes.audit.verb == "list"] [any where user.name == "alice"]' "$T/audit.jsonl"); rc=$?
[ $rc = 1 ] || fail "eql sequence order: exit $rc, $out"
n=$("$K" hunt --language eql -c 'sequence [any where kubernetes.audit.verb == "get"] [any where kubernetes.audit.verb == "list"]' "$T/audit.jsonl")
[ "$n" = 1 ] || fail "eql sequence without by: $n"
# --table is for ES|QL and sequences only
"$K" hunt --language eql --table 'any where true' "$T/audit.jsonl" 2>"$T/err"; [ $? = 2 ] || fail "eql event query --table exit"
grep -q "table prints ES|QL result rows or EQL sequences" "$T/err" || fail "eql --table message: $(cat "$T/err")"
"$K" hunt --language eql 'any where verb == "get" AND x == 1' "$T/audit.jsonl" 2>"$T/err"; [ $? = 2 ] || fail "eql syntax error exit"
grep -q "^<query>:1:" "$T/err" || fail "eql error position: $(cat "$T/err")"

# --language esql: the result rows as NDJSON (one run over every event), --table, -c, exit
out=$("$K" hunt --language esql 'from logs-* metadata _id | where kubernetes.audit.verb == "get" | keep _id, user.name | sort user.name' "$T/audit.jsonl")
[ "$out" = '{"_id":"id-get-alice-ResponseComplete","user.name":"alice"}
{"_id":"id-get-system:node:n1-ResponseComplete","user.name":"system:node:n1"}' ] || fail "esql rows: $out"
out=$("$K" hunt --language esql --table 'from logs-* | stats n = count(*) by kubernetes.audit.verb | sort kubernetes.audit.verb' "$T/audit.jsonl")
[ "$out" = 'n | kubernetes.audit.verb
--+----------------------
2 | get
1 | list' ] || fail "esql table: $out"
n=$("$K" hunt --language esql -c 'from logs-* | where user.name like "system:*"' "$T/audit.jsonl")
[ "$n" = 1 ] || fail "esql count: $n"
"$K" hunt --language esql 'from logs-* | where kubernetes.audit.verb == "delete"' "$T/audit.jsonl" >/dev/null; [ $? = 1 ] || fail "esql no rows: exit"
"$K" hunt --language esql 'from logs-* | where nosuch(1)' "$T/audit.jsonl" 2>"$T/err"; [ $? = 2 ] || fail "esql bad query exit"
grep -q "^<query>:1:21: error: unknown function \[nosuch\]" "$T/err" || fail "esql error: $(cat "$T/err")"
"$K" hunt --table 'x:1' "$T/audit.jsonl" 2>/dev/null; [ $? = 2 ] || fail "--table without esql"
"$K" hunt --language sql 'x' "$T/audit.jsonl" 2>/dev/null; [ $? = 2 ] || fail "unknown language"
exit 0
