#!/usr/bin/env bash
# kadet ecs: conversion, stdin, .gz, EventList bodies, positioned errors, exit codes.
set -u
K=${KADET:-./kadet}
fail() { echo "FAIL: $*"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

ev='{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a1","stage":"ResponseComplete","verb":"get","user":{"username":"bob"},"userAgent":"curl/8","annotations":{"authorization.k8s.io/decision":"allow"},"stageTimestamp":"2025-03-04T06:22:18.822532Z"}'
printf '%s\n%s' "$ev" "$ev" > "$T/a.log"

out=$("$K" ecs --no-host "$T/a.log") || fail "ecs exit $?"
[ "$(echo "$out" | wc -l)" = 2 ] || fail "expected 2 documents"
echo "$out" | head -1 | grep -q '"authorization_k8s_io/decision":"allow"' || fail "annotation not de-dotted"
echo "$out" | head -1 | grep -q '"user_agent":{"original":"curl/8"}' || fail "user_agent.original"
echo "$out" | head -1 | grep -q '"@timestamp":"2025-03-04T06:22:18.822Z"' || fail "@timestamp"
echo "$out" | grep -q '"host"' && fail "--no-host still writes host"
echo "$out" | grep -q '"ingested"' && fail "event.ingested written by default"

# stdin, '-', gzip
"$K" ecs --no-host < "$T/a.log" | cmp -s - <(echo "$out") || fail "stdin differs"
gzip -c "$T/a.log" > "$T/a.log.gz"
"$K" ecs --no-host "$T/a.log.gz" | cmp -s - <(echo "$out") || fail ".gz differs"

# host, ingested
"$K" ecs --ingested now --host-os-type linux "$T/a.log" | head -1 > "$T/h.json"
grep -q '"os":{"type":"linux"' "$T/h.json" || fail "host.os.type"
grep -qE '"ingested":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z"' "$T/h.json" || fail "event.ingested"

# @timestamp source (semantics.md, "Time and state": overridable): request, received; v1beta1 timestamp
ev2='{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a2","stage":"ResponseComplete","verb":"get","user":{"username":"bob"},"requestReceivedTimestamp":"2025-03-04T06:22:17.100000Z","stageTimestamp":"2025-03-04T06:22:18.822532Z"}'
echo "$ev2" | "$K" ecs --no-host --timestamp request | grep -q '"@timestamp":"2025-03-04T06:22:17.100Z"' ||
    fail "--timestamp request"
echo "$ev2" | "$K" ecs --no-host --timestamp stage | grep -q '"@timestamp":"2025-03-04T06:22:18.822Z"' ||
    fail "--timestamp stage"
now=$(date -u +%Y-%m-%dT%H)
echo "$ev2" | "$K" ecs --no-host --timestamp received | grep -q "\"@timestamp\":\"$now" ||
    fail "--timestamp received"
"$K" ecs --timestamp later </dev/null 2>/dev/null; [ $? = 1 ] || fail "bad --timestamp must exit 1"
ev3='{"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","auditID":"a3","stage":"ResponseComplete","verb":"get","user":{"username":"bob"},"timestamp":"2017-09-11T19:55:05Z","requestReceivedTimestamp":null,"stageTimestamp":null}'
echo "$ev3" | "$K" ecs --no-host | grep -q '"@timestamp":"2017-09-11T19:55:05.000Z"' ||
    fail "null stageTimestamp falls back to v1beta1 timestamp"

# EventList body (webhook shape): items get kind and apiVersion
printf '{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[{"auditID":"1","verb":"get"},{"auditID":"2","verb":"list"}]}' \
  | "$K" ecs --no-host > "$T/l.json" || fail "EventList exit $?"
[ "$(wc -l < "$T/l.json")" = 2 ] || fail "EventList gives 2 documents"
grep -q '"audit":{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"2"' "$T/l.json" || fail "item kind/apiVersion"

# malformed records: positioned errors, others still converted, exit 2
printf '%s\n{"kind":"Event",}\n{"kind": 0}\n%s\n' "$ev" "$ev" > "$T/bad.log"
"$K" ecs --no-host "$T/bad.log" > "$T/o.json" 2> "$T/e.txt"; rc=$?
[ $rc = 2 ] || fail "malformed input exit $rc"
[ "$(wc -l < "$T/o.json")" = 2 ] || fail "good records around a bad one are converted"
grep -q "^$T/bad.log:2:17: error: expected a string key in object$" "$T/e.txt" || fail "position: $(cat "$T/e.txt")"
grep -q "^$T/bad.log:3:1: error: not a Kubernetes audit event" "$T/e.txt" || fail "not an event"
grep -q "2 records skipped" "$T/e.txt" || fail "summary"

# unreadable input, usage errors
"$K" ecs "$T/none.log" 2>/dev/null; [ $? = 2 ] || fail "missing file must exit 2"
"$K" ecs --ingested later 2>/dev/null; [ $? = 1 ] || fail "bad --ingested must exit 1"
"$K" ecs --bogus 2>/dev/null; [ $? = 1 ] || fail "unknown option must exit 1"
"$K" ecs --help | grep -q "usage: kadet ecs" || fail "--help"
exit 0
