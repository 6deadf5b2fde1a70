#!/usr/bin/env bash
# kadet scan --listen: the audit webhook receiver. kube-apiserver POSTs EventList bodies; each
# request is committed (alerts in --output, state) before its 200, so the alerts are in the
# file once curl has its answer; a repeated POST (the apiserver's retry) raises nothing again,
# also for a query rule (its alert ids are in the state); a bad record is skipped (200,
# skipped=1, positioned message on stderr); not JSON -> 400; over --max-body -> 413; other
# methods -> 405; GET /healthz -> ok; SIGTERM -> exit 0 with the summary; the state written by
# the receiver is the one a later file scan reads; a crash before the answer and a retry give
# each alert once; bind errors exit 2; --listen with FILEs is a usage error.
# No timing is asserted: conditions are waited for (60 s at most).
set -u
K=${KADET:-./kadet}
command -v curl > /dev/null || { echo "skip: curl missing (scripts/deps.sh installs it)"; exit 77; }
T=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

# rules: the bundled ones (new terms) plus a query rule, whose duplicates only alert ids stop
mkdir -p "$T/rules"
cp rules/*.toml "$T/rules/" 2>/dev/null || fail "no bundled rules"
cat > "$T/rules/q.toml" <<'EOF'
[metadata]
creation_date = "2026/01/01"
maturity = "production"
updated_date = "2026/01/01"

[rule]
author = ["kadet tests"]
description = "listen test"
language = "kuery"
name = "listen test deletes"
risk_score = 47
rule_id = "listen-q"
severity = "medium"
type = "query"
query = 'kubernetes.audit.verb:"delete"'
EOF

ev() { # ev N USER AGENT [VERB]: one raw audit event, on one line without a newline
    printf '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"l-%s","stage":"ResponseComplete","requestURI":"/api/v1/pods","verb":"%s","user":{"username":"%s","groups":["system:authenticated"]},"sourceIPs":["10.0.0.1"],"userAgent":"%s","objectRef":{"resource":"pods","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-01-05T00:00:0%s.000000Z","stageTimestamp":"2026-01-05T00:00:0%s.000000Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}}' "$1" "${4:-list}" "$2" "$3" "$1" "$1"
}
evlist() { # evlist EVENT...: an audit.k8s.io/v1 EventList, pretty-printed as the apiserver may
    printf '{\n  "kind": "EventList",\n  "apiVersion": "audit.k8s.io/v1",\n  "metadata": {},\n  "items": [\n'
    local sep=""
    for e in "$@"; do printf '%s    %s' "$sep" "$e"; sep=$',\n'; done
    printf '\n  ]\n}\n'
}

# start ARGS...: kadet scan --listen 127.0.0.1:0 in the background; sets pid and URL
start() {
    : > "$T/err"
    "$K" scan --no-progress --rules "$T/rules" --host-os-type linux --now 2026-01-06T00:00:00Z \
        --listen 127.0.0.1:0 "$@" > "$T/stdout" 2> "$T/err" &
    pid=$!
    for _ in $(seq 600); do
        port=$(sed -n 's/^kadet scan: listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$T/err")
        [ -n "$port" ] && { URL="http://127.0.0.1:$port"; return 0; }
        kill -0 "$pid" 2>/dev/null || fail "kadet exited before listening: $(cat "$T/err")"
        sleep 0.1
    done
    fail "no 'listening on' line: $(cat "$T/err")"
}
# stop: SIGTERM, wait; sets rc
stop() {
    kill -TERM "$pid"
    wait "$pid"; rc=$?
    pid=
}
# post FILE [PATH] -> prints "CODE BODY"
post() {
    curl -sS -o "$T/resp" -w '%{http_code}' -H 'Content-Type: application/json' \
        --data-binary "@$1" "$URL${2:-/}" > "$T/code" || fail "curl: POST $1 failed"
    echo "$(cat "$T/code") $(cat "$T/resp")"
}

evlist "$(ev 1 alice kubectl/v1.29)" "$(ev 2 bob curl/8.0)" "$(ev 3 alice kubectl/v1.29 delete)" \
    > "$T/b1.json"
evlist "$(ev 4 carol kubectl/v1.30)" > "$T/b2.json"

# --- a receiver writing --output ---------------------------------------------------------------
start --state "$T/st.db" --output "$T/out"
r=$(post "$T/b1.json")
case "$r" in "200 "*'"records":1,'*'"skipped":0'*) ;; *) fail "first POST: $r" ;; esac
# committed before the answer: the alerts are in the file now (alice, bob new terms; a delete)
[ "$(wc -l < "$T/out")" = 3 ] || fail "expected 3 alerts after the 200, got $(wc -l < "$T/out")"
grep -q '"listen-q"' "$T/out" || fail "the query rule's alert is missing"
# the apiserver retries the same batch: nothing new (query rule included: alert ids)
r=$(post "$T/b1.json")
case "$r" in "200 "*'"alerts":0'*) ;; *) fail "repeated POST: $r" ;; esac
[ "$(wc -l < "$T/out")" = 3 ] || fail "a repeated POST raised alerts again: $(wc -l < "$T/out")"
r=$(post "$T/b2.json")
case "$r" in "200 "*'"alerts":1'*) ;; *) fail "second batch: $r" ;; esac
[ "$(wc -l < "$T/out")" = 4 ] || fail "expected 4 alerts, got $(wc -l < "$T/out")"

# a bad record among good ones: skipped, answered 200, reported with request and position
{ ev 5 dave kubectl/v1.29; printf '\n{"kind":"Event","apiVersion":"audit.k8s.io/v1",\n'; } \
    > "$T/bad.jsonl"
r=$(post "$T/bad.jsonl")
case "$r" in "200 "*'"records":2,'*'"skipped":1'*) ;; *) fail "bad record: $r" ;; esac
[ "$(wc -l < "$T/out")" = 5 ] || fail "the good record of that body did not alert"
for _ in $(seq 600); do grep -q 'record skipped' "$T/err" && break; sleep 0.1; done
grep -Eq '^kadet: warning: request 4 from 127\.0\.0\.1:[0-9]+: webhook:2:[0-9]+: error: ' "$T/err" ||
    fail "positioned message: $(cat "$T/err")"

# not JSON at all: 400 with the error
printf 'hello, world\n' > "$T/text"
r=$(post "$T/text")
case "$r" in "400 "*"webhook:1:1: error: not JSON"*) ;; *) fail "not JSON: $r" ;; esac
# an empty body is not JSON either
: > "$T/empty"
r=$(post "$T/empty")
case "$r" in "400 "*) ;; *) fail "empty body: $r" ;; esac
# a path that is not --listen-path
r=$(post "$T/b2.json" /other)
case "$r" in "404 "*) ;; *) fail "other path: $r" ;; esac
# other methods; /healthz
code=$(curl -sS -o /dev/null -w '%{http_code}' -X PUT --data-binary x "$URL/")
[ "$code" = 405 ] || fail "PUT: $code"
code=$(curl -sS -o "$T/resp" -w '%{http_code}' "$URL/")
[ "$code" = 405 ] || fail "GET /: $code"
code=$(curl -sS -o "$T/resp" -w '%{http_code}' "$URL/healthz")
[ "$code" = 200 ] && [ "$(cat "$T/resp")" = ok ] || fail "healthz: $code $(cat "$T/resp")"

stop
[ $rc = 0 ] || fail "SIGTERM: exit $rc: $(cat "$T/err")"
grep -q '^kadet scan: 5 records, 8 events, 1 skipped' "$T/err" || fail "summary: $(cat "$T/err")"
grep -q 'listen test deletes .* 1 .*already emitted 1' "$T/err" ||
    fail "query rule summary: $(grep 'listen test' "$T/err")"
grep -q '2 requests refused (not JSON)' "$T/err" || fail "refused count: $(cat "$T/err")"
[ "$(wc -l < "$T/out")" = 5 ] || fail "alerts after the stop: $(wc -l < "$T/out")"

# the state is the one a file scan reads: the same events raise nothing
{ ev 1 alice kubectl/v1.29; echo; ev 2 bob curl/8.0; echo; ev 3 alice kubectl/v1.29 delete; echo
  ev 4 carol kubectl/v1.30; echo; } > "$T/again.jsonl"
"$K" scan --no-progress --rules "$T/rules" --host-os-type linux --state "$T/st.db" \
    "$T/again.jsonl" > "$T/out2" 2> "$T/err2" || fail "file scan: $(cat "$T/err2")"
[ -s "$T/out2" ] && fail "a file scan of the received events alerted again: $(cat "$T/out2")"

# --- --max-body, --listen-path, stdout ---------------------------------------------------------
start --no-state --max-body 600 --listen-path /audit
head -c 2000 /dev/zero | tr '\0' ' ' > "$T/big"
r=$(post "$T/big" /audit)
case "$r" in "413 "*"--max-body"*) ;; *) fail "over --max-body: $r" ;; esac
# chunked (no Content-Length): refused after reading
code=$(curl -sS -o "$T/resp" -w '%{http_code}' -H 'Transfer-Encoding: chunked' \
    --data-binary "@$T/big" "$URL/audit")
[ "$code" = 413 ] || fail "chunked over --max-body: $code"
ev 6 erin kubectl/v1.29 > "$T/one.json"
r=$(post "$T/one.json" /audit)
case "$r" in "200 "*'"events":1,'*'"alerts":1'*) ;; *) fail "single event on /audit: $r" ;; esac
# stdout: committed, then written, before the answer
grep -q '"erin"' "$T/stdout" || fail "the alert is not on stdout after the 200"
stop
[ $rc = 0 ] || fail "exit $rc: $(cat "$T/err")"

# --- a crash after the commit, before the answer: the retry gives each alert once ---------------
KADET_TEST_CRASH=commit:1:committed start --state "$T/c.db" --output "$T/cout"
exec 4>&2 2>/dev/null # bash's "Killed" notice
curl -sS -o /dev/null --data-binary "@$T/b1.json" "$URL/" && fail "no crash?"
wait "$pid"
exec 2>&4 4>&-
pid=
start --state "$T/c.db" --output "$T/cout"
r=$(post "$T/b1.json")
case "$r" in "200 "*) ;; *) fail "retry after the crash: $r" ;; esac
stop
[ "$(wc -l < "$T/cout")" = 3 ] || fail "after crash and retry: $(wc -l < "$T/cout") alerts, not 3"
[ "$(grep -o '"kibana.alert.uuid":"[0-9a-f]*"' "$T/cout" | sort -u | wc -l)" = 3 ] ||
    fail "duplicate alert ids after the retry"

# --- usage and bind errors ---------------------------------------------------------------------
"$K" scan --no-state --listen 127.0.0.1:0 "$T/again.jsonl" 2> "$T/e"; rc=$?
[ $rc = 1 ] || fail "--listen with a FILE: exit $rc"
grep -q 'no FILE' "$T/e" || fail "usage message: $(cat "$T/e")"
"$K" scan --no-state --listen nonsense 2> "$T/e"; rc=$?
[ $rc = 1 ] || fail "bad --listen: exit $rc"
"$K" scan --no-state --max-body 10 2> "$T/e"; rc=$?
[ $rc = 1 ] || fail "--max-body without --listen: exit $rc"
# a port in use
start --no-state
"$K" scan --no-progress --no-state --rules "$T/rules" --listen "127.0.0.1:$port" 2> "$T/e2"; rc=$?
[ $rc = 2 ] || fail "port in use: exit $rc"
grep -q "cannot listen on 127.0.0.1:$port: Address already in use" "$T/e2" ||
    fail "bind error: $(cat "$T/e2")"
stop
[ $rc = 0 ] || fail "exit $rc"
echo "ok"
