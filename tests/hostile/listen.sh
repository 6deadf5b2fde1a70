#!/usr/bin/env bash
# `kadet scan --listen` under hostile clients (it runs on kadet serve's listener): stalled and
# trickling connections do not lock out a legitimate client and are closed at --header-timeout;
# half-sent bodies are bounded by --max-inflight (503) and closed at --body-timeout; a record
# over --max-record refuses its body with 413 naming its auditID and byte position (nothing of
# it is alerted behind a 200); a body over --max-body is 413, never 200; an EventList larger
# than --max-record whose items are each within it is run whole (it was answered 200 with every
# event lost); a gzip body is inflated; SIGHUP does not kill the receiver; a non-loopback
# address without TLS prints a warning. No timing is asserted: conditions are waited for.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
command -v curl > /dev/null || { echo "skip: curl missing (scripts/deps.sh installs it)"; exit 77; }
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT

# start OUT ARGS...: scan --listen 127.0.0.1:0 in the background (alerts to OUT); sets pid, URL, port
start() {
    local out=$1
    shift
    : > err
    "$K" scan --no-state --no-progress --no-host-metadata --rules q.toml \
        --now 2026-03-02T00:00:00Z --listen 127.0.0.1:0 "$@" > "$out" 2> err &
    pid=$!
    for _ in $(seq 600); do
        port=$(sed -n 's/^kadet scan: listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' err)
        [ -n "$port" ] && { URL="http://127.0.0.1:$port"; return 0; }
        kill -0 "$pid" 2>/dev/null || fail "kadet exited before listening: $(cat err)"
        sleep 0.1
    done
    fail "no 'listening on' line: $(cat err)"
}
stop() {
    kill -TERM "$pid"
    wait "$pid"
    rc=$?
    pid=
    [ $rc = 0 ] || fail "exit $rc after SIGTERM: $(cat err)"
}
# post FILE [CURL ARGS...] -> "CODE BODY"
post() {
    local f=$1
    shift
    curl -sS -m 60 -o resp -w '%{http_code}' "$@" --data-binary "@$f" "$URL/" > code 2> curl.err ||
        echo "curl: $(cat curl.err)" >> code
    echo "$(cat code) $(cat resp 2>/dev/null)"
}
waitfor() { # waitfor FILE PATTERN: up to 60 s
    for _ in $(seq 600); do grep -q -- "$2" "$1" && return 0; sleep 0.1; done
    fail "'$2' never appeared in $1: $(cat "$1")"
}

python3 - <<'PY'
from ev import ev
import gzip, json
def evlist(items):
    return '{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[' + \
        ",".join(items) + "]}\n"
open("small.json", "w").write(evlist([ev(1), ev(2)]))
# the second item is 6 KB: over --max-record 4K
open("oversize.json", "w").write(evlist([ev(10), ev(11, auditID="h-big", userAgent="x" * 6000), ev(12)]))
# 60 items of ~600 bytes: 36 KB in all, each within --max-record 4K
open("many.json", "w").write(evlist([ev(100 + i) for i in range(60)]))
open("many.json.gz", "wb").write(gzip.compress(open("many.json", "rb").read()))
open("big.json", "w").write(evlist([ev(200 + i) for i in range(200)]))  # ~120 KB
PY

# --- records and bodies --------------------------------------------------------------------------
start o1 --max-record 4K --max-body 64K
r=$(post oversize.json)
case "$r" in "413 "*'record at byte '[0-9]*'(auditID "h-big")'*'--max-record'*) ;; *) fail "oversize record: $r" ;; esac
waitfor err 'auditID "h-big"'
[ -s o1 ] && fail "a body refused with 413 alerted: $(cat o1)"
r=$(post many.json)
case "$r" in "200 "*'"events":60,'*'"skipped":0'*'"alerts":60'*) ;; *) fail "EventList over --max-record, items within: $r" ;; esac
[ "$(wc -l < o1)" = 60 ] || fail "EventList over --max-record: $(wc -l < o1) alerts, expected 60"
# over --max-body: 413 with Content-Length (refused before reading) and chunked
r=$(post big.json)
case "$r" in "413 "*"--max-body"*) ;; *) fail "over --max-body: $r" ;; esac
r=$(post big.json -H 'Transfer-Encoding: chunked')
case "$r" in "413 "*) ;; *) fail "chunked over --max-body: $r" ;; esac
# gzip: inflated (and held to --max-body after inflating)
r=$(post many.json.gz -H 'Content-Encoding: gzip')
case "$r" in "200 "*'"events":60,'*) ;; *) fail "gzip body: $r" ;; esac
r=$(post many.json -H 'Content-Encoding: br')
case "$r" in "415 "*) ;; *) fail "unknown Content-Encoding: $r" ;; esac
# SIGHUP (logrotate's postrotate) does not kill the receiver
kill -HUP "$pid"
waitfor err 'SIGHUP: --output reopened'
r=$(post small.json)
case "$r" in "200 "*) ;; *) fail "after SIGHUP: $r" ;; esac
stop
valid_json o1

