#!/usr/bin/env bash
# The web console inside `kadet serve` itself (not the test host): over TLS the session cookie
# carries Secure (route.h's srv_req.tls), and the events serve's detection thread runs reach the
# console's recent-input store (route.h's on_record hook), so an alert's page lists its user's
# events around it (GET /api/v1/alerts/{id}/events) and GET /api/v1/input finds them; plain
# HTTP on the loopback sets no Secure. With a redis:// state (a real redis-server) the console
# lists the alerts and keeps triage in Redis, across a restart and in the export. Certificates are made by openssl
# (serve_lib.sh).
# Conditions are waited for, never timed.
cd "$(dirname "$0")/../.." || exit 1
. tests/cli/serve_lib.sh
command -v jq > /dev/null || { echo "skip: jq missing (scripts/deps.sh --test installs it)"; exit 77; }
mkcerts
mkrules
tls_args
echo "console-analyst-token-0123456789" > "$T/analyst.tok"
echo "console-reader-token-0123456789" > "$T/reader.tok"
cat > "$T/kadet.toml" <<EOF
admin_listen = "127.0.0.1:0"
state = "$T/state.db"
output = "$T/alerts.jsonl"

[[user]]
name = "ana"
role = "analyst"
token_file = "$T/analyst.tok"

[[user]]
name = "rita"
role = "read"
token_file = "$T/reader.tok"
EOF
# admin_port: the admin listener's port from serve's log, into APORT
admin_port() {
  APORT=""
  for _ in $(seq 600); do
    APORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\) (admin.*/\1/p' "$T/err" | head -1)
    [ -n "$APORT" ] && return 0
    sleep 0.1
  done
  fail "no admin listener: $(cat "$T/err")"
}
start 127.0.0.1:0 --config "$T/kadet.toml" --spool-dir "$T/spool" "${TLS_ARGS[@]}"
admin_port
grep -q "console mounted" "$T/err" || { stop; echo "skip: this kadet has no console"; exit 77; }
A="https://127.0.0.1:$APORT"
RD="Authorization: Bearer $(cat "$T/reader.tok")"

# ---- Secure cookie over TLS ----
curl -sS "${CURL_CA[@]}" -D "$T/hdr" -o "$T/out" -d "token=$(cat "$T/analyst.tok")" "$A/api/v1/login" \
  || fail "login over TLS"
grep -qi '^Set-Cookie: kadet_session=[0-9a-f]\{64\}; Path=/; HttpOnly; SameSite=Strict; Secure' "$T/hdr" \
  || fail "no Secure on TLS: $(grep -i set-cookie "$T/hdr")"
CK="Cookie: $(sed -n 's/^[Ss]et-[Cc]ookie: \(kadet_session=[0-9a-f]*\);.*/\1/p' "$T/hdr" | tr -d '\r')"
CSRF=$(jq -r .csrf "$T/out")
curl -sS "${CURL_CA[@]}" -D "$T/hdr" -o "$T/out" -H "$CK" -H "X-CSRF-Token: $CSRF" -X DELETE \
  "$A/api/v1/session" || fail "logout"
grep -qi '^Set-Cookie: kadet_session=;.*Max-Age=0; Secure' "$T/hdr" || fail "logout cookie: $(grep -i set-cookie "$T/hdr")"

# ---- events posted to the webhook reach the recent-input store through the detection thread ----
evlist "$(ev in1 carol kubectl/v1.29 list 2026-01-05T10:00:00.000000Z)" \
       "$(ev in2 carol kubectl/v1.29 get 2026-01-05T10:20:00.000000Z)" \
       "$(ev in3 dave curl/8.0 list 2026-01-05T10:21:00.000000Z)" \
       "$(ev in4 carol novel-agent/1.0 delete 2026-01-05T10:30:00.000000Z)" \
       "$(ev in5 carol kubectl/v1.29 get 2026-01-05T12:00:00.000000Z)" > "$T/b1.json"
r=$(post "$T/b1.json" "${CERT[@]}")
[ "${r%% *}" = 200 ] || fail "post: $r"
for _ in $(seq 600); do
  n=$(curl -sS "${CURL_CA[@]}" -H "$RD" "$A/api/v1/input?user=carol" | jq '.input.matched // 0')
  [ "$n" = 4 ] && break
  sleep 0.1
