#!/usr/bin/env bash
# kadet scan --sink and kadet outputs test against real receivers started here on 127.0.0.1:
# tests/output/receiver.py (an HTTP receiver speaking Elasticsearch's _bulk protocol, webhook
# and Slack, with auth, injected failures and slowness) and rsyslogd (UDP, TCP, Unix socket,
# TLS with an openssl-made certificate). Checked (alerts compared by kibana.alert.uuid with the
# same run's --output file, which keeps its exact semantics):
#   A. every sink receives every alert once; ES create lines carry _id = kibana.alert.uuid; the
#      webhook's HMAC verifies; each Slack message has the alert's rule name, severity, user,
#      new terms, reason and the first three steps of its rule's investigation guide; the file
#      sink equals --output; rsyslogd parses each message; `state stats` shows each output's
#      delivered count; the index template of docs/alerts.md maps every field of these alerts
#      and of the golden alerts (tests/output/mapping_check.py);
#   B. the receiver down while two scans produce alerts (exit 2, "still pending"), then up: each
#      alert delivered exactly once, in order per rule;
#   C. kill -9 of kadet while it delivers to a slow Elasticsearch, then a rerun: every alert
#      stored exactly once (resends are answered 409 by the _id create);
#   D. per-item failures: a 400 item goes to the dead-letter file with its reason, a 429 item is
#      retried and stored; filters (min_severity, rule, tag);
#   E. `kadet outputs test` with --sink and with a config file's [[sink]] tables; errors;
#   F. the receiver's _bulk check itself refuses malformed NDJSON (so A-D's checks can fail).
# No timing is asserted: conditions are polled (60 s at most).
set -u
K=${KADET:-./kadet}
command -v python3 > /dev/null || { echo "skip: python3 missing (scripts/deps.sh)"; exit 77; }
T=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$T"
}
[ -n "${KEEP:-}" ] && cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; echo "kept $T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
RX=tests/output/receiver.py

mkdir -p "$T/rules"
header() {
    cat <<'EOF'
[metadata]
creation_date = "2026/01/01"
maturity = "production"
updated_date = "2026/01/01"

[rule]
author = ["kadet tests"]
description = "sink test"
language = "kuery"
EOF
}
{ header; cat <<'EOF'; } > "$T/rules/nt.toml"
name = "sink test new terms"
risk_score = 21
rule_id = "sink-nt"
severity = "low"
tags = ["Domain: Kubernetes", "Use Case: Threat Detection"]
type = "new_terms"
query = 'kubernetes.audit.stage:"ResponseComplete"'
note = """## Triage and analysis

### Investigating sink test new terms

A user & agent pair <never seen> before.

#### Possible investigation steps

- Check who holds the account.
- Review what the agent did next.
- Compare with the user's usual clients.
- Fourth step, not in the message.
"""

[rule.new_terms]
field = "new_terms_fields"
value = ["kubernetes.audit.user.username", "user_agent.original"]
[[rule.new_terms.history_window_start]]
field = "history_window_start"
value = "now-10d"
EOF
{ header; cat <<'EOF'; } > "$T/rules/q.toml"
name = "sink test deletes"
risk_score = 47
rule_id = "sink-q"
severity = "medium"
type = "query"
max_signals = 1000
query = 'kubernetes.audit.verb:"delete"'
EOF

# events FROM TO: audit events FROM..TO-1 (40 users x 25 agents, every 7th a delete)
events() {
    awk -v from="$1" -v to="$2" 'BEGIN {
      for (i = from; i < to; i++) {
        u = "user-" (i * 7 % 40); a = "agent/" (i * 11 % 25); v = (i % 7 == 0) ? "delete" : "get";
        s = 1772359200 + i * 432; d = strftime("%Y-%m-%dT%H:%M:%S", s, 1);
        printf "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\",\"auditID\":\"sink-%06d\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/api/v1/pods\",\"verb\":\"%s\",\"user\":{\"username\":\"%s\"},\"sourceIPs\":[\"10.0.0.1\"],\"userAgent\":\"%s\",\"objectRef\":{\"resource\":\"pods\",\"apiVersion\":\"v1\"},\"responseStatus\":{\"code\":200},\"requestReceivedTimestamp\":\"%s.000000Z\",\"stageTimestamp\":\"%s.100000Z\",\"annotations\":{\"authorization.k8s.io/decision\":\"allow\"}}\n", i, v, u, a, d, d
      }
    }'
}
events 0 700 > "$T/in.jsonl"

