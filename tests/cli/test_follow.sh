#!/usr/bin/env bash
# `kadet scan --follow` (docs/internals/follow.md): while the test appends audit events to a live
# log, it rotates the log by rename (logrotate's audit.log.1, kube-apiserver's
# audit-TIMESTAMP.log), by copytruncate, gzips rotated files, deletes the log, rotates twice
# while kadet is stopped, and kills kadet with SIGKILL and restarts it in between. Every event
# must be read exactly once: the alerts (one per event) equal a one-pass scan of all events by
# kibana.alert.uuid, no run reports "already emitted" alerts (an event read again after a
# commit), and the record counts of the runs that ended cleanly add up.
#
# No step depends on timing: the test waits for conditions (alerts written, kadet stopped) by
# polling with generous time limits, and acts on a stopped kadet (SIGSTOP) where it must.
set -u
K=${KADET:-./kadet}
T=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; [ -z "${KEEP:-}" ] && rm -rf "$T"' EXIT
fail() {
    echo "FAIL: $*"
    for f in "$T"/run*.err; do [ -e "$f" ] && { echo "--- $f"; tail -5 "$f"; }; done
    exit 1
}

mkdir -p "$T/rules" "$T/logs"
cat > "$T/rules/all.toml" <<'EOF'
[metadata]
creation_date = "2026/01/01"
maturity = "production"
updated_date = "2026/01/01"

[rule]
author = ["kadet tests"]
description = "one alert per event: the alerts count the events read"
language = "kuery"
name = "follow test: every event"
risk_score = 21
rule_id = "follow-all"
severity = "low"
type = "query"
max_signals = 100000
query = 'kubernetes.audit.stage:"ResponseComplete"'
EOF

# gen FIRST COUNT: audit events FIRST .. FIRST+COUNT-1, one per line (distinct auditIDs, times)
gen() {
    awk -v s0="$1" -v n="$2" 'BEGIN {
      for (i = s0; i < s0 + n; i++) {
        u = "user-" (i * 7 % 40); a = "agent/" (i * 11 % 25); v = (i % 7 == 0) ? "delete" : "get";
        s = 1772359200 + i * 43; d = strftime("%Y-%m-%dT%H:%M:%S", s, 1);
        printf "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\",\"auditID\":\"follow-%06d\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/api/v1/namespaces/default/pods\",\"verb\":\"%s\",\"user\":{\"username\":\"%s\"},\"sourceIPs\":[\"10.0.0.1\"],\"userAgent\":\"%s\",\"objectRef\":{\"resource\":\"pods\",\"namespace\":\"default\",\"apiVersion\":\"v1\"},\"responseStatus\":{\"code\":200},\"requestReceivedTimestamp\":\"%s.000000Z\",\"stageTimestamp\":\"%s.100000Z\",\"annotations\":{\"authorization.k8s.io/decision\":\"allow\"}}\n", i, v, u, a, d, d
      }
    }'
}
N=0 # events written so far
# write COUNT [FILE]: append the next COUNT events to FILE (default the live log)
write() {
    gen "$N" "$1" >> "${2:-$L}"
    N=$((N + $1))
}

