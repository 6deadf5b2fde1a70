#!/usr/bin/env bash
# check-helm.sh CHART - `make check-package`, part 3: the Helm chart. With helm installed:
# `helm lint` and `helm template` (defaults, and with every option on). Helm is not a Debian 12
# package, so otherwise a structural check runs instead (python3-yaml): Chart.yaml's fields,
# values.yaml parses, every .Values path a template uses exists in values.yaml, every
# if/range/with/define has its end, and each template parses as YAML once its template actions
# are replaced by a placeholder, with apiVersion, kind and metadata.name.
set -euo pipefail
CHART=${1:?usage: check-helm.sh CHART}
if command -v helm >/dev/null; then
    helm lint --strict "$CHART"
    helm template t "$CHART" >/dev/null
    helm template t "$CHART" --set serviceMonitor.enabled=true --set tls.tokenSecretName=tok \
        --set-string 'rules.files.r\.toml=x' --set-string 'exceptions.files.e\.toml=x' >/dev/null
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
