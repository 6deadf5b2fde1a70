#!/usr/bin/env bash
# The web console's JSON API (serve/console*.c, docs/api.md) on its test host
# (tools/console_host.c, the sanitizer build): a generated 5-day log scanned at start, then:
# authentication is required (401), a read-only role cannot triage (403), a session cookie from
# POST /api/v1/login is HttpOnly + SameSite=Strict and needs the CSRF header to change
# anything, bad parameters get 400 with a message, keyset pages stay stable while alerts are
# inserted, triage persists across a restart and is exported with the alerts, an exception
# added from an alert stops the next matching event (and not a different one), SSE announces
# new alerts, the rules list says why a rule does not run, an alert's user's events +-1 h from the
# recent-input store match the log, sessions end when idle and at their lifetime (shortened by
# the test hooks KADET_TEST_SESSION_*), logins are rate-limited per user and per address (429).
# No timing is asserted: conditions are waited for (60 s at most).
set -u
HOST=${CONSOLE_HOST:-build/asan/console-host}
GEN=${KADET_GEN:-build/kadet-gen}
[ -x "$HOST" ] || { echo "skip: $HOST not built (make build/asan/console-host)"; exit 77; }
[ -x "$GEN" ] || { echo "skip: $GEN not built (make tools)"; exit 77; }
for c in curl jq; do
  command -v $c > /dev/null || { echo "skip: $c missing (scripts/deps.sh --test installs it)"; exit 77; }