done
[ "$n" = 4 ] || fail "recent input has $n of carol's 4 events"
curl -sS "${CURL_CA[@]}" -H "$RD" "$A/api/v1/input?user=carol&from=2026-01-05T10:10:00Z&to=2026-01-05T11:00:00Z" > "$T/out"
jq -e '[.input.events[].audit_id] == ["in2", "in4"] and (.input.events[1].raw | fromjson | .verb) == "delete"
       and .input.events[1].user_agent == "novel-agent/1.0" and .input.events[1].decision == "allow"
       and .input.events[1].source_ip == "10.0.0.1" and .input.events[1].resource == "pods"' "$T/out" > /dev/null \
  || fail "input window: $(jq -c '[.input.events[] | {audit_id, verb, time}]' "$T/out")"
# an alert of carol's: her events within +-1 h of it, not the one at 12:00 nor dave's
for _ in $(seq 600); do
  [ -s "$T/alerts.jsonl" ] && grep -q '"in4"' "$T/alerts.jsonl" && break
  sleep 0.1
done
AID=$(jq -r 'select(.kubernetes.audit.auditID == "in4") | .["kibana.alert.uuid"]' "$T/alerts.jsonl" | head -1)
[ -n "$AID" ] || fail "no alert for carol's novel user agent: $(cat "$T/alerts.jsonl")"
for _ in $(seq 600); do
  code=$(curl -sS "${CURL_CA[@]}" -o "$T/out" -w '%{http_code}' -H "$RD" "$A/api/v1/alerts/$AID/events")
  [ "$code" = 200 ] && break
  sleep 0.1
done
[ "$code" = 200 ] || fail "alert events: HTTP $code $(cat "$T/out")"
jq -e '.user == "carol" and [.input.events[].audit_id] == ["in1", "in2", "in4"]' "$T/out" > /dev/null \
  || fail "alert's +-1 h events: $(jq -c '{user, ids: [.input.events[].audit_id]}' "$T/out")"
stop
[ "$rc" = 0 ] || fail "serve exit $rc"

# ---- plain HTTP on the loopback: no Secure ----
start 127.0.0.1:0 --config "$T/kadet.toml" --spool-dir "$T/spool"
admin_port
curl -sS -D "$T/hdr" -o "$T/out" -d "token=$(cat "$T/analyst.tok")" "http://127.0.0.1:$APORT/api/v1/login" \
  || fail "login over HTTP"
grep -qi '^Set-Cookie: kadet_session=' "$T/hdr" || fail "no cookie over HTTP"
grep -i '^Set-Cookie:' "$T/hdr" | grep -qi 'Secure' && fail "Secure over plain HTTP: $(grep -i set-cookie "$T/hdr")"
stop
[ "$rc" = 0 ] || fail "serve exit $rc"

