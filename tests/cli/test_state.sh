#!/usr/bin/env bash
# kadet state stats|terms|propose|prune|reset: empty and missing states, usage errors, filters, JSON,
# prune and reset on a state filled through the module API (build/kadet-statebench fill).
set -u
K=${KADET:-./kadet}
FILL=${KADET_STATEBENCH:-build/kadet-statebench}
fail() { echo "FAIL: $*"; exit 1; }
T=$(mktemp -d /tmp/kadet-cli-state.XXXXXX)
trap 'rm -rf "$T"' EXIT

# ---- usage errors: exit 1, nothing on stdout
for args in "" "bogus" "stats --bogus" "terms --where nofield" "terms --where =x" \
            "prune --older-than 10x" "prune --older-than" "reset" "reset --rule a --all" \
            "stats --rule x" "terms --yes" "prune --json" "terms --limit -3" "stats --json=1"; do
  # shellcheck disable=SC2086
  "$K" state $args --state "$T/none.db" >"$T/out" 2>"$T/err"; rc=$?
  [ $rc = 1 ] || fail "'state $args' exit $rc (want 1)"
  [ -s "$T/out" ] && fail "'state $args' wrote to stdout"
  grep -q "kadet state: " "$T/err" || fail "'state $args' has no message: $(cat "$T/err")"
done
"$K" state terms --where x --state "$T/none.db" 2>"$T/err"
grep -q "FIELD=VALUE" "$T/err" || fail "--where error text"
"$K" state reset --all --state "$T/none.db" 2>"$T/err"; [ $? = 1 ] || fail "reset without --yes"
grep -q "add --yes" "$T/err" || fail "reset confirmation text"
"$K" state --help | grep -q "usage: kadet state stats" || fail "state --help"
"$K" help state | grep -q "kadet state terms" || fail "help state"

# ---- missing state: exit 2, never created
for sub in stats terms "prune" "reset --all --yes"; do
  # shellcheck disable=SC2086
  "$K" state $sub --state "$T/missing/state.db" >"$T/out" 2>"$T/err"; rc=$?
  [ $rc = 2 ] || fail "'state $sub' on a missing state: exit $rc (want 2)"
  grep -q "cannot open state '$T/missing/state.db'" "$T/err" || fail "missing message: $(cat "$T/err")"
  [ -e "$T/missing" ] && fail "'state $sub' created the state"
done

# ---- not a state
echo "hello, I am not a database, only text that is long enough for a header check." > "$T/junk.db"
"$K" state stats --state "$T/junk.db" 2>"$T/err"; [ $? = 2 ] || fail "junk state exit"
grep -q "error:" "$T/err" || fail "junk state message"

# ---- default path follows XDG_STATE_HOME
XDG_STATE_HOME="$T/xdg" "$K" state stats 2>"$T/err"; [ $? = 2 ] || fail "default path exit"
grep -q "$T/xdg/kadet/state.db" "$T/err" || fail "default path is not under XDG_STATE_HOME"