scan() { "$K" scan --no-progress --rules "$T/rules" --now 2026-01-01T00:00:00Z --batch 100 "$@"; }

# start_rx NAME ARGS...: receiver.py in the background; its port in $port
start_rx() {
    local name=$1 i
    shift
    python3 "$RX" --log "$T/$name.log" "$@" > "$T/$name.port" 2> "$T/$name.err" &
    pids+=($!)
    eval "${name}_pid=$!"
    for ((i = 0; i < 600; i++)); do
        [ -s "$T/$name.port" ] && break
        sleep 0.1
    done
    port=$(head -1 "$T/$name.port")
    [ -n "$port" ] || fail "receiver $name did not start: $(cat "$T/$name.err")"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# check.py: the comparisons, in one place
cat > "$T/check.py" <<'EOF'
import json, sys, collections
def alerts(path):
    out = []
    for line in open(path):
        line = line.strip()
        if line:
            out.append(json.loads(line))
    return out
def ref(path):
    a = alerts(path)
    return [x["kibana.alert.uuid"] for x in a], {x["kibana.alert.uuid"]: x["kibana.alert.rule.rule_id"] for x in a}
def per_rule(ids, rule_of):
    d = collections.defaultdict(list)
    for i in ids:
        d[rule_of[i]].append(i)
    return d
def die(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)
def once_in_order(got, ref_ids, rule_of, what, order=True):
    c = collections.Counter(got)
    dup = [i for i, n in c.items() if n > 1]
    if dup:
        die("%s: %d alerts delivered more than once (%s)" % (what, len(dup), dup[0]))
    if set(got) != set(ref_ids):
        die("%s: %d delivered, %d expected (%d missing)" % (what, len(set(got)), len(ref_ids), len(set(ref_ids) - set(got))))
    if order and per_rule(got, rule_of) != per_rule(ref_ids, rule_of):
        die("%s: not in order per rule" % what)
def rx_log(path):
    return [json.loads(l) for l in open(path)] if path else []
cmd = sys.argv[1]
ref_ids, rule_of = ref(sys.argv[2])
if cmd == "es":  # es REF LOG STORE [any-order]: every id stored once, in order per rule
    # (a 429 item is stored after the items that followed it in its request: any-order)
    log = rx_log(sys.argv[3])
    stored = [l.strip() for l in open(sys.argv[4]) if l.strip()]
    once_in_order(stored, ref_ids, rule_of, "elasticsearch", len(sys.argv) < 6)
    for r in log:
        if r["path"] != "/_bulk" or r["ctype"] != "application/x-ndjson":
            die("elasticsearch: request %s %s" % (r["path"], r["ctype"]))
    print(sum(1 for r in log if r["status"] == 200))
elif cmd == "es-resent":  # es-resent REF LOG: ids sent in more than one request
    sent = collections.Counter()
    for r in rx_log(sys.argv[3]):
        if r["status"] != 200:
            continue
        lines = r["body"].split("\n")
        for i in range(0, len(lines) - 1, 2):
            sent[json.loads(lines[i])["create"]["_id"]] += 1
    print(sum(1 for n in sent.values() if n > 1))
elif cmd == "webhook":  # webhook REF LOG: arrays, HMAC ok, each id once, in order per rule
    got = []
    for r in rx_log(sys.argv[3]):
        if r["status"] != 200 or r["path"] == "/slack":
            continue
        if r.get("sig_ok") is False:
            die("webhook: HMAC signature does not verify")
        body = json.loads(r["body"])
        if not isinstance(body, list):
            die("webhook: batch_format=array sent %s" % type(body).__name__)
        got += [x["kibana.alert.uuid"] for x in body]
    once_in_order(got, ref_ids, rule_of, "webhook")
elif cmd == "slack":  # slack REF LOG: one message per alert, with what the issue lists
    esc = lambda t: t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    msgs = {}
    for r in rx_log(sys.argv[3]):
        if r["path"] != "/slack" or r["status"] != 200:
            continue
        body = json.loads(r["body"])
        if list(body) != ["text"]:
            die("slack: the message is not {\"text\": ...}: %s" % r["body"][:200])
        t = body["text"]
        aid = t.rsplit("_alert ", 1)[-1].rstrip("_")
        if aid in msgs:
            die("slack: alert %s sent twice" % aid)
        msgs[aid] = t
    steps = ["Check who holds the account.", "Review what the agent did next.",
             "Compare with the user's usual clients."]
    for x in alerts(sys.argv[2]):
        t = msgs.get(x["kibana.alert.uuid"])
        if t is None:
            die("slack: no message for alert %s" % x["kibana.alert.uuid"])
        user = (x.get("user") or {}).get("name") or x["kubernetes"]["audit"]["user"]["username"]
        want = [":rotating_light: *%s* (%s)" % (esc(x["kibana.alert.rule.name"]), x["kibana.alert.severity"]),
                "*User:* " + esc(user), "*Reason:* " + esc(x["kibana.alert.reason"])]
        if x.get("kibana.alert.new_terms"):
            want.append("*New terms:* " + ", ".join("`%s`" % esc(v) for v in x["kibana.alert.new_terms"]))
        if x.get("kibana.alert.rule.note"):
            want.append("*First steps:*\n" + "\n".join("• " + esc(v) for v in steps) + "\n_alert ")
            if "Fourth step" in t:
                die("slack: more than three steps: " + t)
        elif "First steps" in t:
            die("slack: steps for a rule without a guide: " + t)
        for w in want:
            if w not in t:
                die("slack: %r missing from %r" % (w, t))
    if len(msgs) != len(alerts(sys.argv[2])):
        die("slack: %d messages for %d alerts" % (len(msgs), len(alerts(sys.argv[2]))))
    print(len(msgs))
elif cmd == "syslog":  # syslog REF FILE INPUT: rsyslogd's lines of one input
    got = []
    import re, socket
    for line in open(sys.argv[3]):
        m = re.match(r'(\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\[kadet@32473 id="([^"]*)" rule="([^"]*)"\]) (.*)$', line)
        if not m:
            die("syslog: rsyslogd's line not as sent: " + line[:200])
        if m.group(1) != sys.argv[4]:
            continue
        if [m.group(4), m.group(5), m.group(6)] != [socket.gethostname(), "kadet", "alert"]:
            die("syslog: rsyslogd parsed %s" % [m.group(4), m.group(5), m.group(6)])
        doc = json.loads(m.group(10))
        if doc["kibana.alert.uuid"] != m.group(8) or doc["kibana.alert.rule.rule_id"] != m.group(9):
            die("syslog: SD does not match the alert")
        got.append(m.group(8))
    once_in_order(got, ref_ids, rule_of, "syslog " + sys.argv[4])
elif cmd == "dead":  # dead REF FILE TEXT: the dead letters are the alerts containing TEXT
    want = {x["kibana.alert.uuid"] for x in alerts(sys.argv[2]) if sys.argv[4] in json.dumps(x, separators=(",", ":"))}
    got = alerts(sys.argv[3])
    if not want or {d["alert"]["kibana.alert.uuid"] for d in got} != want or len(got) != len(want):
        die("dead letters: %d, expected %d" % (len(got), len(want)))
    for d in got:
        if "mapper_parsing_exception" not in d["reason"] or d["output"] != "es":
            die("dead letter without the item's reason: %s" % d["reason"])
elif cmd == "filter":  # filter REF FILE RULE: the file holds exactly the alerts of RULE
    got = [x["kibana.alert.uuid"] for x in alerts(sys.argv[3])]
    want = [i for i in ref_ids if rule_of[i] == sys.argv[4]]
    if got != want:
        die("filter %s: %d alerts, expected %d" % (sys.argv[4], len(got), len(want)))
EOF
check() { python3 "$T/check.py" "$@" || exit 1; }

# ---- A. every sink, one run ------------------------------------------------------------------
start_rx es --auth "ApiKey k3y" --store "$T/es.store"
ES=$port
start_rx wh --secret s3cret
WH=$port
SYSLOG=()
if command -v rsyslogd > /dev/null && command -v openssl > /dev/null &&
    [ -n "$(find /usr/lib -name lmnsd_gtls.so 2>/dev/null | head -1)" ]; then
    UP=$(free_port)
    TP=$(free_port)
    SP=$(free_port)
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
        -addext subjectAltName=IP:127.0.0.1 -keyout "$T/key.pem" -out "$T/cert.pem" 2> /dev/null ||
        fail "openssl could not make a certificate"
    mkdir -p "$T/rs"
    cat > "$T/rsyslog.conf" <<EOF
global(workDirectory="$T/rs" maxMessageSize="64k"
       DefaultNetstreamDriverCAFile="$T/cert.pem" DefaultNetstreamDriverCertFile="$T/cert.pem"
       DefaultNetstreamDriverKeyFile="$T/key.pem")
module(load="imudp")
module(load="imtcp")
module(load="imuxsock" SysSock.Use="off")
input(type="imudp" address="127.0.0.1" port="$UP" rcvbufSize="16m")
input(type="imtcp" address="127.0.0.1" port="$TP")
input(type="imuxsock" Socket="$T/log.sock" UseSpecialParser="off" ParseHostname="on")
input(type="imtcp" address="127.0.0.1" port="$SP" name="tls" StreamDriver.Name="gtls"
      StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
template(name="t" type="string" string="%inputname% %syslogfacility% %syslogseverity% %hostname% %app-name% %msgid% %structured-data% %msg%\n")
*.* action(type="omfile" file="$T/syslog.out" template="t")
EOF
    rsyslogd -n -f "$T/rsyslog.conf" -i "$T/rs/pid" > "$T/rsyslogd.err" 2>&1 &
    pids+=($!)
    for ((i = 0; i < 600; i++)); do
        [ -S "$T/log.sock" ] && python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$TP)).close(); socket.create_connection(('127.0.0.1',$SP)).close()" 2> /dev/null && break
        sleep 0.1
    done
    [ -S "$T/log.sock" ] || fail "rsyslogd did not start: $(cat "$T/rsyslogd.err")"
    SYSLOG=(--sink "syslog:udp://127.0.0.1:$UP" --sink "syslog:tcp://127.0.0.1:$TP,batch=50"
        --sink "syslog:unix:$T/log.sock" --sink "syslog:tls://127.0.0.1:$SP,ca=$T/cert.pem")