# ---- a redis:// state (a real redis-server): alerts listed from the alerts file, triage kept in
# Redis under kadet's key prefix, so a restart keeps it ----
if command -v redis-server > /dev/null && command -v redis-cli > /dev/null; then
  RPORT=""
  trap '[ -f "$T/redis.pid" ] && kill "$(cat "$T/redis.pid")" 2>/dev/null; cleanup' EXIT
  for i in 1 2 3 4 5 6 7 8; do
    p=$((20000 + (RANDOM * 7 + $$ + i * 101) % 29000))
    redis-server --bind 127.0.0.1 --port "$p" --save '' --appendonly no --daemonize yes \
      --dir "$T" --pidfile "$T/redis.pid" --logfile "$T/redis.log" || continue
    for _ in $(seq 100); do redis-cli -p "$p" ping 2>/dev/null | grep -q PONG && { RPORT=$p; break; }; sleep 0.1; done
    [ -n "$RPORT" ] && break
  done
  [ -n "$RPORT" ] || fail "redis-server did not start: $(tail -5 "$T/redis.log" 2>/dev/null)"
  sed -e "s|^state = .*|state = \"redis://127.0.0.1:$RPORT\"|" -e "s|^output = .*|output = \"$T/alerts-r.jsonl\"|" \
    "$T/kadet.toml" > "$T/redis.toml"
  start 127.0.0.1:0 --config "$T/redis.toml" --spool-dir "$T/spool-r" "${TLS_ARGS[@]}"
  admin_port
  evlist "$(ev r1 erin kubectl/v1.29 list 2026-01-05T10:00:00.000000Z)" \
         "$(ev r2 erin other-agent/2.0 list 2026-01-05T10:05:00.000000Z)" > "$T/b2.json"
  r=$(post "$T/b2.json" "${CERT[@]}")
  [ "${r%% *}" = 200 ] || fail "post: $r"
  for _ in $(seq 600); do
    [ -s "$T/alerts-r.jsonl" ] && break; sleep 0.1
  done
  n_r=$(wc -l < "$T/alerts-r.jsonl")
  [ "$n_r" -ge 1 ] || fail "no alerts with the redis state"
  for _ in $(seq 600); do
    t=$(curl -sS "${CURL_CA[@]}" -H "$RD" "https://127.0.0.1:$APORT/api/v1/alerts" | jq '.total // 0')
    [ "$t" = "$n_r" ] && break; sleep 0.1
  done
  [ "$t" = "$n_r" ] || fail "the console lists $t of $n_r alerts"
  grep -q "triage is off" "$T/err" && fail "triage off with a redis state: $(cat "$T/err")"
  curl -sS "${CURL_CA[@]}" -H "$RD" "https://127.0.0.1:$APORT/api/v1/health" | jq -e '.triage == true' > /dev/null \
    || fail "health does not say triage is on"
  RID=$(jq -r '.["kibana.alert.uuid"]' "$T/alerts-r.jsonl" | head -1)
  code=$(curl -sS "${CURL_CA[@]}" -o "$T/out" -w '%{http_code}' -H "Authorization: Bearer $(cat "$T/analyst.tok")" \
    --data-urlencode "id=$RID" -d "status=closed" --data-urlencode "note=benign: redis test" \
    "https://127.0.0.1:$APORT/api/v1/alerts/triage")
  [ "$code" = 200 ] && jq -e '.changed == 1' "$T/out" > /dev/null || fail "triage with redis: HTTP $code $(cat "$T/out")"
  # kept in Redis under kadet's key prefix (the instance's hash "wf")
  redis-cli -p "$RPORT" --scan --pattern '{kadet:i:*}:wf' > "$T/keys"
  [ "$(wc -l < "$T/keys")" = 1 ] || fail "workflow hash keys: $(cat "$T/keys")"
  redis-cli -p "$RPORT" hget "$(cat "$T/keys")" "$RID" | jq -e '.status == "closed" and .note == "benign: redis test"' > /dev/null \
    || fail "redis hash: $(redis-cli -p "$RPORT" hgetall "$(cat "$T/keys")")"
  curl -sS "${CURL_CA[@]}" -H "$RD" "https://127.0.0.1:$APORT/api/v1/baseline?user=erin" > "$T/out"
  jq -e '(.combinations | length) >= 1' "$T/out" > /dev/null || fail "baseline from redis: $(cat "$T/out")"
  stop
  [ "$rc" = 0 ] || fail "serve exit $rc"
  # a restart keeps the status: the index is rebuilt in memory, the status read back from Redis
  start 127.0.0.1:0 --config "$T/redis.toml" --spool-dir "$T/spool-r" "${TLS_ARGS[@]}"
  admin_port
  for _ in $(seq 600); do
    t=$(curl -sS "${CURL_CA[@]}" -H "$RD" "https://127.0.0.1:$APORT/api/v1/alerts" | jq '.total // 0')
    [ "$t" = "$n_r" ] && break; sleep 0.1
  done
  [ "$t" = "$n_r" ] || fail "after restart the console lists $t of $n_r alerts"
  curl -sS "${CURL_CA[@]}" -H "$RD" "https://127.0.0.1:$APORT/api/v1/alerts/$RID" > "$T/out"
  jq -e '.alert.workflow_status == "closed" and .alert.note == "benign: redis test"' "$T/out" > /dev/null \
    || fail "status lost at restart: $(head -c 600 "$T/out")"
  curl -sS "${CURL_CA[@]}" -H "$RD" "https://127.0.0.1:$APORT/api/v1/alerts?status=closed" | jq -e '.total == 1' > /dev/null \
    || fail "status filter after restart"
  curl -sS "${CURL_CA[@]}" -H "$RD" "https://127.0.0.1:$APORT/api/v1/alerts/export" > "$T/export"
  jq -e --arg id "$RID" 'select(.["kibana.alert.uuid"] == $id) | .["kibana.alert.workflow_status"] == "closed"' "$T/export" \
    | grep -q true || fail "export lacks kibana.alert.workflow_status closed: $(head -c 600 "$T/export")"
  jq -e --arg id "$RID" 'select(.["kibana.alert.uuid"] != $id) | .["kibana.alert.workflow_status"] == "open"' "$T/export" \
    | grep -q false && fail "another alert not open in export"
  stop
  [ "$rc" = 0 ] || fail "serve exit $rc"
  kill "$(cat "$T/redis.pid")" 2>/dev/null
else
  echo "note: redis-server missing: the redis:// state case is not run (scripts/deps.sh --test installs it)"
fi
echo ok