# SIGHUP reopens --output (logrotate's `create` rotation): the next alerts go to a new file
start o1b --max-record 4K --output alerts.jsonl
r=$(post small.json)
case "$r" in "200 "*'"alerts":2'*) ;; *) fail "before the rotation: $r" ;; esac
mv alerts.jsonl alerts.jsonl.1
kill -HUP "$pid"
waitfor err 'SIGHUP: --output reopened'
r=$(post many.json)
case "$r" in "200 "*'"alerts":60'*) ;; *) fail "after the rotation: $r" ;; esac
[ "$(wc -l < alerts.jsonl.1)" = 2 ] && [ "$(wc -l < alerts.jsonl)" = 60 ] ||
    fail "SIGHUP: $(wc -l < alerts.jsonl.1) alerts in the rotated file, $(wc -l < alerts.jsonl 2>&1) in the new one"
stop

# --- stalled and trickling connections -----------------------------------------------------------
# 8 connections allowed: 8 clients that send part of their headers and stall fill them; the
# reaper closes them at --header-timeout, after which a legitimate client gets in.
start o2 --max-connections 8 --header-timeout 1 --timeout 30
python3 - "$port" > stall.out 2>&1 <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
socks = []
for i in range(8):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
    socks.append(s)
print("stalled", flush=True)
closed = 0
deadline = time.time() + 60
for s in socks:
    s.settimeout(max(0.1, deadline - time.time()))
    try:
        while True:  # trickle a header byte now and then; the server must close us
            s.sendall(b"X")
            s.settimeout(0.3)
            try:
                if s.recv(1) == b"":
                    break
            except socket.timeout:
                if time.time() > deadline:
                    raise
    except (ConnectionResetError, BrokenPipeError):
        pass
    closed += 1
print("closed", closed, flush=True)
PY
spid=$!
waitfor stall.out stalled
waitfor err 'did not arrive within 1 s (--header-timeout)'
wait $spid || fail "stalled clients: $(cat stall.out)"
grep -q 'closed 8' stall.out || fail "not every stalled connection was closed: $(cat stall.out)"
r=$(post small.json)
case "$r" in "200 "*'"events":2,'*) ;; *) fail "a legitimate client after the stalled ones: $r" ;; esac
# many stalled connections under the per-IP default do not delay another client's batch
python3 - "$port" > stall2.out 2>&1 <<'PY' &
import socket, sys, time
socks = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(6)]
for s in socks:
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
print("holding", flush=True)
time.sleep(5)
PY
spid=$!
waitfor stall2.out holding
r=$(post small.json)
case "$r" in "200 "*) ;; *) fail "a batch while 6 bodies are half-sent: $r" ;; esac
wait $spid
stop

# --- half-sent bodies: the in-flight budget, then --body-timeout ---------------------------------
start o3 --max-body 600K --max-inflight 1M --body-timeout 1
python3 - "$port" > half.out 2>&1 <<'PY'
import socket, sys
port = int(sys.argv[1])
def half():
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 600000\r\n\r\n{\"kind\":")
    return s
a = half()
import time; time.sleep(0.5)
b = half()  # 600K + 600K > 1M: refused at once, nothing read
b.settimeout(30)
print("second:", b.recv(200).split(b"\r\n")[0].decode(), flush=True)
a.settimeout(60)  # the first is closed at --body-timeout
try:
    while a.recv(4096):
        pass
except ConnectionResetError:
    pass
print("first closed", flush=True)
PY
grep -q 'second: HTTP/1.1 503' half.out || fail "a body over the in-flight budget: $(cat half.out)"
grep -q 'first closed' half.out || fail "a half-sent body was not closed: $(cat half.out)"
waitfor err 'body did not arrive within 1 s (--body-timeout)'
r=$(post small.json)
case "$r" in "200 "*) ;; *) fail "after the half-sent bodies: $r" ;; esac
stop

# --- flags --------------------------------------------------------------------------------------
"$K" scan --no-state --max-per-ip 0 --listen 127.0.0.1:0 2> e; rc=$?
[ $rc = 1 ] && grep -q -- '--max-per-ip: expected a positive number' e || fail "--max-per-ip 0: exit $rc: $(cat e)"
"$K" scan --no-state --header-timeout 5 q.toml 2> e; rc=$?
[ $rc = 1 ] && grep -q 'need --listen' e || fail "--header-timeout without --listen: exit $rc: $(cat e)"

# --- not loopback, no TLS: a warning (kadet serve refuses it) ------------------------------------
: > err
"$K" scan --no-state --no-progress --rules q.toml --listen 0.0.0.0:0 > /dev/null 2> err &
pid=$!
waitfor err 'not a loopback address'
stop
echo ok
