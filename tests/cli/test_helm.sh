#!/usr/bin/env bash
# The Helm chart deploy/helm/kadet: helm lint + template when helm is installed, else the
# structural check of scripts/check-helm.sh (python3-yaml; skipped when that is missing).
if ! command -v helm >/dev/null && ! python3 -c 'import yaml' 2>/dev/null; then
    echo "skip: neither helm nor python3-yaml (scripts/deps.sh --test installs python3-yaml)"
    exit 77
fi
bash scripts/check-helm.sh deploy/helm/kadet
