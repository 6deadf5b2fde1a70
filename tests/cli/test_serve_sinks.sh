#!/usr/bin/env bash
# kadet serve with outputs (--sink, [[sink]] tables, --outbox, --sink-timeout) against the
# output tests' HTTP receiver (tests/output/receiver.py) on 127.0.0.1:
#   A. --sink webhook: a posted EventList raises alerts; the receiver gets each alert of the
#      run's --output file exactly once (by kibana.alert.uuid); /metrics has the output lines;
#   B. a restart with the same sink in a config file's [[sink]] table (the serve config parser
#      accepts them) and the same outbox: a second batch's alerts arrive, the first batch's are
#      not sent again; the resent first batch is deduplicated (nothing new);
#   C. the receiver down: /metrics shows the output's queue depth, the age of its oldest pending
#      alert and its retries; at SIGTERM serve exits 0 after --sink-timeout with the alerts kept
#      in the outbox; the next start delivers them once;
#   D. a bad --sink is a usage error (exit 1) before anything starts.
# No timing is asserted: conditions are polled (60 s at most).
. tests/cli/serve_lib.sh
command -v python3 > /dev/null || { echo "skip: python3 missing (scripts/deps.sh)"; exit 77; }
RX=tests/output/receiver.py
mkcerts
mkrules
tls_args

rxpid=
start_rx() { # start_rx ARGS...: the receiver; its port in RXPORT
    : > "$T/rx.port"
    python3 "$RX" --log "$T/rx.log" "$@" > "$T/rx.port" 2> "$T/rx.err" &
    rxpid=$!
    for _ in $(seq 600); do
        [ -s "$T/rx.port" ] && break
        sleep 0.1
    done
    RXPORT=$(head -1 "$T/rx.port")
    [ -n "$RXPORT" ] || fail "receiver did not start: $(cat "$T/rx.err")"
}
stop_rx() { kill "$rxpid"; wait "$rxpid" 2>/dev/null; rxpid=; }

# received: the alert ids the receiver accepted (one per line, as often as received)
received() {
    python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["status"] != 200:
        continue
    for a in json.loads(r["body"]):
        print(a["kibana.alert.uuid"])' "$T/rx.log"
}
ids() { jq -r '."kibana.alert.uuid"' "$@"; }
wait_rx() { # wait_rx: until the receiver accepted as many alerts as the --output file has
    for _ in $(seq 600); do
        [ -f "$T/rx.log" ] && [ "$(received | wc -l)" -ge "$(wc -l < "$T/alerts.jsonl")" ] && return 0
        sleep 0.1
    done
    fail "the receiver got $(received | wc -l) alerts, expected $(wc -l < "$T/alerts.jsonl")"
}
# same_once: every alert of the --output file received exactly once, and nothing else
same_once() {
    local want got
    want=$(ids "$T/alerts.jsonl" | sort)
    got=$(received | sort)
    [ -n "$want" ] || fail "$1: no alerts raised"
    [ "$want" = "$got" ] || fail "$1: received $(received | wc -l) ($(received | sort -u | wc -l) distinct), expected $(echo "$want" | wc -l)"
}

batch() { # batch FROM TO: an EventList of deletes FROM..TO-1 (each raises serve-q)
    local evs=() i
    for ((i = $1; i < $2; i++)); do
        evs+=("$(ev "sink-$i" "user-$i" "agent/$i" delete)")
    done
    evlist "${evs[@]}"
}
batch 0 30 > "$T/b1.json"
batch 30 50 > "$T/b2.json"
batch 50 60 > "$T/b3.json"

WH() { echo "webhook:http://127.0.0.1:$RXPORT/hook,batch_format=array,batch=7"; }

# ---- A. --sink webhook ----------------------------------------------------------------------
start_rx
start 127.0.0.1:0 "${TLS_ARGS[@]}" --state "$T/state.db" --output "$T/alerts.jsonl" \
    --sink "$(WH)" --outbox "$T/outbox"
r=$(post "$T/b1.json" "${CERT[@]}")
[ "${r%% *}" = 200 ] || fail "A: post: $r"
wait_alerts "$T/alerts.jsonl" 30
wait_rx
n1=$(wc -l < "$T/alerts.jsonl")
m=$(curl -sS "${CURL_CA[@]}" -H "$(bearer)" "$URL/metrics")
echo "$m" | grep -q "^kadet_output_delivered_total{output=\"[^\"]*\"} $n1\$" ||
    fail "A: /metrics without the output's delivered count: $(echo "$m" | grep output)"