# ---- propose: learned allow-list proposals (semantics.md, "Exceptions") as a detection-rules exception file
R=rules/kubernetes_unusual_decision_by_user_agent.toml
gen() { # DAY USER UA(JSON-escaped) -> one ECS document the rule's query matches
    printf '{"@timestamp":"2026-03-%sT10:00:00.000Z","event":{"ingested":"2026-03-%sT10:00:01.000Z","dataset":"kubernetes.audit_logs"},"host":{"os":{"type":"linux"}},"user_agent":{"original":"%s"},"kubernetes":{"audit":{"auditID":"id-%s-%s","stage":"ResponseComplete","user":{"username":"%s"},"annotations":{"authorization_k8s_io/decision":"allow"}}}}\n' \
        "$1" "$1" "$3" "$1" "$2" "$2"
}
UA='helm/3.14 \"x\"\\'
{ for d in 01 02 03 04 05 06 07 08 09 10 11; do gen $d system:serviceaccount:ci:runner "$UA"; done
  gen 05 alice curl/8; gen 01 bob kubectl/1.29; gen 02 carol kubectl/1.29; gen 11 carol kubectl/1.29
} > "$T/learn.jsonl"
"$K" scan --learn --state "$T/p.db" -r "$R" --no-progress "$T/learn.jsonl" 2>/dev/null || fail "propose: learn"
"$K" state propose --state "$T/p.db" > "$T/prop.toml" || fail "propose exit"
[ "$(grep -c '^\[\[exceptions.items\]\]' "$T/prop.toml")" = 2 ] || fail "propose: items $(cat "$T/prop.toml")"
grep -q '^value = "system:serviceaccount:ci:runner"$' "$T/prop.toml" || fail "propose: ci runner"
grep -q '^value = "helm/3.14 \\"x\\"\\\\"$' "$T/prop.toml" || fail "propose: escaped user agent"
grep -q '^value = "carol"$' "$T/prop.toml" || fail "propose: carol (day 2 to day 11)"
grep -q 'alice\|bob' "$T/prop.toml" && fail "propose: a combination not seen through the baseline"
grep -q '^rule_ids = \["8a1db198-da6f-4500-b985-7fe2457300af"\]$' "$T/prop.toml" || fail "propose: rule_ids"
"$K" rules check -q --exceptions "$T/prop.toml" "$R" >/dev/null 2>"$T/err" || fail "propose: file does not load: $(cat "$T/err")"
{ gen 12 system:serviceaccount:ci:runner "$UA"; gen 12 carol kubectl/1.29; gen 12 dave wget; } > "$T/new.jsonl"
u=$("$K" scan --no-state -r "$R" --exceptions "$T/prop.toml" --no-progress "$T/new.jsonl" 2>/dev/null |
    grep -o '"username":"[^"]*"')
[ "$u" = '"username":"dave"' ] || fail "propose: the proposals do not except their combinations: $u"
"$K" state propose --state "$T/p.db" --min-days 11 >"$T/out" 2>"$T/err" || fail "propose --min-days exit"
[ -s "$T/out" ] && fail "propose --min-days 11 printed items"
grep -q "no combination was seen through a whole baseline" "$T/err" || fail "propose none: $(cat "$T/err")"
for args in "propose --min-days 0" "propose --min-days x" "terms --min-days 3" "propose --json"; do
  # shellcheck disable=SC2086
  "$K" state $args --state "$T/p.db" >/dev/null 2>&1; [ $? = 1 ] || fail "'state $args' must be a usage error"
done

[ -x "$FILL" ] || { echo "skip: $FILL not built (make tools)"; exit 77; }

# ---- an empty state (no rules): every subcommand works
"$FILL" fill --state "$T/empty.db" --terms 1 --rules 1 >/dev/null || fail "fill empty"
"$K" state reset --all --yes --state "$T/empty.db" >"$T/out" || fail "reset all"
grep -q "reset: 1 combinations removed" "$T/out" || fail "reset all output: $(cat "$T/out")"
"$K" state stats --state "$T/empty.db" >"$T/out" || fail "stats on empty"
grep -q "^combinations: 0" "$T/out" || fail "empty stats: $(cat "$T/out")"
"$K" state terms --state "$T/empty.db" >"$T/out" 2>"$T/err" || fail "terms on empty"
[ -s "$T/out" ] && fail "terms on empty printed rows"
grep -q "no combinations in this state" "$T/err" || fail "empty terms message"
"$K" state stats --json --state "$T/empty.db" | jq -e '.combinations == 0 and (.rules|length) == 0' \
  >/dev/null || fail "empty stats json"

# ---- a filled state: 2 rules x 500 combinations
S="$T/s.db"
"$FILL" fill --state "$S" --terms 1000 --rules 2 >/dev/null || fail "fill"
"$K" state stats --state "$S" >"$T/out" || fail "stats"
grep -q "^combinations: 1000" "$T/out" || fail "stats combinations"
grep -q "^alert ids:    200" "$T/out" || fail "stats alert ids"
grep -q "rule-two .*current .* 500 .* 100 2026-01-1" "$T/out" || fail "stats rule line: $(cat "$T/out")"
grep -q "2049:131:/var/log/kubernetes/audit.log: offset 123456789, line 4242" "$T/out" || fail "positions"
grep -q "events.read  *10000" "$T/out" || fail "counters"
"$K" state stats --json --state "$S" > "$T/stats.json" || fail "stats --json"
jq -e '.combinations == 1000 and .alert_ids == 200 and (.rules|length) == 2
       and .rules[1].rule_id == "rule-two" and .rules[1].terms == 500
       and .rules[1].window_ms == 864000000 and (.rules[1].fields|length) == 3
       and .inputs[0].offset == 123456789 and .counters["events.read"] == 10000' \
  "$T/stats.json" >/dev/null || fail "stats json: $(cat "$T/stats.json")"

