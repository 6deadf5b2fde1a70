#!/usr/bin/env bash
# kadet serve: the HTTPS webhook with client certificates and a bearer token (certificates made
# by openssl here), what is refused and that nothing of it is ingested, gzip, the dedup of a
# resent batch, the endpoints (404/405, /healthz, /readyz, /metrics), POST /-/reload and SIGHUP
# (a broken rule file keeps the old rules), plain HTTP refused off loopback, the config file
# and flags over it, a stalled client (slowloris) that does not hold up another client, and
# SIGTERM -> exit 0. Conditions are waited for, never timed; the slowloris bound is serve's own
# --timeout (a server blocked by the stalled clients would answer only after it).
cd "$(dirname "$0")/../.." || exit 1
. tests/cli/serve_lib.sh
mkcerts
mkrules
tls_args

# ---- refusals at start ----------------------------------------------------------------------
"$K" serve --listen 0.0.0.0:0 --spool-dir "$T/x" --rules "$T/rules" > /dev/null 2> "$T/e1"
[ $? = 1 ] || fail "plain HTTP on 0.0.0.0 must be refused (exit 1)"
grep -q "refusing plain HTTP" "$T/e1" || fail "no reason for the refusal: $(cat "$T/e1")"
"$K" serve --listen 0.0.0.0:0 --tls-cert "$T/tls/server.pem" --tls-key "$T/tls/server.key" \
    --spool-dir "$T/x" --rules "$T/rules" > /dev/null 2> "$T/e1"
[ $? = 1 ] || fail "TLS without client authentication off loopback must be refused"
grep -q "without client authentication" "$T/e1" || fail "no reason: $(cat "$T/e1")"
"$K" serve --spool-dir "$T/x" --rules "$T/rules" > /dev/null 2> "$T/e1"
[ $? = 1 ] || fail "neither --listen nor --follow: usage error expected"
grep -q "nothing to receive" "$T/e1" || fail "no reason: $(cat "$T/e1")"
# (--follow itself: tests/cli/test_serve_follow.sh)
"$K" serve --bogus > /dev/null 2>&1
[ $? = 1 ] || fail "a bad option is a usage error"
"$K" serve --help | grep -q "usage: kadet serve" || fail "--help"

# ---- a config file, flags over it -------------------------------------------------------------
cat > "$T/kadet.toml" <<EOF
listen = "127.0.0.1:1"
tls_cert = "$T/tls/server.pem"
tls_key = "$T/tls/server.key"
client_ca = "$T/tls/ca.pem"
token_file = "$T/tls/token"
rules = ["$T/rules"]
spool_dir = "$T/spool"
output = "$T/alerts.jsonl"
spool_max = "64M"
log_format = "json"
EOF
cat > "$T/bad.toml" <<EOF
listen = "127.0.0.1:0"
spool_max = 12.5
EOF
"$K" serve --config "$T/bad.toml" > /dev/null 2> "$T/e1"
[ $? = 1 ] || fail "a bad config file is a usage error"
grep -q "bad.toml:2:1: error: spool_max: expected a string, got float" "$T/e1" ||
    fail "config error not positioned: $(cat "$T/e1")"

# the file says port 1; the flag (start's --listen) overrides it
start 127.0.0.1:0 --config "$T/kadet.toml"
grep -m1 'listening on' "$T/err" | jq -e '.level == "info" and (.msg | startswith("listening on"))' > /dev/null ||
    fail "--log-format json from the file: $(head -1 "$T/err")"

# ---- who may post -----------------------------------------------------------------------------
evlist "$(ev a1 alice kubectl/v1.29)" "$(ev a2 bob curl/8.0)" "$(ev a3 alice kubectl/v1.29 delete)" \
    > "$T/b1.json"