echo "$m" | grep -q '^kadet_output_queue_depth{' || fail "A: no kadet_output_queue_depth"
stop
[ "$rc" = 0 ] || fail "A: serve exited $rc"
same_once A

# ---- B. [[sink]] in the config, the same outbox across a restart ----------------------------
cat > "$T/kadet.toml" <<EOF
state = "$T/state.db"
output = "$T/alerts.jsonl"
outbox = "$T/outbox"

[[sink]]
type = "webhook"
target = "http://127.0.0.1:$RXPORT/hook"
batch_format = "array"
batch = 7
EOF
start 127.0.0.1:0 "${TLS_ARGS[@]}" --config "$T/kadet.toml"
r=$(post "$T/b2.json" "${CERT[@]}")
[ "${r%% *}" = 200 ] || fail "B: post: $r"
wait_alerts "$T/alerts.jsonl" $((n1 + 20))
wait_rx
n2=$(wc -l < "$T/alerts.jsonl")
r=$(post "$T/b1.json" "${CERT[@]}") # resent: deduplicated, raises nothing
[ "${r%% *}" = 200 ] || fail "B: resend: $r"
stop
[ "$rc" = 0 ] || fail "B: serve exited $rc"
[ "$(wc -l < "$T/alerts.jsonl")" = "$n2" ] || fail "B: the resent batch raised alerts again"
same_once B

# ---- C. receiver down at SIGTERM: kept in the outbox, delivered by the next start -----------
stop_rx
start 127.0.0.1:0 "${TLS_ARGS[@]}" --config "$T/kadet.toml" --sink-timeout 300ms
r=$(post "$T/b3.json" "${CERT[@]}")
[ "${r%% *}" = 200 ] || fail "C: post: $r"
wait_alerts "$T/alerts.jsonl" $((n2 + 10))
# /metrics while the receiver is down: the new alerts pending, their age, the failed attempts
for _ in $(seq 600); do
    pend=$(($(wc -l < "$T/alerts.jsonl") - n2))
    m=$(curl -sS "${CURL_CA[@]}" -H "$(bearer)" "$URL/metrics")
    depth=$(echo "$m" | sed -n 's/^kadet_output_queue_depth{output="[^"]*"} //p')
    age=$(echo "$m" | sed -n 's/^kadet_output_oldest_pending_seconds{output="[^"]*"} //p')
    retried=$(echo "$m" | sed -n 's/^kadet_output_retried_total{output="[^"]*"} //p')
    [ "${depth:-0}" = "$pend" ] && [ "${retried:-0}" -ge 1 ] && awk -v a="${age:-0}" 'BEGIN { exit !(a > 0) }' && break
    sleep 0.1
done
[ "${depth:-0}" = "$pend" ] && [ "${retried:-0}" -ge 1 ] && awk -v a="${age:-0}" 'BEGIN { exit !(a > 0) }' ||
    fail "C: /metrics with the receiver down: depth ${depth:-none} (expected $pend), oldest ${age:-none} s, retried ${retried:-none}"
stop
[ "$rc" = 0 ] || fail "C: serve exited $rc"
grep -q "still pending after --sink-timeout" "$T/err" || fail "C: no pending warning: $(tail -5 "$T/err")"
start_rx --port "$RXPORT"
start 127.0.0.1:0 "${TLS_ARGS[@]}" --config "$T/kadet.toml"
wait_rx
stop
[ "$rc" = 0 ] || fail "C: serve exited $rc"
same_once C
stop_rx

# ---- D. a bad sink is a usage error ---------------------------------------------------------
"$K" serve --listen 127.0.0.1:0 --state "$T/s2.db" --sink "webhook:" > /dev/null 2> "$T/d.err"
[ $? = 1 ] || fail "D: bad --sink not exit 1: $(cat "$T/d.err")"
grep -q -- "--sink" "$T/d.err" || fail "D: $(cat "$T/d.err")"
echo "ok: serve sinks (A-D: $(received | wc -l) alerts delivered once)"
