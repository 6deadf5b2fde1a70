# serve_redis_lib.sh - sourced by tests/cli/test_serve_redis*.sh (not a test itself), after
# serve_lib.sh: the posters' batches, the reference, the posters and waiting helpers.
#   make_batches          $NP posters x $NB batches x $NE events in $T/b/P-B.json (each poster
#                         its own users and agents, batch B stamped minute B, so the order between
#                         posters changes no alert); a probe batch of deletes $T/probe.json
#   reference             one clean `kadet scan` of the same events with serve's decoding:
#                         sorted alert ids in $T/ref.ids
#   poster P              post P's batches in order, each until it gets 200 (as kube-apiserver
#                         does), $POST_PAUSE seconds apart (a load that lasts); other answers'
#                         codes go to $T/codes.P; uses PORT_S
#   acks, wait_for WHAT CMD..., is_ready, not_ready, probe_refused
#   cleanup               serve_lib's, and stop_servers (the test's: its Redis processes)
#   setup                 certificates, rules, batches and the reference
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    jobs -p | xargs -r kill -9 2>/dev/null
    stop_servers
    sleep 0.2
    rm -rf "$T"
}
setup() {
    mkcerts
    mkrules
    tls_args
    make_batches
    reference
}
ids() { jq -r '.["kibana.alert.uuid"]' "$@" | sort; }
make_batches() {
    local p b i verb items
    mkdir -p "$T/b"
    for p in $(seq "$NP"); do
        for b in $(seq "$NB"); do
            items=()
            for i in $(seq "$NE"); do
                verb=list
                [ $((i % 10)) = 0 ] && verb=delete
                items+=("$(ev "p$p-b$b-e$i" "u$p-$((i % 4))" "agent-p$p-$(((b + i) % 9))" "$verb" \
                    "$(printf '2026-01-05T%02d:%02d:00.000000Z' $((b / 60)) $((b % 60)))")")
            done
            evlist "${items[@]}" > "$T/b/$p-$b.json"
        done
    done
    items=() # a probe that must never be ingested (deletes alert through the query rule)
    for i in 1 2 3; do items+=("$(ev "probe-$i" "prober" "probe-agent" delete)"); done
    evlist "${items[@]}" > "$T/probe.json"
}
reference() {
    local p b
    for p in $(seq "$NP"); do
        for b in $(seq "$NB"); do jq -c '.items[]' "$T/b/$p-$b.json"; done
    done > "$T/all.jsonl"
    "$K" scan --no-progress --rules "$T/rules" --host-os-type linux --ingested none \
        --now 2026-01-06T00:00:00Z --state "$T/ref.db" --output "$T/ref.jsonl" "$T/all.jsonl" \
        2> "$T/err" || fail "reference scan: $(cat "$T/err")"
    ids "$T/ref.jsonl" > "$T/ref.ids"
    [ "$(wc -l < "$T/ref.ids")" -ge 20 ] || fail "the reference raised only $(wc -l < "$T/ref.ids") alerts"
}
poster() {
    local p=$1 code b
    for b in $(seq "$NB"); do
        for _ in $(seq 3000); do
            code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 "${CURL_CA[@]}" "${CERT[@]}" \
                --data-binary "@$T/b/$p-$b.json" "https://127.0.0.1:$PORT_S/")
            [ "$code" = 200 ] && break
            echo "$code" >> "$T/codes.$p"
            sleep 0.1
        done
        [ "$code" = 200 ] || echo "poster $p batch $b: gave up ($code)" >> "$T/fail"
        echo "$b" >> "$T/acks.$p"
        sleep "$POST_PAUSE"
    done
}
acks() { cat "$T"/acks.* 2> /dev/null | wc -l; }
count_503() { cat "$T"/codes.* 2> /dev/null | grep -c '^503$'; }
ready_code() { curl -s -o "$T/ready" -w '%{http_code}' "${CURL_CA[@]}" "$URL/readyz"; }
wait_for() { # wait_for WHAT CMD...: until CMD succeeds (120 s at most)
    local what=$1
    shift
    for _ in $(seq 1200); do "$@" && return 0; sleep 0.1; done
    fail "waited 120 s for: $what"
}
not_ready() { [ "$(ready_code)" = 503 ] && grep -q "state unreachable" "$T/ready"; }
is_ready() { [ "$(ready_code)" = 200 ]; }
# a post while the state is down: 503 with Retry-After, nothing ingested (1: it was not a 503)
probe_refused() {
    local before code
    before=$(metric kadet_events_received_total)
    code=$(curl -s -D "$T/hdr" -o "$T/resp" -w '%{http_code}' "${CURL_CA[@]}" "${CERT[@]}" \
        --data-binary "@$T/probe.json" "$URL/")
    [ "$code" = 503 ] || return 1
    grep -qi '^retry-after: [0-9]' "$T/hdr" || fail "503 without Retry-After: $(cat "$T/hdr")"
    grep -q "state server is unreachable" "$T/resp" || fail "503 body: $(cat "$T/resp")"
    [ "$(metric kadet_events_received_total)" = "$before" ] || fail "the refused probe was ingested"
}
# after a run: every batch acknowledged once, ready, state up, every event received once
after_load() {
    local name=$1
    [ -f "$T/fail" ] && fail "$name: $(cat "$T/fail")"
    wait_for "$name: ready again" is_ready
    [ "$(metric kadet_state_up)" = 1 ] || fail "$name: kadet_state_up $(metric kadet_state_up) after the outage"
    [ "$(metric kadet_events_received_total)" = $((NP * NB * NE)) ] ||
        fail "$name: received $(metric kadet_events_received_total) of $((NP * NB * NE)) (a 503 ingested?)"
}
# the alerts of serve's --output FILE against the reference: none twice, none lost, none extra
same_alerts() {
    local name=$1 file=$2
    ids "$file" > "$T/$name.ids"
    [ "$(uniq -d "$T/$name.ids" | wc -l)" = 0 ] || fail "$name: $(uniq -d "$T/$name.ids" | wc -l) alert ids twice"
    diff "$T/ref.ids" "$T/$name.ids" > "$T/diff" ||
        fail "$name: alerts differ from the clean scan ($(grep -c '^<' "$T/diff") lost, $(grep -c '^>' "$T/diff") extra)"
}