evlist "$(ev m1 mallory evil/1.0 delete)" > "$T/evil.json"
r=$(post "$T/b1.json" "${CERT[@]}")
[ "$r" = '200 {"records":3,"duplicates":0}' ] || fail "client certificate: $r"
evlist "$(ev t1 carol kubectl/v1.30 delete)" > "$T/b2.json"
r=$(post "$T/b2.json" -H "$(bearer)")
[ "$r" = '200 {"records":1,"duplicates":0}' ] || fail "bearer token: $r"
r=$(post "$T/evil.json")
[ "${r%% *}" = 401 ] || fail "no credentials: $r"
r=$(post "$T/evil.json" -H "Authorization: Bearer not-the-token-0123456789")
[ "${r%% *}" = 403 ] || fail "wrong token: $r"
r=$(post "$T/evil.json" --cert "$T/tls/rogue.pem" --key "$T/tls/rogue.key")
[ "${r%% *}" = 403 ] || fail "certificate of another CA: $r"
code=$(curl -s -o /dev/null -w '%{http_code}' --data-binary "@$T/evil.json" "http://127.0.0.1:$PORT/")
[ "$code" = 000 ] || fail "plain HTTP to the TLS port answered $code"
# the resent batch: every record a duplicate
r=$(post "$T/b1.json" "${CERT[@]}")
[ "$r" = '200 {"records":0,"duplicates":3}' ] || fail "resent batch: $r"
# gzip
evlist "$(ev g1 dave kubectl/v1.31 delete)" | gzip -c > "$T/b3.gz"
r=$(post "$T/b3.gz" -H "$(bearer)" -H "Content-Encoding: gzip")
[ "$r" = '200 {"records":1,"duplicates":0}' ] || fail "gzip: $r"
printf 'garbage' > "$T/bad.gz"
r=$(post "$T/bad.gz" -H "$(bearer)" -H "Content-Encoding: gzip")
[ "${r%% *}" = 400 ] || fail "corrupt gzip: $r"
r=$(post "$T/b1.json" -H "$(bearer)" -H "Content-Encoding: br")
[ "${r%% *}" = 415 ] || fail "unknown encoding: $r"
printf 'not json' > "$T/nj"
r=$(post "$T/nj" -H "$(bearer)")
[ "${r%% *}" = 400 ] || fail "not JSON: $r"

