#!/usr/bin/env bash
# Records kadet skips on purpose or cannot place in time: a warning with the position, a count
# in the summary, the remedy for a missing time (which works); the exit status stays 0.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
python3 - <<'PY'
import json
from ev import ev
gke = {"protoPayload": {"@type": "type.googleapis.com/google.cloud.audit.AuditLog",
                        "serviceName": "container.googleapis.com",
                        "methodName": "google.container.v1.ClusterManager.UpdateCluster",
                        "resourceName": "projects/p/zones/z/clusters/c"},
       "logName": "projects/p/logs/cloudaudit.googleapis.com%2Factivity",
       "timestamp": "2026-03-01T10:00:00Z", "resource": {"type": "gke_cluster"}}
open("gke.jsonl", "w").write(ev(1) + "\n" + json.dumps(gke) + "\n" + ev(2) + "\n")
open("time.jsonl", "w").write(ev(3) + "\n" + ev(4, stageTimestamp="yesterday",
                                                requestReceivedTimestamp="nope") + "\n")
PY
cat > nt.toml <<'TOML'
[metadata]
creation_date = "2026/01/01"
maturity = "production"
updated_date = "2026/01/01"

[rule]
author = ["kadet tests"]
description = "new user agents"
language = "kuery"
name = "hostile new terms"
risk_score = 21
rule_id = "hostile-nt"
severity = "low"
type = "new_terms"
query = 'kubernetes.audit.verb:"get"'

[rule.new_terms]
field = "new_terms_fields"
value = ["user_agent.original"]
[[rule.new_terms.history_window_start]]
field = "history_window_start"
value = "now-10d"
TOML

scan o1 e1 gke.jsonl
[ $rc = 0 ] || fail "GKE operation: exit $rc: $(cat e1)"
grep -q "warning: gke.jsonl:2:1: Cloud Logging entry of service 'container.googleapis.com'" e1 ||
    fail "GKE operation: no positioned warning: $(cat e1)"
grep -q '1 not Kubernetes audit events (ignored)' e1 || fail "GKE operation: not counted: $(head -1 e1)"
[ "$(wc -l < o1)" = 2 ] || fail "GKE operation: the audit events around it were not scanned"

scan o2 e2 --rules nt.toml time.jsonl
[ $rc = 0 ] || fail "bad time: exit $rc: $(cat e2)"
grep -q 'warning: time.jsonl:2:1: event h-4: stageTimestamp is not a date' e2 || fail "bad time: $(cat e2)"
grep -q '1 with a time that is not a date' e2 || fail "bad time: not counted: $(head -1 e2)"
grep -q 'no time 1;' e2 || fail "bad time: the new_terms rule does not count it: $(cat e2)"
grep -q 'Remedy: --timestamp received' e2 || fail "bad time: no remedy in the summary: $(cat e2)"
# the remedy works: with --timestamp received the event has a time and no rule reports "no time"
scan o3 e3 --rules nt.toml --timestamp received time.jsonl
grep -q 'no time' e3 && fail "--ingested now: still no time: $(cat e3)"
echo ok