else
    echo "note: rsyslogd, rsyslog-gnutls or openssl missing: syslog part skipped (scripts/deps.sh --test)"
fi
[ -n "${KEEP:-}" ] && echo "A receivers up at ${SECONDS}s"
scan --state "$T/a.db" --output "$T/ref.jsonl" \
    --sink "elasticsearch:http://127.0.0.1:$ES,index=kadet-alerts,api_key=k3y,batch=100,name=es" \
    --sink "webhook:http://127.0.0.1:$WH/hook,batch_format=array,batch=40,secret=s3cret" \
    --sink "slack:http://127.0.0.1:$WH/slack" \
    --sink "file:$T/file-sink.jsonl" "${SYSLOG[@]}" "$T/in.jsonl" > "$T/a.out" 2> "$T/a.err" ||
    fail "A: scan with sinks failed: $(cat "$T/a.err")"
[ -n "${KEEP:-}" ] && echo "A scan done at ${SECONDS}s"
[ -s "$T/a.out" ] && fail "A: with --sink (no --sink stdout), stdout must stay empty"
n=$(wc -l < "$T/ref.jsonl")
[ "$n" -gt 150 ] || fail "A: only $n alerts"
check es "$T/ref.jsonl" "$T/es.log" "$T/es.store" > /dev/null
check webhook "$T/ref.jsonl" "$T/wh.log"
ns=$(check slack "$T/ref.jsonl" "$T/wh.log") || exit 1
grep -q '"kibana.alert.new_terms"' "$T/ref.jsonl" && grep -q '"kibana.alert.rule.rule_id":"sink-q"' "$T/ref.jsonl" ||
    fail "A: the reference lacks new-terms or query alerts"