# three deletes -> three query alerts (alice, carol, dave), within the commit interval
wait_alerts "$T/alerts.jsonl" 3
sleep 0.5 # nothing else may follow (the refused mallory batch)
grep -q mallory "$T/alerts.jsonl" && fail "a refused request was ingested"
[ "$(metric kadet_events_received_total)" = 5 ] || fail "received: $(metric kadet_events_received_total)"
[ "$(metric kadet_events_duplicate_total)" = 3 ] || fail "duplicates counted"
grep -h mallory "$T"/spool/*.ksp && fail "a refused request reached the spool"
for u in alice carol dave; do
    jq -r 'select(.["kibana.alert.rule.rule_id"] == "serve-q") | .user.name' "$T/alerts.jsonl" |
        grep -qx "$u" || fail "no query alert for $u"
done

# ---- endpoints --------------------------------------------------------------------------------
c() { curl -s -o "$T/resp" -w '%{http_code}' "${CURL_CA[@]}" "$@"; }
[ "$(c "$URL/healthz")" = 200 ] || fail "/healthz"
[ "$(c "$URL/readyz")" = 200 ] && grep -qx ready "$T/resp" || fail "/readyz: $(cat "$T/resp")"
[ "$(c "$URL/nope")" = 404 ] || fail "404"
[ "$(c "$URL/")" = 405 ] || fail "GET on the webhook path: 405"
[ "$(c -X POST "$URL/healthz")" = 405 ] || fail "POST /healthz: 405"
[ "$(c "$URL/-/reload")" = 405 ] || fail "GET /-/reload: 405"
[ "$(c "$URL/metrics")" = 401 ] || fail "/metrics without credentials"
[ "$(c -H "$(bearer)" "$URL/metrics")" = 200 ] || fail "/metrics"
for m in kadet_webhook_requests_total kadet_events_skipped_total kadet_rule_matched_total \
    kadet_rule_alerts_total kadet_rule_excepted_total kadet_rule_suppressed_total \
    kadet_request_duration_seconds_bucket kadet_commit_duration_seconds_bucket \
    kadet_receipt_to_alert_seconds_bucket kadet_spool_bytes kadet_state_combinations \
    kadet_output_errors_total; do
    grep -q "^$m" "$T/resp" || fail "metric $m missing"
done
grep -q '^kadet_rule_alerts_total{rule_id="serve-q"} 3$' "$T/resp" || fail "per-rule alerts"
grep -q '^kadet_webhook_requests_total{code="401"} 1$' "$T/resp" || fail "401 counted"

# ---- reload -----------------------------------------------------------------------------------
[ "$(c -X POST "$URL/-/reload")" = 401 ] || fail "reload without credentials"
[ "$(c -X POST -H "$(bearer)" "$URL/-/reload")" = 200 ] || fail "reload: $(cat "$T/resp")"
# a broken rule file: refused, the old rules go on (a delete still alerts)
printf '[rule\nname = \n' > "$T/rules/broken.toml"
[ "$(c -X POST -H "$(bearer)" "$URL/-/reload")" = 422 ] || fail "broken reload: $(cat "$T/resp")"
grep -q "broken.toml" "$T/resp" || fail "the reason names the file: $(cat "$T/resp")"
kill -HUP "$pid"
for _ in $(seq 600); do
    grep -q "SIGHUP" "$T/err" && grep -c "reload failed" "$T/err" | grep -q 2 && break
    sleep 0.1
done
grep -c "reload failed" "$T/err" | grep -q 2 || fail "SIGHUP with a broken rule: $(tail -3 "$T/err")"
kill -0 "$pid" || fail "SIGHUP stopped serve"
evlist "$(ev h1 erin kubectl/v1.29 delete)" > "$T/b4.json"
r=$(post "$T/b4.json" "${CERT[@]}")
[ "${r%% *}" = 200 ] || fail "post after the broken reload: $r"
wait_alerts "$T/alerts.jsonl" 4
rm "$T/rules/broken.toml"
[ "$(c -X POST -H "$(bearer)" "$URL/-/reload")" = 200 ] || fail "reload after the fix"

# ---- a stalled client does not hold up another one --------------------------------------------
# 8 TLS clients that send half a header and stall; serve's --timeout is 30 s (the default), so a
# server blocked by them would answer the next client only after 30 s: curl gives up at 15 s
slow=()
for i in $(seq 8); do
    (printf 'POST / HTTP/1.1\r\nHost: x\r\nContent-Len'; sleep 40) |
        openssl s_client -quiet -connect "127.0.0.1:$PORT" -CAfile "$T/tls/ca.pem" \
            -cert "$T/tls/client.pem" -key "$T/tls/client.key" > /dev/null 2>&1 &
    slow+=($!)
done
for _ in $(seq 100); do
    n=$(metric kadet_http_connections)
    [ "${n:-0}" -ge 9 ] && break
    sleep 0.1
done
[ "${n:-0}" -ge 9 ] || fail "the stalled clients did not connect ($n connections)"
evlist "$(ev s1 frank kubectl/v1.29 delete)" > "$T/b5.json"
r=$(post "$T/b5.json" "${CERT[@]}" --max-time 15)
[ "${r%% *}" = 200 ] || fail "a batch behind 8 stalled clients: $r $(cat "$T/curl.err")"
for p in "${slow[@]}"; do kill -0 "$p" 2>/dev/null || fail "a stalled client ended early"; done
kill "${slow[@]}" 2>/dev/null
wait_alerts "$T/alerts.jsonl" 5

# ---- SIGTERM ----------------------------------------------------------------------------------
stop
[ "$rc" = 0 ] || fail "SIGTERM: exit $rc"
grep -q '"stopped"' "$T/err" || fail "no 'stopped' line"
n=$(wc -l < "$T/alerts.jsonl")
# restart on the same spool and state: nothing is raised again
start 127.0.0.1:0 --config "$T/kadet.toml"
r=$(post "$T/b1.json" "${CERT[@]}")
[ "${r%% *}" = 200 ] || fail "after restart: $r"
sleep 0.5
stop
[ "$rc" = 0 ] || fail "second SIGTERM: exit $rc"
[ "$(wc -l < "$T/alerts.jsonl")" = "$n" ] || fail "alerts raised again after a restart"
[ "$(jq -r '.["kibana.alert.uuid"]' "$T/alerts.jsonl" | sort | uniq -d)" = "" ] ||
    fail "an alert id twice"
echo "ok"
