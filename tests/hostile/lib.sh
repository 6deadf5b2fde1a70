# tests/hostile/lib.sh - shared by the tests/hostile/*.sh cases (sourced; see README.md).
# Every case builds its inputs in a temporary directory, runs $KADET (the ASan build under
# `make check`) and asserts the exit status, the alerts and the message on stderr.
set -u
K=${KADET:-./kadet}
T=$(mktemp -d)
export XDG_STATE_HOME=$T/xdg HOME=$T/home # no case may touch the user's default state
trap '[ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
command -v python3 >/dev/null || { echo "skip: python3 is needed to build the inputs"; exit 77; }

# One query rule that alerts on every `get` (max_signals high enough for every case).
cat > "$T/q.toml" <<'TOML'
[metadata]
creation_date = "2026/01/01"
maturity = "production"
updated_date = "2026/01/01"

[rule]
author = ["kadet tests"]
description = "every get"
language = "kuery"
name = "hostile every get"
risk_score = 21
rule_id = "hostile-q"
severity = "low"
type = "query"
max_signals = 100000
query = 'kubernetes.audit.verb:"get"'
TOML

# gen.py: python3 "$T/gen.py" NAME writes the named input into $T (see the case scripts).
cat > "$T/ev.py" <<'PY'
import json
BASE = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": "x",
        "stage": "ResponseComplete", "requestURI": "/api/v1/pods", "verb": "get",
        "user": {"username": "u"}, "sourceIPs": ["10.0.0.1"], "userAgent": "a",
        "objectRef": {"resource": "pods", "apiVersion": "v1"}, "responseStatus": {"code": 200},
        "requestReceivedTimestamp": "2026-03-01T10:00:00.000000Z",
        "stageTimestamp": "2026-03-01T10:00:00.100000Z"}
def ev(i, **kw):
    d = dict(BASE)
    d["auditID"] = "h-%d" % i
    d.update(kw)
    return json.dumps(d)
PY

# scan OUT ERR ARGS...: one scan without state (unless ARGS give --state), exit status in rc
scan() {
    local out=$1 err=$2
    shift 2
    "$K" scan --no-state --no-progress --no-host-metadata --rules "$T/q.toml" --now 2026-03-02T00:00:00Z "$@" \
        > "$out" 2> "$err"
    rc=$?
}
# every line of FILE is a JSON document
valid_json() {
    python3 -c 'import json,sys
for n, l in enumerate(open(sys.argv[1], "rb"), 1):
    json.loads(l)' "$1" || fail "$1 has a line that is not JSON"
}