L="$T/logs/audit.log"
OUT="$T/alerts.jsonl"
run=0
start() {
    run=$((run + 1))
    "$K" scan --no-progress --rules "$T/rules" --state "$T/state.db" --output "$OUT" \
        --rotate-grace 300ms --follow "$L" 2>"$T/run$run.err" &
    pid=$!
}
# the alerts so far: --output is rotated during run 1, by copytruncate (into $OUT.1), then by
# rename (to $OUT.2) and SIGHUP
lines() { cat "$OUT.1" "$OUT.2" "$OUT" 2>/dev/null | wc -l; }
wait_for() { # wait_for WHAT CMD...: poll CMD until it holds (120 s at most)
    local what=$1 i
    shift
    for ((i = 0; i < 2400; i++)); do
        "$@" && return 0
        [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && fail "kadet exited while waiting for $what"
        sleep 0.05
    done
    fail "timed out waiting for $what ($(lines) alerts, $N events written)"
}
caught_up() { [ "$(lines)" -ge "$N" ]; }
stopped() { [ "$(cut -d' ' -f3 < "/proc/$pid/stat" 2>/dev/null)" = T ]; }
stop_clean() { # SIGTERM: final commit, exit 0
    kill -TERM "$pid"
    wait "$pid"
    local rc=$?
    pid=""
    [ $rc = 0 ] || fail "run $run: exit $rc after SIGTERM, expected 0"
}
kill9() {
    kill -9 "$pid"
    wait "$pid" 2>/dev/null
    pid=""
}

# --- run 1: partial lines, rename rotations (both namings), gzip, deletion --------------------
write 200
start
wait_for "the first 200 events" caught_up
# a line written in two parts is handed out once, complete
gen "$N" 1 > "$T/one"
head -c 300 "$T/one" | tr -d '\n' >> "$L"
sleep 0.3 # give kadet the chance to see the half line (a wrong reading would then show)
tail -c +301 "$T/one" >> "$L"
N=$((N + 1))
write 99
wait_for "the split line" caught_up
# logrotate (create): rename, new file, events at once into both the old file (late writes
# before the writer reopens) and the new one
mv "$L" "$L.1"
write 50 "$L.1"
write 100
wait_for "rename rotation" caught_up
# kadet's own --output rotated by copytruncate: the next alerts go to its new end (O_APPEND)
cp "$OUT" "$OUT.1"
: > "$OUT"
write 20
wait_for "alerts after the output's copytruncate" caught_up
# and by rename + SIGHUP (logrotate's create + postrotate): kadet reopens --output
mv "$OUT" "$OUT.2"
kill -HUP "$pid"
write 20
wait_for "alerts in the reopened output" test -s "$OUT"
wait_for "alerts after the output's rename" caught_up
# kube-apiserver: audit-TIMESTAMP.log, then gzip'ed (the plain file goes away under kadet)
write 100
mv "$L" "$T/logs/audit-2026-12-07T16-27-44.123.log"
write 100
gzip "$T/logs/audit-2026-12-07T16-27-44.123.log"
wait_for "kube-apiserver rotation" caught_up
# deleted, then created again
rm -f "$L"
sleep 0.2
write 80
wait_for "a deleted log created again" caught_up
stop_clean
grep -q "followed $N records" "$T/run1.err" || fail "run 1: $(grep followed "$T/run1.err"), expected $N records"
c1=$N

# --- run 2: copytruncate (with a gzip'ed older copy), then kill -9 mid-stream -------------------
start
write 150
wait_for "run 2 start" caught_up
gzip -c "$L.1" > "$L.2.gz" && rm "$L.1"
write 60
cp "$L" "$L.1"
: > "$L" # copytruncate: lines written now land at the start of the same inode
write 120
wait_for "copytruncate" caught_up
grep -q "truncated" "$T/run2.err" && fail "run 2: a copytruncate with its copy lost lines: $(cat "$T/run2.err")"
# copytruncate while kadet is stopped, with more written after it than before: the size alone
# would not show the truncation; the fingerprint does
write 40
kill -STOP "$pid"
wait_for "kadet stopped" stopped
cp "$L" "$L.0"
: > "$L"
write 400
kill -CONT "$pid"
wait_for "copytruncate while stopped" caught_up
rm -f "$L.0"
# two rotations while kadet is stopped: the middle file is never seen live
kill -STOP "$pid"
wait_for "kadet stopped" stopped
write 30
mv "$L" "$T/logs/audit-2026-12-07T17-00-00.000.log"
write 70
mv "$L" "$T/logs/audit-2026-12-07T17-05-00.000.log"
write 25
kill -CONT "$pid"
wait_for "two rotations while stopped" caught_up
write 500
kill9

# --- while kadet is down: more events, copytruncate + rename + gzip ---------------------------
write 90
cp "$L" "$L.3" && : > "$L"
write 110
mv "$L" "$T/logs/audit-2026-12-07T18-00-00.000.log"
gzip "$T/logs/audit-2026-12-07T18-00-00.000.log"
write 45

# --- runs 3 and 4: resume where each content was committed ---------------------------------------------
start
wait_for "resume after kill -9" caught_up
write 200
kill9 # possibly mid-batch
start
write 60
wait_for "resume after the second kill -9" caught_up
stop_clean

# --- a last run: nothing read again --------------------------------------------------------
# (10 new events: once they are out, every older file was looked at, since rotated files are
# read before the live one; anything read again would show in the count)
start
write 10
wait_for "the last run" caught_up
stop_clean
grep -q "followed 10 records" "$T/run$run.err" || fail "the last run read records again: $(grep followed "$T/run$run.err")"

# --- every event exactly once -------------------------------------------------------------------
for f in "$T"/run*.err; do
    grep -q "already emitted" "$f" && fail "$f: an event was read again after its commit: $(cat "$f")"
    grep -q "skipped" "$f" && ! grep -q " 0 skipped" "$f" && fail "$f: records skipped: $(cat "$f")"
done
gen 0 "$N" > "$T/all.log"
"$K" scan --no-progress --rules "$T/rules" --no-state --output "$T/ref.jsonl" "$T/all.log" 2>/dev/null ||
    fail "reference scan"
ids() { grep -ao '"kibana.alert.uuid":"[0-9a-f]*"' "$1" | cut -d'"' -f4 | sort; }
ids "$T/ref.jsonl" > "$T/ref.ids"
cat "$OUT.1" "$OUT.2" "$OUT" > "$T/all.jsonl"
ids "$T/all.jsonl" > "$T/out.ids"
[ "$(wc -l < "$T/ref.ids")" = "$N" ] || fail "reference: $(wc -l < "$T/ref.ids") alerts for $N events"
[ "$(lines)" = "$N" ] || fail "$(lines) alerts written for $N events"
[ "$(tr -d '\000' < "$OUT" | wc -c)" = "$(wc -c < "$OUT")" ] || fail "NUL bytes in the rotated --output"
[ "$(wc -l < "$OUT.1")" -gt 0 ] && [ "$(wc -l < "$OUT.2")" -gt 0 ] && [ "$(wc -l < "$OUT")" -gt 0 ] ||
    fail "--output rotation: no alerts in one of the files"
cmp -s "$T/ref.ids" "$T/out.ids" ||
    fail "alert ids differ from a one-pass scan: $(comm -23 "$T/ref.ids" "$T/out.ids" | wc -l) missing, $(comm -13 "$T/ref.ids" "$T/out.ids" | wc -l) extra"
# follow stamps event.ingested at read time (live input)
head -1 "$T/all.jsonl" | grep -q '"ingested":"20' || fail "no event.ingested in followed events' alerts"
[ "$c1" -gt 0 ] || fail "unreachable"
exit 0
