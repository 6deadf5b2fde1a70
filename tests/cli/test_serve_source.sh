#!/usr/bin/env bash
# kadet serve --source (docs/deployment.md "Sources and their cluster"): each source sets its own
# host.* and orchestrator.cluster.name. A followed file given `cluster_name` and `host_name`, a
# rotated copy of it (logrotate's PATH.1), the webhook given another cluster, and a second
# followed file without --source (the service's --cluster-name and this machine's host) each
# stamp their events so; the same settings from the config file ([source] list); a --source for
# an unknown source is a usage error naming it.
. tests/cli/serve_lib.sh
mkcerts
mkrules
tls_args
A=$T/a/audit.log B=$T/b/audit.log
mkdir -p "$T/a" "$T/b"
del() { ev "$1" "user-1" "agent/1" delete; echo; }
wait_n() { # wait_n N: serve-q alerts in alerts.jsonl
    for _ in $(seq 600); do
        [ "$(grep -c '"serve-q"' "$T/alerts.jsonl" 2> /dev/null)" -ge "$1" ] 2> /dev/null && return 0
        sleep 0.1
    done
    fail "expected $1 serve-q alerts, got $(grep -c '"serve-q"' "$T/alerts.jsonl")"
}
# meta ID: "cluster host os" of the alert of event ID
meta() {
    jq -r --arg id "$1" 'select(.kubernetes.audit.auditID == $id and .["kibana.alert.rule.rule_id"] == "serve-q") |
        "\(.orchestrator.cluster.name // "-") \(.host.name // "-") \(.host.os.type // "-")"' "$T/alerts.jsonl"
}
check() { # check ID EXPECTED
    local got
    got=$(meta "$1")
    [ "$got" = "$2" ] || fail "$1: expected '$2', got '$got'"
}
me=$(hostname)

del a-1 > "$A"
del b-1 > "$B"
start 127.0.0.1:0 "${TLS_ARGS[@]}" --state "$T/state.db" --output "$T/alerts.jsonl" \
    --cluster-name main --follow "$A" --follow "$B" \
    --source "$A:cluster_name=eu-1,host_name=cp-eu-1" --source "webhook:cluster_name=hooked"
wait_n 2
mv "$A" "$A.1" # logrotate: the rotated copy keeps the file's settings
del a-2 >> "$A.1"
del a-3 > "$A"
evlist "$(ev w-1 user-1 agent/1 delete)" > "$T/w.json"
r=$(post "$T/w.json" "${CERT[@]}")
[ "${r%% *}" = 200 ] || fail "post: $r"
wait_n 5
stop
[ "$rc" = 0 ] || fail "serve exited $rc"
check a-1 "eu-1 cp-eu-1 linux"
check a-2 "eu-1 cp-eu-1 linux"
check a-3 "eu-1 cp-eu-1 linux"
check b-1 "main $me linux"
check w-1 "hooked $me linux"

# the same from the config file, with no_host for the webhook
rm -f "$T/alerts.jsonl" "$T/state.db"*
rm -rf "$T/spool"
cat > "$T/kadet.toml" <<EOF
cluster_name = "main"
follow = ["$B"]
source = ["$B:cluster_name=b-cluster,host_os_type=windows", "webhook:no_host=true"]
EOF
start 127.0.0.1:0 "${TLS_ARGS[@]}" --config "$T/kadet.toml" --state "$T/state.db" \
    --output "$T/alerts.jsonl"
evlist "$(ev w-2 user-1 agent/1 delete)" > "$T/w.json"
r=$(post "$T/w.json" "${CERT[@]}")
[ "${r%% *}" = 200 ] || fail "post: $r"
wait_n 2
stop
check b-1 "b-cluster $me windows"
check w-2 "main - -"

# a source that is neither the webhook nor a followed path
"$K" serve --listen 127.0.0.1:0 "${TLS_ARGS[@]}" --state "$T/s2.db" --follow "$A" \
    --source "$T/nope.log:cluster_name=x" > /dev/null 2> "$T/err2" && fail "unknown source accepted"
grep -q "nope.log' is neither webhook" "$T/err2" || fail "unknown source: $(cat "$T/err2")"
"$K" serve --listen 127.0.0.1:0 "${TLS_ARGS[@]}" --state "$T/s2.db" \
    --source "webhook:colour=blue" > /dev/null 2> "$T/err2" && fail "unknown key accepted"
grep -q "byte 9: unknown key 'colour'" "$T/err2" || fail "unknown key: $(cat "$T/err2")"
echo "ok: per-source cluster and host (flags and config file, rotated copies, webhook)"
