#!/usr/bin/env bash
# CLI polish (issue 16): did-you-mean for commands, subcommands and options; `kadet help help`;
# a --rules/--exceptions path that cannot be read names the option; no summary of zeros when no
# input opened; the --table row names its rule when several new_terms rules run and fits
# $COLUMNS with an ellipsis; `kadet help state` names only commands that exist; an unterminated
# KQL quote is named at the quote.
set -u
K=${KADET:-./kadet}
T=$(mktemp -d)
export XDG_STATE_HOME=$T/xdg
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# did you mean
"$K" scna 2> "$T/e"; [ $? = 1 ] || fail "unknown command: exit"
grep -q "unknown command 'scna'; did you mean 'scan'?" "$T/e" || fail "command: $(head -1 "$T/e")"
"$K" --verison 2> "$T/e"; grep -q "did you mean '--version'?" "$T/e" || fail "top option: $(head -1 "$T/e")"
"$K" help sacn 2> "$T/e"; grep -q "did you mean 'scan'?" "$T/e" || fail "help COMMAND: $(head -1 "$T/e")"
"$K" scan --outptu x 2> "$T/e"; [ $? = 1 ] || fail "scan option: exit"
grep -q "kadet scan: unknown option '--outptu'; did you mean '--output'?" "$T/e" || fail "scan option: $(cat "$T/e")"
"$K" hunt --cuont x 2> "$T/e"; [ $? = 2 ] || fail "hunt option: exit (hunt's usage errors are 2)"
grep -q "did you mean '--count'?" "$T/e" || fail "hunt option: $(cat "$T/e")"
"$K" ecs --keep-emtpy 2> "$T/e"; grep -q "did you mean '--keep-empty'?" "$T/e" || fail "ecs option: $(cat "$T/e")"
"$K" preview --rules x --invocatoins 2 2> "$T/e"; grep -q "did you mean '--invocations'?" "$T/e" || fail "preview option: $(cat "$T/e")"
"$K" rules lsit 2> "$T/e"; grep -q "unknown subcommand 'lsit'; did you mean 'list'?" "$T/e" || fail "rules subcommand: $(cat "$T/e")"
"$K" rules list --strcit 2> "$T/e"; grep -q "did you mean '--strict'?" "$T/e" || fail "rules option: $(cat "$T/e")"
"$K" state stast 2> "$T/e"; grep -q "did you mean 'stats'?" "$T/e" || fail "state subcommand: $(cat "$T/e")"
"$K" state stats --jsno 2> "$T/e"; grep -q "did you mean '--json'?" "$T/e" || fail "state option: $(cat "$T/e")"
"$K" scan --zzzzzz 2> "$T/e"; grep -q "did you mean" "$T/e" && fail "a suggestion for nothing alike: $(cat "$T/e")"

# help help
"$K" help help > "$T/o" || fail "help help: exit"
grep -q '^usage: kadet help \[COMMAND\]' "$T/o" || fail "help help: $(cat "$T/o")"
# help state: no command that does not exist
for w in $("$K" help state | grep -o "kadet [a-z]*" | awk '{print $2}' | grep -v '^never$' | sort -u); do
    "$K" help "$w" > /dev/null 2>&1 || fail "kadet help state names 'kadet $w', which does not exist"
done
if "$K" help state | grep -qw serve; then
    "$K" help serve > /dev/null 2>&1 || fail "kadet help state names serve, which does not exist"
fi

# --rules / --exceptions that cannot be read name the option
"$K" scan --no-state --rules "$T/nope" 2> "$T/e" < /dev/null; [ $? = 1 ] || fail "--rules missing: exit"
grep -q "kadet scan: --rules $T/nope: No such file or directory" "$T/e" || fail "--rules: $(cat "$T/e")"
"$K" scan --no-state --rules rules --exceptions "$T/nope" 2> "$T/e" < /dev/null
grep -q -- "--exceptions $T/nope: No such file or directory" "$T/e" || fail "--exceptions: $(cat "$T/e")"
"$K" preview --rules "$T/nope" 2> "$T/e" < /dev/null; grep -q -- "kadet preview: --rules $T/nope" "$T/e" || fail "preview --rules: $(cat "$T/e")"
"$K" rules list --rules "$T/nope" 2> "$T/e"; grep -q -- "kadet rules: --rules $T/nope" "$T/e" || fail "rules --rules: $(cat "$T/e")"

