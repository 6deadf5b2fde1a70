#!/usr/bin/env bash
# kadet serve --follow (docs/internals/serve.md "Sources"): serve follows an audit log while the
# test appends to it and rotates it by rename (audit.log -> audit.log.1), is stopped (SIGTERM)
# while events are appended, restarts, and rotates by copytruncate (logrotate's way: .1 -> .2,
# copy to .1, truncate); alerts go to --output and to a webhook sink (tests/output/receiver.py).
# Every event must be read exactly once: serve's alerts equal a one-pass `kadet scan` of the
# concatenated events by kibana.alert.uuid (no duplicate, none missing), the webhook received the
# same set once each, the records run by both runs add up to the events, and /metrics counts the rotations and truncations.
# No timing is asserted: conditions are polled (60 s at most).
. tests/cli/serve_lib.sh
command -v python3 > /dev/null || { echo "skip: python3 missing (scripts/deps.sh)"; exit 77; }
mkcerts
mkrules
tls_args
L=$T/logs/audit.log
mkdir -p "$T/logs"

python3 tests/output/receiver.py --log "$T/rx.log" > "$T/rx.port" 2> "$T/rx.err" &
for _ in $(seq 600); do [ -s "$T/rx.port" ] && break; sleep 0.1; done
RXPORT=$(head -1 "$T/rx.port")
[ -n "$RXPORT" ] || fail "receiver did not start: $(cat "$T/rx.err")"

# put FROM TO: append deletes FROM..TO-1 to the live log (one event per line) and to all.jsonl
put() {
    local i
    for ((i = $1; i < $2; i++)); do
        e=$(ev "fw-$i" "user-$((i % 9))" "agent/$((i % 4))" delete "$(printf '2026-01-05T00:%02d:%02d.000000Z' $((i / 60)) $((i % 60)))")
        echo "$e" >> "$L"
        echo "$e" >> "$T/all.jsonl"
    done
}
nq() { [ -f "$T/alerts.jsonl" ] && grep -c '"serve-q"' "$T/alerts.jsonl" || echo 0; }
wait_q() { # wait_q N: until N alerts of the query rule (one per event) were written
    for _ in $(seq 600); do
        [ "$(nq)" -ge "$1" ] && return 0
        sleep 0.1
    done
    fail "expected $1 serve-q alerts, got $(nq)"
}
run() { start 127.0.0.1:0 "${TLS_ARGS[@]}" --state "$T/state.db" --output "$T/alerts.jsonl" \
    --follow "$L" --sink "webhook:http://127.0.0.1:$RXPORT/hook,batch_format=array" "$@"; }

put 0 20
run
wait_q 20
# rotation by rename while serve reads
put 20 30
mv "$L" "$L.1"
put 30 50
wait_q 50
m=$(curl -sS "${CURL_CA[@]}" -H "$(bearer)" "$URL/metrics")
echo "$m" | grep -q '^kadet_follow_rotations_total [1-9]' || fail "no rotation counted: $(echo "$m" | grep follow)"
stop
[ "$rc" = 0 ] || fail "first run exited $rc"
# records run by each run (its last log line): they add up to the events written, none twice
recs() { sed -n 's/.*detection stopped: \([0-9]*\) records.*/\1/p' "$T/err"; }
r1=$(recs)
# appended while serve is stopped: read once at the restart, from the committed offset
put 50 70
run
wait_q 70
# copytruncate while serve reads
put 70 80
mv "$L.1" "$L.2"
cp "$L" "$L.1"
: > "$L"
put 80 100
wait_q 100
m=$(curl -sS "${CURL_CA[@]}" -H "$(bearer)" "$URL/metrics")
echo "$m" | grep -q '^kadet_follow_truncations_total [1-9]' || fail "no truncation counted: $(echo "$m" | grep follow)"
echo "$m" | grep -q '^kadet_follow_records_total ' || fail "no kadet_follow_records_total"
echo "$m" | grep -q '^kadet_follow_lost_total 0$' || fail "lines lost: $(echo "$m" | grep follow_lost)"
stop
[ "$rc" = 0 ] || fail "second run exited $rc"
r2=$(recs)
[ "$((r1 + r2))" = 100 ] || fail "records run: $r1 + $r2, expected 100 (an event read twice or missed)"

# the reference: one scan of every event in order
"$K" scan --no-progress --rules "$T/rules" --host-os-type linux --now 2026-01-06T00:00:00Z \
    --no-state "$T/all.jsonl" > "$T/ref.jsonl" 2> "$T/ref.err" ||
    [ $? = 3 ] || fail "reference scan: $(cat "$T/ref.err")"
ids() { jq -r '."kibana.alert.uuid"' "$1" | sort; }
[ "$(grep -c '"serve-q"' "$T/ref.jsonl")" = 100 ] || fail "reference: $(grep -c '"serve-q"' "$T/ref.jsonl") serve-q alerts"
dups=$(ids "$T/alerts.jsonl" | uniq -d | wc -l)
[ "$dups" = 0 ] || fail "$dups alerts written more than once (an event read twice)"
[ "$(ids "$T/alerts.jsonl")" = "$(ids "$T/ref.jsonl")" ] ||
    fail "serve's alerts ($(wc -l < "$T/alerts.jsonl")) differ from the scan's ($(wc -l < "$T/ref.jsonl"))"
got=$(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["status"] == 200:
        for a in json.loads(r["body"]):
            print(a["kibana.alert.uuid"])' "$T/rx.log" | sort)
[ "$got" = "$(ids "$T/ref.jsonl")" ] || fail "the webhook got $(echo "$got" | wc -l) alerts ($(echo "$got" | uniq -d | wc -l) twice), expected $(wc -l < "$T/ref.jsonl")"
echo "ok: serve --follow: $(wc -l < "$T/alerts.jsonl") alerts over rename, restart and copytruncate, each once (file and webhook)"
