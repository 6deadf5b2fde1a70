#!/usr/bin/env bash
# demo.sh - `make demo`: kadet's main job on a generated sample, end to end.
#
#  1. generate a few days of realistic kube-apiserver audit logs with the project's generator
#     (tools/kadet-gen.c; deterministic for a seed), with novel (decision, user, agent)
#     combinations in the last day;
#  2. learn the first days into a fresh state (`kadet scan --learn`: baseline, no alerts);
#  3. scan the last day with the founding rule and print the alerts as a table.
# Everything goes to build/demo/; nothing outside the repository is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
K=./kadet
GEN=build/kadet-gen
D=build/demo
DAYS=${DEMO_DAYS:-5}
SEED=${DEMO_SEED:-42}
RULES=${DEMO_RULES:-rules/kubernetes_unusual_decision_by_user_agent.toml}
[ -e "$RULES" ] || RULES=rules
rm -rf "$D"
mkdir -p "$D"

EVENTS=${DEMO_EVENTS:-40000}
echo "== 1. generating $DAYS days of audit logs: $EVENTS events, seed $SEED (build/kadet-gen)"
"$GEN" --seed "$SEED" --days "$DAYS" --events "$EVENTS" --novel 12 --novel-after $((DAYS - 1)) \
    --truth "$D/truth.jsonl" --out "$D/audit.jsonl"
# the last day is the one we scan; the days before are the baseline
last=$(tail -n 1 "$D/audit.jsonl" | grep -o '"stageTimestamp":"[0-9-]*' | cut -d'"' -f4)
split=$(grep -n -m 1 "\"stageTimestamp\":\"$last" "$D/audit.jsonl" | cut -d: -f1)
head -n $((split - 1)) "$D/audit.jsonl" > "$D/learn.jsonl"
tail -n +"$split" "$D/audit.jsonl" > "$D/live.jsonl"
printf '   %s events to learn (the days before %s), %s events to scan (%s)\n' \
    "$(wc -l < "$D/learn.jsonl")" "$last" "$(wc -l < "$D/live.jsonl")" "$last"
printf '   the generator injected %s novel combinations on %s (%s)\n' \
    "$(wc -l < "$D/truth.jsonl")" "$last" "$D/truth.jsonl"

echo
echo "== 2. learning the baseline: kadet scan --learn"
"$K" scan --rules "$RULES" --state "$D/state.db" --learn --no-progress \
    "$D/learn.jsonl"

echo
echo "== 3. scanning $last with the founding rule: kadet scan --table"
for f in "$D"/state.db*; do cp "$f" "$D/json-${f##*/}"; done
"$K" scan --rules "$RULES" --state "$D/state.db" --no-progress --table \
    "$D/live.jsonl"
"$K" scan --rules "$RULES" --state "$D/json-state.db" --no-progress \
    --output "$D/alerts.jsonl" "$D/live.jsonl" 2>/dev/null

echo
echo "== the same alerts as Elastic writes them (NDJSON): $D/alerts.jsonl; their reasons:"
grep -o '"kibana.alert.reason":"[^"]*"' "$D/alerts.jsonl" | cut -d'"' -f4 | head -n 5 | sed 's/^/   /'
echo
echo "== kadet.baseline of the first alert (what the state knew about that user):"
head -n 1 "$D/alerts.jsonl" | sed -e 's/.*"kadet.baseline"://' -e 's/}$//' -e 's/},{/},\n  {/g' \
    -e 's/"seen":\[/"seen":[\n  /' | cut -c1-200 | sed 's/^/   /'
echo
echo "Files: $D/ (audit.jsonl, learn.jsonl, live.jsonl, truth.jsonl, alerts.jsonl, state.db)."
echo "Inspect the state: ./kadet state stats --state $D/state.db"