# a missing input: its error, exit 2, and no summary table of zeros
"$K" scan --no-state --rules rules "$T/missing.log" 2> "$T/e"; [ $? = 2 ] || fail "missing input: exit"
grep -q "missing.log: No such file or directory" "$T/e" || fail "missing input: $(cat "$T/e")"
grep -q "records\|matched" "$T/e" && fail "missing input: a summary of zeros: $(cat "$T/e")"
# one missing of two: the summary of the one read stays
IN=tests/cases/founding-2026-same-input/input.jsonl
"$K" scan --no-state --rules rules "$T/missing.log" "$IN" 2> "$T/e" > /dev/null
grep -q "records" "$T/e" || fail "one of two inputs missing: no summary"

# the table: rule names with several new_terms rules, rows within $COLUMNS
IN=$(ls tests/cases/*/input.jsonl)
# shellcheck disable=SC2086
COLUMNS=1000 "$K" scan --no-state --no-progress --table --rules rules --no-host-metadata $IN > "$T/t" 2>/dev/null
grep -q '  \[Kubernetes .*\]$' "$T/t" || fail "--table: no rule name with several new_terms rules: $(head -3 "$T/t")"
# shellcheck disable=SC2086
COLUMNS=90 "$K" scan --no-state --no-progress --table --rules rules --no-host-metadata $IN > "$T/t" 2>/dev/null
tail -n +2 "$T/t" | python3 -c '
import sys
rows = [l.rstrip("\n") for l in sys.stdin]
assert rows, "no rows"
assert all(len(r) <= 90 for r in rows), max(len(r) for r in rows)
assert any(r.endswith("\u2026") for r in rows), "nothing was cut"
' || fail "--table: rows do not fit COLUMNS=90 with an ellipsis"
NT=rules/kubernetes_unusual_decision_by_user_agent.toml
# shellcheck disable=SC2086
"$K" scan --no-state --no-progress --table --rules "$NT" --no-host-metadata $IN > "$T/t" 2>/dev/null
grep -q '\[' "$T/t" && fail "--table: a rule name with one new_terms rule"

# scan checks each rule's execution window at start (as Elastic does at every execution): an
# absolute `from` older than the history window start is reported with its position
cat > "$T/abs.toml" <<'TOML'
[metadata]
creation_date = "2026/01/01"
maturity = "production"
updated_date = "2026/01/01"

[rule]
author = ["kadet tests"]
description = "absolute from"
language = "kuery"
name = "absolute from"
risk_score = 21
rule_id = "abs-from"
severity = "low"
type = "new_terms"
from = "2019-02-19T20:42:00.000Z"
query = 'kubernetes.audit.verb:"get"'

[rule.new_terms]
field = "new_terms_fields"
value = ["user_agent.original"]
[[rule.new_terms.history_window_start]]
field = "history_window_start"
value = "now-10d"
TOML
"$K" scan --no-state --rules "$T/abs.toml" --now 2026-03-01T00:00:00Z < /dev/null > /dev/null 2> "$T/e"
grep -q "warning: $T/abs.toml:23:10: rule 'absolute from': .*'historyWindowStart' must be earlier than 'from'" "$T/e" ||
    fail "execution window at start: $(cat "$T/e")"
"$K" scan --no-state --rules rules < /dev/null > /dev/null 2> "$T/e"
grep -q "executions of this rule fail" "$T/e" && fail "a bundled rule fails its execution window: $(cat "$T/e")"

# KQL: an unterminated quote is named at the quote
echo '{}' | "$K" hunt 'user.name:"abc and x:1' 2> "$T/e"
grep -q '<query>:1:11: error: .*(a quoted string that is never closed starts here)' "$T/e" || fail "KQL quote: $(cat "$T/e")"
echo ok
