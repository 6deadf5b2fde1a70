#!/usr/bin/env bash
# The audit webhook of `kadet serve` (plain HTTP on loopback, small limits so the cases stay
# quick): a body larger than one record's limit but made of small events is taken whole (200
# with every record; it used to be answered 200 {"records":0,"skipped":1} and lost); an event
# over --max-record refuses its body with 413 naming the event's auditID, and nothing of that
# body is ingested; one POST stamped 2099 does not blind a new_terms rule (later events still
# alert, kadet_rule_future_total counts it); half-sent bodies hold no more than --max-inflight
# (then 503); connections per client address stop at --max-per-ip; SIGHUP reloads (serve lives).
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || { echo "skip: curl missing"; exit 77; }
cd "$(dirname "$0")/../.." || exit 1
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
"$K" serve --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --rules rules --spool-dir "$T/spool" \
    --output "$T/alerts.jsonl" --ingested none --host-os-type linux --now 2026-01-06T00:00:00Z \
    --max-body 4M --max-record 64K --max-inflight 4M --max-per-ip 3 --timeout 5 2>"$T/serve.err" &
pid=$!
for _ in $(seq 600); do
    HOOK=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) (webhook.*/\1/p' "$T/serve.err" | head -1)
    ADMIN=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) (admin.*/\1/p' "$T/serve.err" | head -1)
    [ -n "$HOOK" ] && [ -n "$ADMIN" ] && break
    kill -0 "$pid" 2>/dev/null || fail "serve exited: $(cat "$T/serve.err")"
    sleep 0.1
done
[ -n "$HOOK" ] && [ -n "$ADMIN" ] || fail "serve did not listen: $(cat "$T/serve.err")"
post() { curl -sS -o "$T/resp" -w '%{http_code}' --data-binary "@$1" "http://127.0.0.1:$HOOK/"; }
metric() { # NAME: its value, summed over its labels
    curl -sS "http://127.0.0.1:$ADMIN/metrics" |
        awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $2 } END { print s + 0 }'
}
alerts() { [ -f "$T/alerts.jsonl" ] && wc -l <"$T/alerts.jsonl" || echo 0; }
settle() { # until every record accepted into the spool has been run by the engine
    local want
    want=$(metric kadet_events_received_total)
    for _ in $(seq 600); do
        [ "$(metric kadet_records_total)" -ge "$want" ] && return 0
        sleep 0.1
    done
    fail "the engine ran $(metric kadet_records_total) of $want records"
}

cat >"$T/gen.py" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
from ev import ev
def el(items):
    return '{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[' + ",".join(items) + "]}"
def user(i, name, agent, t="2026-01-05T00:00:01.000000Z", **kw):
    return ev(i, user={"username": name}, userAgent=agent, requestReceivedTimestamp=t,
              stageTimestamp=t, annotations={"authorization.k8s.io/decision": "allow"}, **kw)
w = sys.argv[1]
# 3,000 small events, 2.4 MB: over --max-record (64K), under --max-body (4M)
open(f"{w}/big.json", "w").write(el([user(10000 + i, f"bulk{i}", "kubectl/1") for i in range(3000)]))
# an event of 100 KB between two small ones
open(f"{w}/fat.json", "w").write(el([user(1, "a1", "x/1"), user(2, "a2", "x/1", requestObject={"pad": "p" * 100000}),
                                     user(3, "a3", "x/1")]))
# 2099 first; then two new combinations of 2026
open(f"{w}/future.json", "w").write(el([user(20, "eve", "curl/8", t="2099-01-01T00:00:00.000000Z")]))
open(f"{w}/after.json", "w").write(el([user(21, "mallory", "curl/8"), user(22, "trent", "wget/1")]))
PY
python3 "$T/gen.py" "$T" || fail "inputs"

# ---- a body over one record's limit, of small records: all taken -----------------------------
[ "$(post "$T/big.json")" = 200 ] || fail "a 2.4 MB body of small events: $(cat "$T/resp")"
grep -q '"records":3000' "$T/resp" || fail "not every record taken: $(cat "$T/resp")"
settle
n=$(metric kadet_events_decoded_total)
[ "$n" -ge 3000 ] || fail "3000 events posted, $n decoded"
[ "$(alerts)" -ge 100 ] || fail "3000 new combinations, $(alerts) alerts (max_signals 100)"

# ---- one event over --max-record: 413 naming it, nothing of the body ingested ----------------
[ "$(post "$T/fat.json")" = 413 ] || fail "a 100 KB event under --max-record 64K: $(cat "$T/resp")"
grep -q 'auditID "h-2"' "$T/resp" || fail "413 does not name the event: $(cat "$T/resp")"
settle
grep -q '"a1"\|"a3"' "$T/alerts.jsonl" && fail "records of a refused body were ingested"

# ---- 2099 does not blind the rule -----------------------------------------------------------
[ "$(post "$T/future.json")" = 200 ] || fail "the 2099 event: $(cat "$T/resp")"
[ "$(post "$T/after.json")" = 200 ] || fail "later events: $(cat "$T/resp")"
settle
grep -q '"mallory"' "$T/alerts.jsonl" && grep -q '"trent"' "$T/alerts.jsonl" ||
    fail "events after a 2099 one raised no alert (the watermark moved)"
[ "$(metric kadet_rule_future_total)" -ge 1 ] || fail "kadet_rule_future_total: $(metric kadet_rule_future_total)"
grep -qi "future" "$T/serve.err" || fail "no warning about the future event"

# ---- half-sent bodies: --max-inflight, then 503 ----------------------------------------------
python3 - "$HOOK" >"$T/inflight" <<'PY' || fail "in-flight budget: $(cat "$T/inflight")"
import socket, sys, time
port = int(sys.argv[1])
def start(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{" % n)
    return s
held = [start(3 << 20)]  # 3 MiB announced, 1 byte sent: held in the budget
time.sleep(0.5)
s = start(3 << 20)       # 6 MiB > --max-inflight 4M: refused before its body is read
s.settimeout(10)
line = s.recv(200).split(b"\r\n")[0]
print(line.decode())
sys.exit(0 if b" 503 " in line else 1)
PY
echo "in-flight: $(cat "$T/inflight")"

# ---- connections per address ------------------------------------------------------------------
python3 - "$HOOK" >"$T/perip" <<'PY' || fail "per-IP limit: $(cat "$T/perip")"
import socket, sys
port = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(10)
try:
    s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
    got = s.recv(100)
except OSError as e:
    got = b""
print("4th connection got:", got[:40])
sys.exit(0 if got == b"" else 1)  # closed without an answer
PY

# ---- SIGHUP reloads; serve lives ----------------------------------------------------------------
kill -HUP "$pid"
for _ in $(seq 100); do grep -q "SIGHUP" "$T/serve.err" && break; sleep 0.1; done
sleep 0.5
kill -0 "$pid" 2>/dev/null || fail "SIGHUP ended serve"
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
[ $rc = 0 ] || fail "SIGTERM: exit $rc"
echo "webhook: ok"
