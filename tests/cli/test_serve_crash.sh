#!/usr/bin/env bash
# kadet serve under concurrent posters that resend every batch until it gets its 200, as
# kube-apiserver does:
#  1. kill -9 in the middle of the load, restart on the same port, the posters go on: the
#     alerts equal those of one clean run (compared by alert id: none lost, none twice);
#  2. reloads (POST /-/reload and SIGHUP) during the load: no request fails, no event is lost,
#     the alerts again equal the clean run's.
# Each poster has its own users and agents (so the order between posters cannot change which event is a
# new term), and batch B of every poster is stamped minute B (so no rule reaches max_signals,
# counted per minute of event time, whatever the order between posters). Conditions are waited for, never timed.
cd "$(dirname "$0")/../.." || exit 1
. tests/cli/serve_lib.sh
mkcerts
mkrules
tls_args
NP=4 NB=${SERVE_CRASH_BATCHES:-10} NE=20
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

# poster P [strict]: post P's batches in order, each until it gets 200; strict: any other
# answer is recorded in $T/fail
poster() {
    local p=$1 strict=${2:-}
    for b in $(seq "$NB"); do
        for _ in $(seq 600); do
            code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 "${CURL_CA[@]}" "${CERT[@]}" \
                --data-binary "@$T/b/$p-$b.json" "https://127.0.0.1:$PORT/")
            [ "$code" = 200 ] && break
            [ -n "$strict" ] && echo "poster $p batch $b: $code" >> "$T/fail"
            sleep 0.2
        done
        [ "$code" = 200 ] || echo "poster $p batch $b: gave up ($code)" >> "$T/fail"
        echo "$b" >> "$T/acks.$p"
    done
}
acks() { cat "$T"/acks.* 2>/dev/null | wc -l; }
ids() { jq -r '.["kibana.alert.uuid"]' "$1" | sort; }
run_dir() { rm -rf "$T/run" "$T"/acks.* "$T/fail"; mkdir -p "$T/run"; }
# --ingested none: the rules' timestamp_override (event.ingested) falls back to the events' own
# times, so max_signals (per rule and minute of event time) does not depend on the wall clock
ARGS=(--spool-dir "$T/run/spool" --state "$T/run/state.db" --output "$T/run/alerts.jsonl"
    --ingested none)

# ---- the clean run: one poster after the other --------------------------------------------------
run_dir
start 127.0.0.1:0 "${TLS_ARGS[@]}" "${ARGS[@]}"
for p in $(seq "$NP"); do poster "$p"; done
stop
[ "$rc" = 0 ] || fail "clean run: exit $rc"
[ -f "$T/fail" ] && fail "clean run: $(cat "$T/fail")"
ids "$T/run/alerts.jsonl" > "$T/clean.ids"
cp "$T/run/alerts.jsonl" "$T/clean.jsonl"
[ -s "$T/clean.ids" ] || fail "the clean run raised no alert"
[ "$(uniq -d "$T/clean.ids")" = "" ] || fail "clean run: an alert id twice"
echo "clean run: $(wc -l < "$T/clean.ids") alerts"

# ---- kill -9 under load -------------------------------------------------------------------------
run_dir
start 127.0.0.1:0 "${TLS_ARGS[@]}" "${ARGS[@]}"
port=$PORT
posters=()
for p in $(seq "$NP"); do
    poster "$p" &
    posters+=($!)
done
for _ in $(seq 1200); do
    [ "$(acks)" -ge $((NP * NB / 3)) ] && break
    sleep 0.05
done
kill -9 "$pid"
wait "$pid" 2>/dev/null
pid=
echo "killed after $(acks) acknowledged batches"
start "127.0.0.1:$port" "${TLS_ARGS[@]}" "${ARGS[@]}"
wait "${posters[@]}"
stop
[ "$rc" = 0 ] || fail "after the crash: exit $rc"
[ -f "$T/fail" ] && fail "$(cat "$T/fail")"
ids "$T/run/alerts.jsonl" > "$T/crash.ids"
diff "$T/clean.ids" "$T/crash.ids" > "$T/diff" || fail "alerts differ from the clean run: $(head "$T/diff")"

# ---- reloads under load -----------------------------------------------------------------------
run_dir
start 127.0.0.1:0 "${TLS_ARGS[@]}" "${ARGS[@]}"
posters=()
for p in $(seq "$NP"); do
    poster "$p" strict &
    posters+=($!)
done
n=0
while [ "$(acks)" -lt $((NP * NB)) ] && [ $n -lt 20 ]; do
    if [ $((n % 2)) = 0 ]; then
        code=$(curl -s -o "$T/resp" -w '%{http_code}' "${CURL_CA[@]}" -H "$(bearer)" -X POST \
            "$URL/-/reload")
        [ "$code" = 200 ] || fail "reload under load: $code $(cat "$T/resp")"
    else
        kill -HUP "$pid"
    fi
    n=$((n + 1))
    sleep 0.2
done
wait "${posters[@]}"
[ -f "$T/fail" ] && fail "requests failed during reloads: $(head -3 "$T/fail")"
[ "$(metric kadet_events_received_total)" = $((NP * NB * NE)) ] ||
    fail "received $(metric kadet_events_received_total) of $((NP * NB * NE))"
stop
[ "$rc" = 0 ] || fail "reload run: exit $rc"
grep -q "reload: " "$T/err" || fail "no reload happened"
ids "$T/run/alerts.jsonl" > "$T/reload.ids"
diff "$T/clean.ids" "$T/reload.ids" > "$T/diff" || fail "alerts differ after reloads: $(head "$T/diff")"
echo "ok ($n reloads)"
