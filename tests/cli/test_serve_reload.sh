#!/usr/bin/env bash
# kadet serve reload of the sources and sinks (docs/internals/serve.md "Reload"): the config file
# names a followed file and a file sink; while a client posts batches without pause, the file is
# changed to follow another log and deliver to another sink, and SIGHUP reloads it. No request
# fails, the old log is no longer read, the new one is, the new sink gets the alerts raised after
# the reload and the old one none of them, and every event raises its alert exactly once. A
# config with a broken sink spec is refused by POST /-/reload (422, the log says why) and the running
# sink keeps delivering. No timing is asserted: conditions are polled (60 s at most).
. tests/cli/serve_lib.sh
mkcerts
mkrules
tls_args
A=$T/a.log B=$T/b.log
: > "$A"
: > "$B"
conf() { # conf LOG SINKSPEC: the config file
    cat > "$T/kadet.toml" <<EOF
follow = ["$1"]

[[sink]]
spec = "$2"
EOF
}
# del ID: one delete (raises serve-q) on one line
del() { ev "$1" "user-1" "agent/1" delete; echo; }
nq() { [ -f "$1" ] && grep -c '"serve-q"' "$1" || true; }
wait_q() { # wait_q FILE N
    for _ in $(seq 600); do
        [ "$(nq "$1")" -ge "$2" ] 2> /dev/null && return 0
        sleep 0.1
    done
    fail "expected $2 serve-q alerts in $1, got $(nq "$1")"
}
ids_of() { jq -r 'select(.["kibana.alert.rule.rule_id"] == "serve-q") | .kubernetes.audit.auditID' "$1" | sort; }

conf "$A" "file:$T/s1.jsonl"
start 127.0.0.1:0 "${TLS_ARGS[@]}" --config "$T/kadet.toml" --state "$T/state.db" \
    --output "$T/alerts.jsonl"
for i in $(seq 0 9); do del "a-$i" >> "$A"; done
wait_q "$T/alerts.jsonl" 10
wait_q "$T/s1.jsonl" 10

# a client posting batches of 5 deletes without pause until told to stop
(
    n=0
    while [ ! -f "$T/stop-posting" ] && kill -0 $$ 2> /dev/null; do
        items=()
        for j in 0 1 2 3 4; do items+=("$(del "p-$n-$j")"); done
        evlist "${items[@]}" > "$T/batch"
        code=$(curl -sS -o /dev/null -w '%{http_code}' "${CURL_CA[@]}" "${CERT[@]}" \
            --data-binary "@$T/batch" "$URL/" 2>> "$T/poster.err")
        echo "$code" >> "$T/codes"
        n=$((n + 1))
    done
) &
poster=$!
for _ in $(seq 600); do [ -s "$T/codes" ] && break; sleep 0.1; done

conf "$B" "file:$T/s2.jsonl"
kill -HUP "$pid"
for _ in $(seq 600); do
    grep -q 'reload: .*followed files (replaced).*sinks (replaced)' "$T/err" && break
    grep -q 'reload failed' "$T/err" && fail "reload failed"
    sleep 0.1
done
grep -q 'reload: .*followed files (replaced).*sinks (replaced)' "$T/err" || fail "no reload line"
# after the reload: the old log is not read any more, the new one is
for i in $(seq 0 4); do del "late-a-$i" >> "$A"; done
for i in $(seq 0 9); do del "b-$i" >> "$B"; done
# a broken sink: refused, the running sink stays
conf "$B" "nosuchtype:whatever"
code=$(curl -sS -o "$T/resp" -w '%{http_code}' "${CURL_CA[@]}" -X POST -H "$(bearer)" "$URL/-/reload")
[ "$code" = 422 ] || fail "broken sink reload: $code $(cat "$T/resp")"
grep -q "unknown sink type 'nosuchtype'" "$T/err" || fail "broken sink reload does not say why"
# more posts after the reloads (the poster ran through both)
n0=$(grep -c . "$T/codes")
for _ in $(seq 600); do [ "$(grep -c . "$T/codes")" -ge $((n0 + 10)) ] && break; sleep 0.1; done
touch "$T/stop-posting"
wait "$poster"
posted=$(grep -c . "$T/codes")
bad=$(grep -vc '^200$' "$T/codes" || true)
[ "$bad" = 0 ] || fail "$bad of $posted requests failed during the reloads: $(sort "$T/codes" | uniq -c)"
total=$((10 + 10 + posted * 5))
wait_q "$T/alerts.jsonl" "$total"
# the sinks deliver asynchronously: wait until they have every alert before stopping (a stop
# leaves what is still pending in the outbox for the next start)
for _ in $(seq 300); do
    [ "$({ ids_of "$T/s1.jsonl"; ids_of "$T/s2.jsonl"; } 2>/dev/null | sort -u | wc -l)" -ge "$total" ] && break
    sleep 0.1
done
stop
[ "$rc" = 0 ] || fail "serve exited $rc"

# every event once; the late lines of the old log never
ids_of "$T/alerts.jsonl" > "$T/ids"
[ "$(wc -l < "$T/ids")" = "$total" ] || fail "$(wc -l < "$T/ids") alerts, expected $total"
[ -z "$(uniq -d "$T/ids")" ] || fail "alerts twice: $(uniq -d "$T/ids" | head -3)"
grep -q '^late-a-' "$T/ids" && fail "the old log was read after the reload"
[ "$(grep -c '^b-' "$T/ids")" = 10 ] || fail "the new log was not read in full: $(grep -c '^b-' "$T/ids")"
# the sinks: each alert went to the sink running when it was committed; b-* only to s2
ids_of "$T/s1.jsonl" > "$T/s1.ids"
ids_of "$T/s2.jsonl" > "$T/s2.ids"
grep -q '^b-' "$T/s1.ids" && fail "the old sink got alerts of after the reload"
[ "$(grep -c '^b-' "$T/s2.ids")" = 10 ] || fail "the new sink misses alerts: $(grep -c '^b-' "$T/s2.ids")"
[ "$(sort -u "$T/s1.ids" "$T/s2.ids" | wc -l)" -ge "$total" ] || fail "alerts delivered to no sink"
echo "ok: reload replaced the followed file and the sink under $posted posts (5 events each), none failed"
