# serve_lib.sh - sourced by tests/cli/test_serve*.sh (not a test itself).
# Certificates made with openssl on the fly (a CA, the server's for 127.0.0.1, a client's, and a
# client's from another CA), a token file, rules (the bundled ones plus a query rule on
# deletes), event and EventList makers, and start/stop helpers for kadet serve.
set -u
K=${KADET:-./kadet}
command -v curl > /dev/null || { echo "skip: curl missing (scripts/deps.sh --test)"; exit 77; }
command -v openssl > /dev/null || { echo "skip: openssl missing (scripts/deps.sh --test)"; exit 77; }
command -v jq > /dev/null || { echo "skip: jq missing (scripts/deps.sh --test)"; exit 77; }
T=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    jobs -p | xargs -r kill -9 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT
fail() { echo "FAIL: $*"; [ -f "$T/err" ] && tail -20 "$T/err"; exit 1; }

mkcerts() {
    local d=$T/tls
    mkdir -p "$d"
    (
        cd "$d" || exit 1
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
            -subj "/CN=kadet test CA" 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
            -subj "/CN=127.0.0.1" 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -out server.pem -days 2 -extfile server.ext 2>/dev/null
        printf 'extendedKeyUsage=clientAuth\n' > client.ext
        openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr \
            -subj "/CN=kube-apiserver" 2>/dev/null
        openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -out client.pem -days 2 -extfile client.ext 2>/dev/null
        # a client certificate from a CA serve does not trust
        openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem \
            -days 2 -subj "/CN=other CA" 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -keyout rogue.key -out rogue.csr \
            -subj "/CN=kube-apiserver" 2>/dev/null
        openssl x509 -req -in rogue.csr -CA other-ca.pem -CAkey other-ca.key -CAcreateserial \
            -out rogue.pem -days 2 -extfile client.ext 2>/dev/null
    ) || fail "openssl could not make the test certificates"
    [ -s "$d/client.pem" ] && [ -s "$d/rogue.pem" ] || fail "certificates missing"
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$d/token"
    echo >> "$d/token"
}

mkrules() {
    mkdir -p "$T/rules"
    cp rules/*.toml "$T/rules/" 2>/dev/null || fail "no bundled rules"
    cat > "$T/rules/q.toml" <<'EOF'
[metadata]
creation_date = "2026/01/01"
maturity = "production"
updated_date = "2026/01/01"

[rule]
author = ["kadet tests"]
description = "serve test"
language = "kuery"
name = "serve test deletes"
risk_score = 47
rule_id = "serve-q"
severity = "medium"
type = "query"
query = 'kubernetes.audit.verb:"delete"'
EOF
}

ev() { # ev ID USER AGENT [VERB [TIME]]: one raw audit event on one line
    printf '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"%s","stage":"ResponseComplete","requestURI":"/api/v1/pods","verb":"%s","user":{"username":"%s","groups":["system:authenticated"]},"sourceIPs":["10.0.0.1"],"userAgent":"%s","objectRef":{"resource":"pods","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"%s","stageTimestamp":"%s","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}}' "$1" "${4:-list}" "$2" "$3" "${5:-2026-01-05T00:00:01.000000Z}" "${5:-2026-01-05T00:00:01.000000Z}"
}
evlist() { # evlist EVENT...: an audit.k8s.io/v1 EventList, pretty-printed
    printf '{\n  "kind": "EventList",\n  "apiVersion": "audit.k8s.io/v1",\n  "metadata": {},\n  "items": [\n'
    local sep=""
    for e in "$@"; do printf '%s    %s' "$sep" "$e"; sep=$',\n'; done
    printf '\n  ]\n}\n'
}

TLS_ARGS=()
tls_args() {
    TLS_ARGS=(--tls-cert "$T/tls/server.pem" --tls-key "$T/tls/server.key"
        --client-ca "$T/tls/ca.pem" --token-file "$T/tls/token")
}

# start LISTEN ARGS...: kadet serve in the background; sets pid, PORT and URL (https)
start() {
    local listen=$1
    shift
    : > "$T/err"
    "$K" serve --listen "$listen" --rules "$T/rules" --host-os-type linux \
        --now 2026-01-06T00:00:00Z "$@" > "$T/stdout" 2> "$T/err" &
    pid=$!
    for _ in $(seq 600); do
        PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\) (webhook.*/\1/p' "$T/err" | head -1)
        [ -n "$PORT" ] && { URL="https://127.0.0.1:$PORT"; return 0; }
        kill -0 "$pid" 2>/dev/null || fail "serve exited before listening: $(cat "$T/err")"
        sleep 0.1
    done
    fail "no 'listening on' line: $(cat "$T/err")"
}
# stop: SIGTERM and wait; sets rc
stop() {
    kill -TERM "$pid"
    wait "$pid"
    rc=$?
    pid=
}

CURL_CA=(--cacert "$T/tls/ca.pem")
CERT=(--cert "$T/tls/client.pem" --key "$T/tls/client.key")
bearer() { echo "Authorization: Bearer $(cat "$T/tls/token")"; }
# post FILE CURLARGS...: prints "CODE BODY" (CODE 000 when the connection failed)
post() {
    local f=$1
    shift
    local code
    code=$(curl -sS -o "$T/resp" -w '%{http_code}' "${CURL_CA[@]}" --data-binary "@$f" \
        "$@" "$URL/" 2> "$T/curl.err")
    echo "$code $(cat "$T/resp" 2>/dev/null)"
}
metric() { # metric NAME: its value from /metrics (token auth)
    curl -sS "${CURL_CA[@]}" -H "$(bearer)" "$URL/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}
# wait_alerts FILE N: until FILE has at least N lines (60 s at most)
wait_alerts() {
    for _ in $(seq 600); do
        [ -f "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ] && return 0
        sleep 0.1
    done
    fail "expected $2 alerts in $1, got $(wc -l < "$1" 2>/dev/null)"
}