# terms: one username, every user agent and decision seen for it, table and JSON
U=system:serviceaccount:ns-5:sa-5
"$K" state terms --state "$S" --rule rule-two --where "username=$U" >"$T/out" || fail "terms where"
grep -q "^== rule-two  Kubernetes Unusual Decision by User Agent" "$T/out" || fail "terms header"
grep -q "^FIRST SEEN  *LAST SEEN  *ALERT  decision  username  *user_agent.original" "$T/out" \
  || fail "terms columns: $(cat "$T/out")"
[ "$(grep -c "  $U  " "$T/out")" = 1 ] || fail "terms where rows: $(cat "$T/out")"
"$K" state terms --state "$S" --json --where "kubernetes.audit.user.username=$U" >"$T/out" || fail "terms json"
[ "$(wc -l < "$T/out")" = 2 ] || fail "terms json rows (one per rule): $(cat "$T/out")"
jq -e --arg u "$U" '.terms["kubernetes.audit.user.username"] == $u and (.first_seen|test("^2026-01-"))
   and (.alerted|type) == "boolean"' "$T/out" >/dev/null || fail "terms json fields"
n=$("$K" state terms --state "$S" --json --where "user_agent.original~python-requests" | wc -l)
[ "$n" = 250 ] || fail "substring filter gave $n rows (want 250)"
n=$("$K" state terms --state "$S" --json --where "decision=forbid" --where "user_agent.original~kubectl" | wc -l)
[ "$n" -gt 0 ] && [ "$n" -lt 100 ] || fail "two conditions gave $n rows"
n=$("$K" state terms --state "$S" --json --limit 7 | wc -l)
[ "$n" = 7 ] || fail "--limit gave $n rows"
n=$("$K" state terms --state "$S" --json --rule no-such-rule | wc -l)
[ "$n" = 0 ] || fail "unknown rule gave rows"
n=$("$K" state terms --state "$S" --json --where "no.such.field=x" | wc -l)
[ "$n" = 0 ] || fail "unknown field gave rows"

# read-only inspection does not change the file
before=$(md5sum < "$S")
"$K" state stats --state "$S" >/dev/null; "$K" state terms --state "$S" >/dev/null
[ "$(md5sum < "$S")" = "$before" ] || fail "inspection modified the state"

# prune: the fill spreads event times over 12 days, the window is 10 days
"$K" state prune --state "$S" --rule rule-two >"$T/out" || fail "prune by window"
grep -qE "^pruned [1-9][0-9]* combinations" "$T/out" || fail "prune output: $(cat "$T/out")"
"$K" state prune --state "$S" --rule rule-two >"$T/out" || fail "prune again"
grep -q "^pruned 0 combinations" "$T/out" || fail "second prune removed more: $(cat "$T/out")"
"$K" state prune --state "$S" --older-than 1d >"$T/out" || fail "prune --older-than"
left=$("$K" state stats --json --state "$S" | jq '.combinations')
[ "$left" -gt 0 ] && [ "$left" -lt 300 ] || fail "after prune --older-than 1d: $left combinations"
"$K" state prune --state "$S" --rule nope 2>"$T/err"; [ $? = 2 ] || fail "prune unknown rule exit"
grep -q "no rule 'nope'" "$T/err" || fail "prune unknown rule message"

# reset one rule, then everything
"$K" state reset --state "$S" --rule rule-two --yes >"$T/out" || fail "reset rule"
grep -q "^reset rule rule-two: " "$T/out" || fail "reset rule output"
"$K" state stats --json --state "$S" | jq -e '(.rules|length) == 1' >/dev/null || fail "reset rule left rules"
"$K" state reset --state "$S" --rule rule-two --yes 2>"$T/err"; [ $? = 2 ] || fail "reset twice exit"
"$K" state reset --state "$S" --all --yes >/dev/null || fail "reset all"
"$K" state stats --json --state "$S" | jq -e '.combinations == 0 and (.inputs|length) == 0
   and (.counters|length) == 0' >/dev/null || fail "reset all left data"
exit 0