python3 tests/output/mapping_check.py docs/alerts.md "$T/ref.jsonl" $(grep -l '"kibana.alert.uuid"' -r tests/golden/expected) > "$T/map.out" ||
    fail "A: the index template of docs/alerts.md does not fit the alerts"
cmp -s "$T/ref.jsonl" "$T/file-sink.jsonl" || fail "A: the file sink differs from --output"
if [ ${#SYSLOG[@]} -gt 0 ]; then
    for ((i = 0; i < 600; i++)); do # rsyslogd writes asynchronously
        [ "$(wc -l < "$T/syslog.out" 2> /dev/null || echo 0)" -ge $((4 * n)) ] && break
        sleep 0.1
    done
    check syslog "$T/ref.jsonl" "$T/syslog.out" imudp
    check syslog "$T/ref.jsonl" "$T/syslog.out" imtcp
    check syslog "$T/ref.jsonl" "$T/syslog.out" imuxsock
    check syslog "$T/ref.jsonl" "$T/syslog.out" tls
fi
"$K" state stats --state "$T/a.db" --json > "$T/a.stats" || fail "A: state stats"
python3 - "$T/a.stats" "$n" <<'EOF' || exit 1
import json, sys
s = json.load(open(sys.argv[1])); n = int(sys.argv[2])
outs = {o["name"]: o for o in s["outputs"]}
if outs["es"]["delivered"] != n or outs["es"]["queue_depth"] != 0:
    print("FAIL: A: state stats: %s" % outs["es"]); sys.exit(1)
for name, o in outs.items():
    if o["delivered"] != n or o["failed"] or o["queue_depth"]:
        print("FAIL: A: state stats of %s: %s" % (name, o)); sys.exit(1)
EOF
"$K" state stats --state "$T/a.db" | grep -q "^  es  *$n  *0  *0  *0  *0  *-$" ||
    fail "A: state stats text: $("$K" state stats --state "$T/a.db" | tail -8)"
# a rerun delivers nothing again
: > "$T/es.log"
scan --state "$T/a.db" --sink "elasticsearch:http://127.0.0.1:$ES,api_key=k3y,name=es" \
    "$T/in.jsonl" 2> "$T/a2.err" || fail "A: rerun: $(cat "$T/a2.err")"
[ -s "$T/es.log" ] && fail "A: the rerun sent again"
kill "$es_pid" "$wh_pid"

[ -n "${KEEP:-}" ] && echo "A done at ${SECONDS}s"
# ---- B. receiver down while alerts are produced, then up ------------------------------------
P=$(free_port)
WB="webhook:http://127.0.0.1:$P/b,batch_format=array,batch=25,attempts=1000,backoff=20,backoff_max=100"
events 0 350 > "$T/b.jsonl"
scan --state "$T/b.db" --output "$T/b-ref.jsonl" --sink "$WB" --sink-timeout 1s "$T/b.jsonl" 2> "$T/b1.err"
[ $? = 2 ] || fail "B: undelivered alerts must give exit status 2"
grep -q "still pending after --sink-timeout: kept in the outbox" "$T/b1.err" || fail "B: no warning: $(cat "$T/b1.err")"
events 350 700 >> "$T/b.jsonl"
scan --state "$T/b.db" --output "$T/b-ref.jsonl" --sink "$WB" --sink-timeout 1s "$T/b.jsonl" 2> "$T/b2.err"
[ $? = 2 ] || fail "B: second run: exit status 2 expected"
read -r pend age retried < <("$K" state stats --state "$T/b.db" --json | python3 -c 'import json,sys; o = json.load(sys.stdin)["outputs"][0]; print(o["queue_depth"], o["oldest_pending_age_ms"], o["retried"])')
[ "$pend" = "$(wc -l < "$T/b-ref.jsonl")" ] || fail "B: $pend pending in the outbox, expected $(wc -l < "$T/b-ref.jsonl")"
[ "$age" -gt 0 ] && [ "$retried" -gt 0 ] || fail "B: state stats: oldest pending age $age ms, retried $retried"
start_rx wb --port "$P"
scan --state "$T/b.db" --sink "$WB" --sink-timeout 60s "$T/b.jsonl" 2> "$T/b3.err" ||
    fail "B: delivery after the receiver came up: $(cat "$T/b3.err")"
check webhook "$T/b-ref.jsonl" "$T/wb.log"
[ -e "$T/b.db.outbox.dead" ] && fail "B: dead letters: $(head -2 "$T/b.db.outbox.dead")"
kill "$wb_pid"

[ -n "${KEEP:-}" ] && echo "B done at ${SECONDS}s"
# ---- C. kill -9 during delivery, then a rerun ------------------------------------------------
start_rx slow --slow 0.3 --store "$T/c.store"
SL=$port
CS="elasticsearch:http://127.0.0.1:$SL,batch=15,name=es"
"$K" scan --no-progress --rules "$T/rules" --now 2026-01-01T00:00:00Z --batch 100 --state "$T/c.db" \
    --output "$T/c-ref.jsonl" --sink "$CS" --sink-timeout 300s "$T/in.jsonl" 2> /dev/null &
kpid=$!
pids+=($kpid)
for ((i = 0; i < 6000; i++)); do
    [ -e "$T/slow.log" ] && [ "$(wc -l < "$T/slow.log")" -ge 3 ] && break
    kill -0 "$kpid" 2> /dev/null || break
    sleep 0.01
done
kill -0 "$kpid" 2> /dev/null || fail "C: kadet finished before the kill (receiver log: $(wc -l < "$T/slow.log"))"
kill -9 "$kpid"
wait "$kpid" 2> /dev/null
stored=$(wc -l < "$T/c.store")
[ "$stored" -lt "$(wc -l < "$T/c-ref.jsonl")" ] || fail "C: everything was delivered before the kill"
kill "$slow_pid"
start_rx fast --store "$T/c.store"
scan --state "$T/c.db" --sink "elasticsearch:http://127.0.0.1:$port,batch=15,name=es" \
    --sink-timeout 120s "$T/in.jsonl" 2> "$T/c.err" || fail "C: rerun after kill -9: $(cat "$T/c.err")"
cat "$T/slow.log" "$T/fast.log" > "$T/c.log"
check es "$T/c-ref.jsonl" "$T/c.log" "$T/c.store" > /dev/null
kill "$fast_pid"

[ -n "${KEEP:-}" ] && echo "C done at ${SECONDS}s"
# ---- D. per-item failures, dead letters, filters ---------------------------------------------
start_rx d --store "$T/d.store" --reject '"user-7"' --busy-once '"user-9"'
scan --state "$T/d.db" --output "$T/d-ref.jsonl" \
    --sink "elasticsearch:http://127.0.0.1:$port,name=es,backoff=10" \
    --sink "file:$T/medium.jsonl,min_severity=medium" --sink "file:$T/nt.jsonl,rule=sink-nt" \
    --sink "file:$T/tag.jsonl,tag=Use Case: Threat Detection" \
    "$T/in.jsonl" 2> "$T/d.err" || fail "D: $(cat "$T/d.err")"
grep -q "output es: .* alerts\? written to the dead-letter file" "$T/d.err" || fail "D: no dead-letter warning: $(cat "$T/d.err")"
check dead "$T/d-ref.jsonl" "$T/d.db.outbox.dead" '"user-7"'
grep -v '"user-7"' "$T/d-ref.jsonl" > "$T/d-ok.jsonl"
check es "$T/d-ok.jsonl" "$T/d.log" "$T/d.store" any-order > /dev/null
[ "$(check es-resent "$T/d-ref.jsonl" "$T/d.log")" -gt 0 ] || fail "D: the 429 items were not sent again"
check filter "$T/d-ref.jsonl" "$T/medium.jsonl" sink-q
check filter "$T/d-ref.jsonl" "$T/nt.jsonl" sink-nt
check filter "$T/d-ref.jsonl" "$T/tag.jsonl" sink-nt
kill "$d_pid"

[ -n "${KEEP:-}" ] && echo "D done at ${SECONDS}s"
# ---- E. kadet outputs test -------------------------------------------------------------------
start_rx e --auth "Basic dTpwLHc="
cat > "$T/kadet.toml" <<EOF
listen = "127.0.0.1:0"

[[sink]]
type = "webhook"
target = "http://127.0.0.1:$port/e"
header = ["X-Team: blue, red"]
user = "u"
password = "p,w"

[[sink]]
spec = "file:$T/e.jsonl"
EOF
"$K" outputs test --config "$T/kadet.toml" > "$T/e.out" 2> "$T/e.err" || fail "E: outputs test: $(cat "$T/e.out" "$T/e.err")"
grep -q "^ok   webhook:http://127.0.0.1:$port/e: delivered$" "$T/e.out" || fail "E: $(cat "$T/e.out")"
grep -q '"team": "X-Team: blue, red"\|"team": "blue, red"' "$T/e.log" || fail "E: header with commas not sent: $(cat "$T/e.log")"
grep -q '"kadet outputs test"' "$T/e.jsonl" || fail "E: no sample alert in the file sink"
"$K" outputs test --sink "webhook:http://127.0.0.1:$port/e" > "$T/e2.out" 2> /dev/null
[ $? = 2 ] || fail "E: a refused test alert must give exit status 2"
grep -q "^FAIL webhook:http://127.0.0.1:$port/e: .*401" "$T/e2.out" || fail "E: $(cat "$T/e2.out")"
kill "$e_pid"
printf '[[sink]]\ntype = "webhook"\ntarget = "ftp://x"\n' > "$T/bad.toml"
"$K" outputs test --config "$T/bad.toml" > /dev/null 2> "$T/bad.err"
[ $? = 1 ] || fail "E: a bad [[sink]] is a usage error"
grep -q "bad.toml:3:11: error: sink spec: webhook target must be an http:// or https:// URL" "$T/bad.err" || fail "E: position: $(cat "$T/bad.err")"
scan --no-state --sink "webhok:http://x" "$T/in.jsonl" > /dev/null 2> "$T/bad2.err"
[ $? = 1 ] || fail "E: a bad --sink is a usage error"
grep -q "^--sink:1:1: .*unknown sink type 'webhok'" "$T/bad2.err" || fail "E: $(cat "$T/bad2.err")"
scan --no-state --sink stdout "$T/in.jsonl" > "$T/stdout.jsonl" 2> /dev/null || fail "E: --no-state --sink stdout"
[ "$(wc -l < "$T/stdout.jsonl")" = "$n" ] || fail "E: --sink stdout wrote $(wc -l < "$T/stdout.jsonl") alerts, expected $n"

# ---- F. the receiver's _bulk check refuses what Elasticsearch would ----------------------------
start_rx f
python3 - "$port" <<'EOF' || exit 1
import json, sys, urllib.request, urllib.error
port = sys.argv[1]
def post(body, ctype="application/x-ndjson"):
    req = urllib.request.Request("http://127.0.0.1:%s/_bulk" % port, data=body, headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
doc = b'{"kibana.alert.uuid":"u1","x":1}'
ok = b'{"create":{"_index":"kadet-alerts","_id":"u1"}}\n' + doc + b"\n"
cases = [
    (ok[:-1], 400, "terminated by a newline"),
    (b'{"create":{"_index":"kadet-alerts","_id":"u1"}}\n', 400, "line 1: create action without a document"),
    (b'{"index":{"_index":"kadet-alerts","_id":"u1"}}\n' + doc + b"\n", 400, "line 1: kadet must send create"),
    (b'{"create":{"_index":"Kadet","_id":"u1"}}\n' + doc + b"\n", 400, "line 1: _index must be lowercase"),
    (b'{"create":{"_index":"kadet-alerts","_id":"u1","op":1}}\n' + doc + b"\n", 400, "line 1: action metadata"),
    (ok + b'{"create":{"_index":"kadet-alerts","_id":"u2"}}\n{"kibana.alert.uuid":"u2",}\n', 400, "line 4: the document is not JSON"),
    (ok + b'{"create":{"_index":"kadet-alerts","_id":"u3"}}\n{"kibana.alert.uuid":"u2"}\n', 400, "line 4: _id is not kibana.alert.uuid"),
    (ok + b"\n" + ok, 400, "line 3: empty line"),
]
for body, status, reason in cases:
    st, resp = post(body)
    if st != status or reason not in json.dumps(resp):
        print("FAIL: F: %r answered %s %s, expected %s %r" % (body[:80], st, resp, status, reason)); sys.exit(1)
st, resp = post(ok, "text/plain")
if st != 406:
    print("FAIL: F: text/plain answered %s" % st); sys.exit(1)
st, resp = post(ok + ok.replace(b"u1", b"u9"))
items = resp["items"]
if st != 200 or resp["errors"] is not False or [i["create"]["status"] for i in items] != [201, 201] or \
        not all(set(i["create"]) >= {"_index", "_id", "_version", "result", "_shards", "_seq_no", "_primary_term"} for i in items):
    print("FAIL: F: a valid body: %s %s" % (st, resp)); sys.exit(1)
st, resp = post(ok)
if resp["errors"] is not True or resp["items"][0]["create"]["status"] != 409 or \
        resp["items"][0]["create"]["error"]["type"] != "version_conflict_engine_exception":
    print("FAIL: F: a resend: %s" % resp); sys.exit(1)
EOF
kill "$f_pid"
echo "ok (slack: $ns messages checked; mapping: $(head -1 "$T/map.out"))"