done
T=$(mktemp -d)
pid= sse=
cleanup() {
  [ -n "$sse" ] && kill "$sse" 2>/dev/null
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$T/host.log" ] && tail -20 "$T/host.log"; exit 1; }

mkdir -p "$T/rules" "$T/exc"
cp rules/*.toml tests/cases/rules-unsupported-type/rules/threshold.toml "$T/rules/" || fail "rules"
"$GEN" --seed 11 --days 5 --events 10000 --novel 12 --out "$T/log" || fail "gen"
echo "admin-token-0123456789" > "$T/admin.tok"
echo "analyst-token-0123456789" > "$T/analyst.tok"
echo "reader-token-0123456789" > "$T/reader.tok"

start_host() {
  rm -f "$T/port"
  "$HOST" --rules "$T/rules" --exceptions "$T/exc" --state "$T/state.db" \
    --output "$T/alerts.ndjson" --user boss:admin:"$T/admin.tok" \
    --user ana:analyst:"$T/analyst.tok" --user rita:read:"$T/reader.tok" \
    --port-file "$T/port" "$@" >> "$T/host.log" 2>&1 &
  pid=$!
  for _ in $(seq 3000); do [ -s "$T/port" ] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  [ -s "$T/port" ] || fail "host did not start"
  U="http://127.0.0.1:$(cat "$T/port")"
}
stop_host() { kill "$pid"; wait "$pid"; local rc=$?; pid=; [ $rc = 0 ] || fail "host exit $rc"; }
start_host --scan "$T/log"

ADM="Authorization: Bearer $(cat "$T/admin.tok")"
ANA="Authorization: Bearer $(cat "$T/analyst.tok")"
RD="Authorization: Bearer $(cat "$T/reader.tok")"
# get CODE URL [curl args]: the body in $T/out, the status checked
get() {
  local want=$1 url=$2; shift 2
  local code
  code=$(curl -s -o "$T/out" -w '%{http_code}' "$@" "$U$url") || fail "curl $url"
  [ "$code" = "$want" ] || fail "$url: HTTP $code, want $want: $(head -c 300 "$T/out")"
}

# ---- authentication ----
get 401 /api/v1/alerts
jq -e '.error | test("authentication required")' "$T/out" > /dev/null || fail "401 message"
get 401 /api/v1/alerts -H "Authorization: Bearer wrong"
get 401 /api/v1/rules
get 200 /ui/                                  # the pages hold no data: served to anyone
grep -q 'app.js' "$T/out" || fail "index.html"
get 200 /ui/app.js
get 404 /ui/nope.js
total=$(wc -l < "$T/alerts.ndjson")
[ "$total" -gt 20 ] || fail "only $total alerts in the generated log"
get 200 "/api/v1/alerts?limit=5" -H "$RD"
[ "$(jq .total "$T/out")" = "$total" ] || fail "API total $(jq .total "$T/out") != $total lines"
[ "$(jq '.alerts | length' "$T/out")" = 5 ] || fail "limit 5"
ID=$(jq -r '.alerts[0].id' "$T/out")

# ---- roles ----
get 403 /api/v1/alerts/triage -H "$RD" -d "id=$ID&status=closed"
jq -e '.error | test("analyst")' "$T/out" > /dev/null || fail "403 message"
get 403 /api/v1/exceptions -H "$RD" -d "alert=$ID&field=user.name&value=x"
get 403 /api/v1/rules/reload -H "$ANA" -X POST
get 200 /api/v1/alerts/triage -H "$ANA" -d "id=$ID&status=acknowledged&note=on+it"
jq -e '.changed == 1' "$T/out" > /dev/null || fail "triage changed"
get 200 "/api/v1/alerts/$ID" -H "$RD"
jq -e '.alert.workflow_status == "acknowledged" and .alert.note == "on it" and .alert.status_by == "ana"
       and .document["kibana.alert.workflow_status"] == "acknowledged"' "$T/out" > /dev/null \
  || fail "triage not stored: $(jq -c .alert "$T/out")"

# ---- session cookie and CSRF ----
get 401 /api/v1/login -d "token=nope"
get 400 /api/v1/login -d "x=1"
curl -s -D "$T/hdr" -o "$T/out" -d "token=$(cat "$T/analyst.tok")" "$U/api/v1/login" || fail "login"
grep -qi '^Set-Cookie: kadet_session=[0-9a-f]\{64\}; Path=/; HttpOnly; SameSite=Strict' "$T/hdr" \
  || fail "cookie attributes: $(grep -i set-cookie "$T/hdr")"
CK="Cookie: $(sed -n 's/^[Ss]et-[Cc]ookie: \(kadet_session=[0-9a-f]*\);.*/\1/p' "$T/hdr" | tr -d '\r')"
CSRF=$(jq -r .csrf "$T/out")
[ "$(jq -r .role "$T/out")" = analyst ] || fail "session role"
get 200 /api/v1/session -H "$CK"
[ "$(jq -r .principal "$T/out")" = ana ] || fail "session principal"
get 403 /api/v1/alerts/triage -H "$CK" -d "id=$ID&status=closed"
jq -e '.error | test("CSRF")' "$T/out" > /dev/null || fail "CSRF message"
get 403 /api/v1/alerts/triage -H "$CK" -H "X-CSRF-Token: 0000" -d "id=$ID&status=closed"
get 200 /api/v1/alerts/triage -H "$CK" -H "X-CSRF-Token: $CSRF" -d "id=$ID&status=closed"
get 200 /api/v1/session -H "$CK" -H "X-CSRF-Token: $CSRF" -X DELETE
get 401 /api/v1/alerts -H "$CK"

# ---- bad parameters: 400 with a message ----
for q in "bogus=1" "severity=urgent" "status=done" "from=yesterday" "limit=0" "limit=501" \
         "limit=x" "after=nocolon" "after=12:" "from=2026-01-08T00:00:00Z&to=2026-01-07T00:00:00Z"; do
  get 400 "/api/v1/alerts?$q" -H "$RD"
  jq -e '.error | length > 5' "$T/out" > /dev/null || fail "no message for $q"
done
get 400 "/api/v1/alerts/timeline?bucket=1s" -H "$RD"
get 400 "/api/v1/baseline" -H "$RD"
get 400 /api/v1/alerts/triage -H "$ANA" -d "id=$ID&status=maybe"
get 400 /api/v1/alerts/triage -H "$ANA" -d "status=closed"
get 404 /api/v1/alerts/triage -H "$ANA" -d "id=$ID&id=ffffffffffffffffffffffffffffffff&status=open"
get 200 "/api/v1/alerts/$ID" -H "$RD"
[ "$(jq -r .alert.workflow_status "$T/out")" = closed ] || fail "a failed bulk call changed something"
get 404 /api/v1/alerts/ffffffffffffffffffffffffffffffff -H "$RD"
get 404 /api/v1/nothing -H "$RD"
get 405 /api/v1/alerts -H "$ANA" -X DELETE

# ---- filters ----
get 200 "/api/v1/alerts?status=closed" -H "$RD"
[ "$(jq .total "$T/out")" = 1 ] || fail "status filter"
U1=$(jq -r '.alerts[0].user' "$T/out")
n_user=$(jq -c --arg u "$U1" 'select(.user.name == $u or .kubernetes.audit.user.username == $u)' "$T/alerts.ndjson" | wc -l)
get 200 "/api/v1/alerts?user=$(jq -rn --arg u "$U1" '$u|@uri')&limit=500" -H "$RD"
[ "$(jq .total "$T/out")" = "$n_user" ] || fail "user filter: $(jq .total "$T/out") != $n_user"
n_med=$(jq -c 'select(.["kibana.alert.severity"] == "medium")' "$T/alerts.ndjson" | wc -l)
get 200 "/api/v1/alerts?severity=medium" -H "$RD"
[ "$(jq .total "$T/out")" = "$n_med" ] || fail "severity filter"
get 200 "/api/v1/alerts/timeline?bucket=1d" -H "$RD"
[ "$(jq '[.buckets[].n] | add' "$T/out")" = "$total" ] || fail "timeline sum"

# ---- keyset pages stay stable while alerts are inserted ----
get 200 "/api/v1/alerts?limit=500" -H "$RD"
jq -r '.alerts[].id' "$T/out" > "$T/all0"
get 200 "/api/v1/alerts?limit=7" -H "$RD"
jq -r '.alerts[].id' "$T/out" > "$T/walk"
cur=$(jq -r .next "$T/out")
# new alerts while paging: novel user agents at the newest and at an old event time
src=$(grep '"ResponseComplete"' "$T/log" | tail -1)
for i in 1 2 3; do
  echo "$src" | jq -c --arg i "$i" '.auditID = "aaaaaaaa-0000-4000-8000-00000000000\($i)"
    | .userAgent = "paging-test/\($i)" | .stageTimestamp = "2026-01-20T00:00:0\($i).000000Z"
    | .requestReceivedTimestamp = .stageTimestamp'
done > "$T/new.ndjson"
echo "$src" | jq -c '.auditID = "aaaaaaaa-0000-4000-8000-000000000009" | .userAgent = "paging-test/old"
  | .stageTimestamp = "2026-01-05T00:00:00.500000Z" | .requestReceivedTimestamp = .stageTimestamp' >> "$T/new.ndjson"
get 200 /host/ingest -H "$ADM" --data-binary @"$T/new.ndjson"
[ "$(jq .alerts "$T/out")" -ge 2 ] || fail "the paging inserts raised no alerts: $(cat "$T/out")"
for _ in $(seq 600); do
  get 200 "/api/v1/alerts?limit=1" -H "$RD"; [ "$(jq .total "$T/out")" -gt "$total" ] && break; sleep 0.1
done
while [ "$cur" != null ]; do
  get 200 "/api/v1/alerts?limit=7&after=$cur" -H "$RD"
  jq -r '.alerts[].id' "$T/out" >> "$T/walk"
  cur=$(jq -r .next "$T/out")
done
[ "$(sort "$T/walk" | uniq -d | wc -l)" = 0 ] || fail "a page repeated an alert"
grep -vxF -f "$T/walk" "$T/all0" > "$T/missed"
[ -s "$T/missed" ] && fail "pages skipped alerts: $(head -3 "$T/missed")"
grep -xF -f "$T/all0" "$T/walk" | cmp -s - "$T/all0" || fail "pages changed the order"

# ---- SSE: new alerts are announced ----
curl -s -N -H "$RD" "$U/api/v1/events" > "$T/sse" &
sse=$!
for _ in $(seq 600); do grep -q 'kadet console' "$T/sse" && break; sleep 0.1; done
echo "$src" | jq -c '.auditID = "bbbbbbbb-0000-4000-8000-000000000001" | .userAgent = "sse-test/1"
  | .stageTimestamp = "2026-01-20T01:00:00.000000Z" | .requestReceivedTimestamp = .stageTimestamp' > "$T/sse.ndjson"
get 200 /host/ingest -H "$ADM" --data-binary @"$T/sse.ndjson"
for _ in $(seq 600); do grep -q '^event: alerts' "$T/sse" && break; sleep 0.1; done
grep -q '^data: {"added":[1-9]' "$T/sse" || fail "no SSE event: $(cat "$T/sse")"
kill "$sse"; wait "$sse" 2>/dev/null; sse=

# ---- rules ----
get 200 /api/v1/rules -H "$RD"
jq -e '[.rules[] | select(.status == "unsupported")] | length == 1 and (.[0].reason | length > 3)
       and .[0].type == "threshold"' "$T/out" > /dev/null || fail "unsupported rule and reason"
jq -e '[.rules[] | select(.status == "running")] | length == 3' "$T/out" > /dev/null || fail "running rules"
jq -e '([.rules[].alerts_7d] | add) >= '"$total" "$T/out" > /dev/null || fail "7d counts"

# ---- baseline ----
get 200 "/api/v1/baseline?user=$(jq -rn --arg u "$U1" '$u|@uri')" -H "$RD"
jq -e --arg u "$U1" '(.combinations | length) > 0 and all(.combinations[]; (.values | index($u)) != null)' \
  "$T/out" > /dev/null || fail "baseline of $U1"
get 200 /api/v1/health -H "$RD"
jq -e '.alerts_indexed > 0 and (.metrics | test("kadet_events_total")) and .state_stats.combinations > 0' \
  "$T/out" > /dev/null || fail "health"

# ---- exception from an alert: the next matching event does not alert, another one does ----
EID=$(jq -r 'select(.["kibana.alert.rule.type"] == "new_terms") | .["kibana.alert.uuid"]' "$T/alerts.ndjson" | head -1)
get 200 "/api/v1/exceptions/prefill?alert=$EID" -H "$ANA"
jq -e '(.entries | length) >= 2 and .would_suppress >= 1' "$T/out" > /dev/null || fail "prefill: $(cat "$T/out")"
args=()
while IFS=$'\t' read -r f v; do args+=(--data-urlencode "field=$f" --data-urlencode "value=$v"); done \
  < <(jq -r '.entries[] | [.field, .value] | @tsv' "$T/out")
get 200 /api/v1/exceptions -H "$ANA" --data-urlencode "alert=$EID" "${args[@]}" -d dry_run=1
jq -e '.written == false and .would_suppress >= 1' "$T/out" > /dev/null || fail "dry run"
[ -z "$(ls "$T/exc")" ] || fail "dry run wrote a file"
get 400 /api/v1/exceptions -H "$ANA" --data-urlencode "alert=$EID" "${args[@]}" -d expires=2001-01-01T00:00:00Z
get 201 /api/v1/exceptions -H "$ANA" --data-urlencode "alert=$EID" "${args[@]}" -d note=known
jq -e '.written and .reloaded' "$T/out" > /dev/null || fail "exception not written: $(cat "$T/out")"
f=$(jq -r .file "$T/out")
grep -q '^\[\[exceptions.items.entries\]\]' "$f" || fail "not a detection-rules file"
get 200 /api/v1/exceptions -H "$RD"
jq -e '.lists | length == 1' "$T/out" > /dev/null || fail "exception list not loaded"
aud=$(jq -r --arg id "$EID" 'select(.["kibana.alert.uuid"] == $id) | .kubernetes.audit.auditID' "$T/alerts.ndjson")
ev=$(grep "\"$aud\"" "$T/log" | grep '"ResponseComplete"' | head -1)
[ -n "$ev" ] || fail "source event of $EID"
echo "$ev" | jq -c '.auditID = "cccccccc-0000-4000-8000-000000000001" | .stageTimestamp = "2026-01-21T00:00:00.000000Z"
  | .requestReceivedTimestamp = .stageTimestamp' > "$T/same.ndjson"
get 200 /host/ingest -H "$ADM" --data-binary @"$T/same.ndjson"
[ "$(jq .alerts "$T/out")" = 0 ] || fail "the excepted event alerted: $(cat "$T/out")"
echo "$ev" | jq -c '.auditID = "cccccccc-0000-4000-8000-000000000002" | .userAgent = "not-excepted/1"
  | .stageTimestamp = "2026-01-21T00:00:01.000000Z" | .requestReceivedTimestamp = .stageTimestamp' > "$T/other.ndjson"
get 200 /host/ingest -H "$ADM" --data-binary @"$T/other.ndjson"
[ "$(jq .alerts "$T/out")" -ge 1 ] || fail "a different user agent did not alert: $(cat "$T/out")"

# ---- bulk triage, reload, proposals ----
get 200 "/api/v1/alerts?limit=3&status=open" -H "$RD"
B1=$(jq -r '.alerts[1].id' "$T/out"); B2=$(jq -r '.alerts[2].id' "$T/out")
get 200 /api/v1/alerts/triage -H "$ANA" -d "id=$B1&id=$B2&status=acknowledged&note=bulk"
jq -e '.changed == 2' "$T/out" > /dev/null || fail "bulk triage: $(cat "$T/out")"
for b in "$B1" "$B2"; do
  get 200 "/api/v1/alerts/$b" -H "$RD"
  jq -e '.alert.workflow_status == "acknowledged" and .alert.note == "bulk"' "$T/out" > /dev/null || fail "bulk: $b"
done
get 200 /api/v1/rules/reload -H "$ADM" -X POST
jq -e '.ok == true' "$T/out" > /dev/null || fail "admin reload: $(cat "$T/out")"
get 200 /api/v1/proposals -H "$RD"
jq -e '.proposals | type == "array"' "$T/out" > /dev/null || fail "proposals list"
get 403 /api/v1/proposals -H "$RD" -d "rule=x"
get 400 /api/v1/proposals -H "$ANA" -d "rule="
get 404 /api/v1/proposals -H "$ANA" -d "rule=no-such-rule"
# ---- no external network: the pages refer to nothing outside the console ----
for a in /ui/ /ui/app.js /ui/app.css; do
  get 200 "$a"
  grep -Eo '(src|href|url)[=(]["'"'"']?(https?:)?//[^"'"'"' )]*' "$T/out" && fail "$a refers outside the console"
  grep -Eo 'https?://[^"'"'"' )]*' "$T/out" | grep -v '^http://www.w3.org/2000/svg$' && fail "$a names an external URL"
done

# ---- recent input: the alert's user's events +-1 h, as the log has them ----
cat "$T/log" "$T/new.ndjson" "$T/sse.ndjson" "$T/same.ndjson" "$T/other.ndjson" > "$T/all-input"
n_input=$(wc -l < "$T/all-input")
for _ in $(seq 600); do
  get 200 "/api/v1/input?user=nobody" -H "$RD"
  [ "$(jq .input.store.events "$T/out")" = "$n_input" ] && break; sleep 0.1
done
[ "$(jq .input.store.events "$T/out")" = "$n_input" ] || fail "recent input holds $(jq .input.store.events "$T/out") of $n_input events"
get 200 "/api/v1/alerts/$EID/events?limit=1000" -H "$RD"
cp "$T/out" "$T/ev.json"
EU=$(jq -r .user "$T/ev.json"); FROM=$(jq -r .from "$T/ev.json"); TO=$(jq -r .to "$T/ev.json")
n_win=$(jq -c --arg u "$EU" --arg f "${FROM:0:23}" --arg t "${TO:0:23}" \
  'select(.user.username == $u and .stageTimestamp[0:23] >= $f and .stageTimestamp[0:23] <= $t)' "$T/all-input" | wc -l)
[ "$n_win" -ge 1 ] || fail "no events of $EU around $EID in the log"
jq -e --argjson n "$n_win" --arg aud "$aud" '.input.matched == $n and (.input.events | length) == ([$n, 1000] | min)
    and all(.input.events[]; .user == $u) and any(.input.events[]; .audit_id == $aud)
    and ([.input.events[].time] == ([.input.events[].time] | sort))' --arg u "$EU" "$T/ev.json" > /dev/null \
  || fail "alert events: matched $(jq .input.matched "$T/ev.json"), the log has $n_win: $(jq -c '.input.events[0]' "$T/ev.json" | head -c 300)"
jq -e --arg aud "$aud" '.input.events[] | select(.audit_id == $aud) | (.raw | fromjson | .auditID) == $aud
    and .verb != null and .decision != null and .user_agent != null and .source_ip != null
    and .document.kubernetes.audit.auditID == $aud' "$T/ev.json" > /dev/null || fail "the source event's columns and raw form"
get 200 "/api/v1/alerts/$EID/events?window=1s&limit=1" -H "$RD"
jq -e '(.input.events | length) == 1 and .input.events[0].audit_id == "'"$aud"'"' "$T/out" > /dev/null \
  || fail "limit 1 keeps the nearest event: $(jq -c '[.input.events[].audit_id]' "$T/out")"
get 400 "/api/v1/alerts/$EID/events?window=2d" -H "$RD"
get 400 "/api/v1/alerts/$EID/events?limit=0" -H "$RD"
get 400 "/api/v1/alerts/$EID/events?user=x" -H "$RD"
get 404 "/api/v1/alerts/ffffffffffffffffffffffffffffffff/events" -H "$RD"
get 401 "/api/v1/alerts/$EID/events"
get 400 "/api/v1/input" -H "$RD"
get 400 "/api/v1/input?user=x&from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z" -H "$RD"

# ---- triage persists across a restart and is exported ----
stop_host
KADET_TEST_SESSION_IDLE_MS=1500 start_host
get 200 "/api/v1/alerts/$ID" -H "$RD"
[ "$(jq -r .alert.workflow_status "$T/out")" = closed ] || fail "status lost in a restart"
get 200 "/api/v1/alerts/export?status=closed" -H "$RD"
[ "$(wc -l < "$T/out")" = 1 ] || fail "export of closed alerts"
jq -e --arg id "$ID" '.["kibana.alert.uuid"] == $id and .["kibana.alert.workflow_status"] == "closed"' \
  "$T/out" > /dev/null || fail "export status"

# ---- sessions end when idle ----
get 200 /api/v1/login -d "token=$(cat "$T/reader.tok")" -D "$T/hdr"
CK="Cookie: $(sed -n 's/^[Ss]et-[Cc]ookie: \(kadet_session=[0-9a-f]*\);.*/\1/p' "$T/hdr" | tr -d '\r')"
sleep 2.5 # longer than the idle time of this start (1.5 s)
get 401 /api/v1/session -H "$CK"

# ---- login rate limits: per user (sessions made), per address (failed logins): 429 + Retry-After ----
for i in $(seq 29); do get 200 /api/v1/login -d "token=$(cat "$T/reader.tok")"; done
get 429 /api/v1/login -d "token=$(cat "$T/reader.tok")" -D "$T/hdr"
jq -e '.error | test("too many logins of this user")' "$T/out" > /dev/null || fail "429 message: $(cat "$T/out")"
grep -qi '^Retry-After: [1-9][0-9]*' "$T/hdr" || fail "no Retry-After: $(cat "$T/hdr")"
get 200 /api/v1/login -d "token=$(cat "$T/analyst.tok")"   # another user is not limited
for i in $(seq 10); do get 401 /api/v1/login -d "token=wrong-$i"; done
get 429 /api/v1/login -d "token=wrong-11" -D "$T/hdr"
jq -e '.error | test("failed logins from this address")' "$T/out" > /dev/null || fail "429 message: $(cat "$T/out")"
grep -qi '^Retry-After: [1-9][0-9]*' "$T/hdr" || fail "no Retry-After: $(cat "$T/hdr")"
get 429 /api/v1/login -d "token=$(cat "$T/analyst.tok")"   # the address waits, right token or not
get 200 /api/v1/alerts?limit=1 -H "$RD"                     # bearer tokens are not logins
stop_host

# ---- sessions end at their absolute lifetime, however busy ----
KADET_TEST_SESSION_TTL_MS=1500 start_host
get 200 /api/v1/login -d "token=$(cat "$T/reader.tok")" -D "$T/hdr"
CK="Cookie: $(sed -n 's/^[Ss]et-[Cc]ookie: \(kadet_session=[0-9a-f]*\);.*/\1/p' "$T/hdr" | tr -d '\r')"
code=200
for _ in $(seq 600); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "$CK" "$U/api/v1/session"); [ "$code" = 401 ] && break; sleep 0.2
done
[ "$code" = 401 ] || fail "a busy session outlived its lifetime"
stop_host
echo "ok"
