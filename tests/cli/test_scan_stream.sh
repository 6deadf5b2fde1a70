#!/usr/bin/env bash
# kadet scan on a stream (a FIFO, as `tail -F audit.log | kadet scan -` or a log shipper
# gives): the alerts of the events received so far come out while the input stays open, not
# at the end of the input or --batch records later; the state of those events is committed by
# then (a second scan of the same events raises nothing); gzip arriving on a pipe works too;
# kadet ecs and kadet hunt print each document while their input is still open.
# No timing is asserted: the test waits (up to 60 s) for a condition that never becomes true
# when alerts are held back.
set -u
K=${KADET:-./kadet}
T=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; exec 3>&- 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
R=rules

ev() { # ev N USER AGENT: one raw audit event (the founding rule's fields)
    printf '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"s-%s","stage":"ResponseComplete","requestURI":"/api/v1/pods","verb":"list","user":{"username":"%s","groups":["system:authenticated"]},"sourceIPs":["10.0.0.1"],"userAgent":"%s","objectRef":{"resource":"pods","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-01-05T00:00:0%s.000000Z","stageTimestamp":"2026-01-05T00:00:0%s.000000Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}}\n' "$1" "$2" "$3" "$1" "$1"
}

# wait_lines FILE N: until FILE has at least N lines (60 s at most)
wait_lines() {
    for _ in $(seq 600); do
        [ "$(wc -l < "$1")" -ge "$2" ] && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# start OUT ERR KADET-ARGS...: kadet reading a fresh FIFO (fd 3 writes to it) in the background
start() {
    local out=$1 err=$2
    shift 2
    rm -f "$T/in"
    mkfifo "$T/in"
    "$K" "$@" < "$T/in" > "$out" 2> "$err" &
    pid=$!
    exec 3> "$T/in"
}
# finish: close the stream, wait for kadet; its exit status in rc
finish() {
    exec 3>&-
    wait "$pid"; rc=$?
    pid=
}

start "$T/out" "$T/err" scan --no-progress --state "$T/st.db" --host-os-type linux --rules "$R" -
{ ev 1 alice kubectl/v1.29; ev 2 bob curl/8.0; ev 3 alice kubectl/v1.29; } >&3
wait_lines "$T/out" 2 || fail "no alerts while the stream is open: $(wc -l < "$T/out") lines; $(cat "$T/err")"
[ "$(wc -l < "$T/out")" = 2 ] || fail "expected 2 alerts so far, got $(wc -l < "$T/out")"
grep -q '"alice"' "$T/out" && grep -q '"bob"' "$T/out" || fail "alerts of alice and bob expected"
ev 4 carol kubectl/v1.30 >&3
wait_lines "$T/out" 3 || fail "the third alert did not come while the stream is open"
finish
[ $rc = 0 ] || fail "scan exit $rc: $(cat "$T/err")"
[ "$(wc -l < "$T/out")" = 3 ] || fail "expected 3 alerts in all, got $(wc -l < "$T/out")"
grep -q "4 records" "$T/err" || fail "summary: $(head -1 "$T/err")"

# the same events again (a file this time): all known, no alert
{ ev 1 alice kubectl/v1.29; ev 2 bob curl/8.0; ev 4 carol kubectl/v1.30; } > "$T/again.jsonl"
"$K" scan --no-progress --state "$T/st.db" --host-os-type linux --rules "$R" "$T/again.jsonl" \
    > "$T/out2" 2> "$T/err2" || fail "second scan: $(cat "$T/err2")"
[ -s "$T/out2" ] && fail "known combinations alerted again"

# gzip on a pipe, arriving in two parts: alerts of the first part before the second is sent
start "$T/gout" "$T/gerr" scan --no-progress --no-state --host-os-type linux --rules "$R" -
ev 5 dave kubectl/v1.29 | gzip -c >&3
wait_lines "$T/gout" 1 || fail "gzip stream: no alert while open; $(cat "$T/gerr")"
ev 6 erin kubectl/v1.29 | gzip -c >&3
finish
[ $rc = 0 ] || fail "gzip stream exit $rc: $(cat "$T/gerr")"
[ "$(wc -l < "$T/gout")" = 2 ] || fail "gzip stream: expected 2 alerts, got $(wc -l < "$T/gout")"
# kadet ecs and kadet hunt on a stream: each document is printed while the input is open
for cmd in "ecs --no-host" "hunt user.name:frank"; do
    # shellcheck disable=SC2086
    start "$T/eout" "$T/eerr" $cmd -
    ev 7 frank kubectl/v1.29 >&3
    wait_lines "$T/eout" 1 || fail "$cmd: nothing printed while the stream is open"
    finish
    [ $rc = 0 ] || fail "$cmd exit $rc: $(cat "$T/eerr")"
    grep -q frank "$T/eout" || fail "$cmd: output"
done
echo "ok"
