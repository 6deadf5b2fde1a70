#!/usr/bin/env bash
# kadet rules check|list|show|guide: output, diagnostics, summary line, exit codes, default
# rules directory, Elastic's Kubernetes rules (when ../shared/data is present).
set -u
K=${KADET:-./kadet}
fail() { echo "FAIL: $*"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# the bundled rules, found beside the binary (or through $KADET_RULES)
out=$(KADET_RULES=rules "$K" rules check 2>"$T/err") || fail "check of rules/ exit $?"
[ "$out" = "3 rules loaded from 3 files: 3 runnable, 0 unsupported; 0 errors, 0 warnings" ] ||
    fail "summary: $out"
[ -s "$T/err" ] && fail "diagnostics for the shipped rules: $(cat "$T/err")"
KADET_RULES=/nonexistent "$K" rules check rules >/dev/null 2>&1 || fail "explicit PATH ignored"

# one bad file: every diagnostic on stderr, the summary on stdout, exit 1
"$K" rules check tests/rules/bad/many_errors_at_once.toml >"$T/out" 2>"$T/err"; rc=$?
[ $rc = 1 ] || fail "check of a bad rule exit $rc"
[ "$(wc -l <"$T/err")" = 5 ] || fail "expected 5 diagnostics, got: $(cat "$T/err")"
grep -q "^tests/rules/bad/many_errors_at_once.toml:10:1: error: rule 'Many errors': risk_score must be between 0 and 100, not -1$" "$T/err" ||
    fail "diagnostic text: $(cat "$T/err")"
grep -q "0 rules loaded from 1 file: 0 runnable, 0 unsupported; 5 errors, 0 warnings" "$T/out" ||
    fail "bad summary: $(cat "$T/out")"

# a KQL error is placed inside the .toml file
"$K" rules check tests/rules/bad/kql_in_basic_string.toml 2>&1 >/dev/null |
    grep -q "^tests/rules/bad/kql_in_basic_string.toml:15:77: error: " || fail "KQL position"

# -q hides warnings but counts them
out=$("$K" rules check -q tests/rules/good/unknown_keys_warn.toml 2>"$T/err") || fail "-q exit"
[ -s "$T/err" ] && fail "-q printed warnings"
echo "$out" | grep -q "0 errors, 1 warning$" || fail "-q summary: $out"

# lint: an unknown field is a warning with a did-you-mean; --strict makes it an error (exit 1)
out=$("$K" rules check tests/rules/lint/typos.toml 2>"$T/err") || fail "lint warnings exit $?"
echo "$out" | grep -q "; 0 errors, 4 warnings$" || fail "lint summary: $out"
grep -q "^tests/rules/lint/typos.toml:17:3: warning: rule 'Typos': query: unknown field 'kubernetes.audti.stage' (did you mean 'kubernetes.audit.stage'?)$" "$T/err" ||
    fail "lint warning: $(cat "$T/err")"
"$K" rules check --strict tests/rules/lint/typos.toml >"$T/out" 2>"$T/err"; rc=$?
[ $rc = 1 ] || fail "--strict exit $rc"
grep -q "; 4 errors, 0 warnings$" "$T/out" || fail "--strict summary: $(cat "$T/out")"
grep -q "^tests/rules/lint/typos.toml:17:3: error: rule 'Typos': query: unknown field 'kubernetes.audti.stage'" "$T/err" ||
    fail "--strict diagnostic: $(cat "$T/err")"
"$K" rules check --strict -q tests/rules/lint/known_fields.toml >/dev/null 2>&1 || fail "--strict on a clean rule"
KADET_RULES=rules "$K" rules check --strict >/dev/null 2>&1 || fail "--strict on the bundled rules"
# an exception naming a rule that is not loaded is a warning, an error under --strict
"$K" rules check -e tests/rules/lint/exceptions_unmatched.exceptions.toml tests/rules/lint/exceptions_unmatched.toml \
    >"$T/out" 2>"$T/err" || fail "exceptions lint exit $?"
grep -q "^tests/rules/lint/exceptions_unmatched.exceptions.toml:9:9: warning: exception list 'stale': rule_id '11111111-2222-4333-8444-555555555555' matches no loaded rule$" "$T/err" ||
    fail "exceptions lint: $(cat "$T/err")"
"$K" rules check --strict -e tests/rules/lint/exceptions_unmatched.exceptions.toml tests/rules/lint/exceptions_unmatched.toml \
    >/dev/null 2>&1; [ $? = 1 ] || fail "--strict exceptions exit"

# list
"$K" rules list rules >"$T/out" || fail "list exit $?"
head -1 "$T/out" | grep -q "^RULE_ID .*TYPE .*RUN .*SEVERITY .*RISK .*NAME" || fail "list header"
grep -q "^8a1db198-da6f-4500-b985-7fe2457300af  new_terms  yes  low         21  Kubernetes Unusual Decision by User Agent$" "$T/out" ||
    fail "list line: $(cat "$T/out")"
[ "$(wc -l <"$T/out")" = 4 ] || fail "list lines"

# show by id, by name, by file
KADET_RULES=rules "$K" rules show 8a1db198-da6f-4500-b985-7fe2457300af >"$T/out" || fail "show by id"
grep -q '^new_terms_fields: \["kubernetes.audit.annotations.authorization_k8s_io/decision", "kubernetes.audit.user.username", "user_agent.original"\]$' "$T/out" ||
    fail "show new terms"
grep -q '^query: (and ' "$T/out" || fail "show compiled query"
grep -q '^query fields: ' "$T/out" || fail "show fields"
"$K" rules show --rules rules "Kubernetes Forbidden Request from Unusual User Agent" |
    grep -q "^rule_id: 4b77d382-b78e-4aae-85a0-8841b80e4fc4$" || fail "show by name"
"$K" rules show tests/rules/good/query_minimal.toml | grep -q "^name: Minimal query rule$" ||
    fail "show by file"
"$K" rules show --rules rules nosuchrule 2>"$T/err"; rc=$?
[ $rc = 1 ] || fail "show of an unknown rule exit $rc"
grep -q "no rule with id or name 'nosuchrule'" "$T/err" || fail "show unknown message"

# guide: rendered Markdown, no markup left, commands kept
KADET_RULES=rules "$K" rules guide 8a1db198-da6f-4500-b985-7fe2457300af >"$T/out" || fail "guide"
grep -q "^Triage and analysis$" "$T/out" || fail "guide heading"
grep -q "^===================$" "$T/out" || fail "guide heading underline"
grep -q "kadet state terms --rule 8a1db198" "$T/out" || fail "guide mentions kadet state terms"
grep -q "kadet hunt" "$T/out" || fail "guide mentions kadet hunt"
grep -q "^#" "$T/out" && fail "guide left Markdown headings"
awk 'length > 80 && !/^    / { exit 1 }' "$T/out" || fail "guide wider than 80 columns"

# exceptions files are checked too
"$K" rules check --exceptions tests/rules/exceptions/kadet_shorthand.toml rules >"$T/out" 2>&1 ||
    fail "check with exceptions"
grep -q "3 exception lists; 0 errors" "$T/out" || fail "exceptions summary: $(cat "$T/out")"
"$K" rules check -e tests/rules/exceptions/bad_shorthand.toml rules >/dev/null 2>&1
[ $? = 1 ] || fail "bad exceptions must fail the check"

# usage errors
"$K" rules 2>/dev/null; [ $? = 1 ] || fail "no subcommand"
"$K" rules frobnicate 2>/dev/null; [ $? = 1 ] || fail "unknown subcommand"
"$K" rules show 2>/dev/null; [ $? = 1 ] || fail "show without an argument"
"$K" rules check --bogus 2>/dev/null; [ $? = 1 ] || fail "unknown option"
"$K" rules check /nonexistent/dir >/dev/null 2>"$T/err"; [ $? = 1 ] || fail "missing path"
grep -q "^/nonexistent/dir: error: cannot open: No such file or directory$" "$T/err" || fail "missing path message"

# Elastic's Kubernetes rules: all 45 run (29 kuery, 5 eql, 11 esql), no unsupported warning
D=${KAD_SHARED_DATA:-../shared/data}
if [ -d "$D/detection-rules/kubernetes" ]; then
    out=$("$K" rules check "$D/detection-rules/kubernetes" 2>"$T/err") || fail "Elastic rules exit $?"
    [ "$out" = "45 rules loaded from 45 files: 45 runnable, 0 unsupported; 0 errors, 1 warning" ] ||
        fail "Elastic summary: $out"
    ! grep -q "unsupported\|not run" "$T/err" || fail "unsupported warnings: $(cat "$T/err")"
    # rules list: the EQL and ES|QL rules are runnable
    "$K" rules list "$D/detection-rules/kubernetes" >"$T/list" 2>/dev/null || fail "rules list exit $?"
    ! grep -q " no " "$T/list" || fail "a rule listed as not runnable: $(grep " no " "$T/list")"
    # lint: the one field Elastic's published lists lack (docs/rules.md "Lint") stays a warning
    grep -q "persistence_cluster_admin_rolebinding_created.toml:67:36: warning: rule 'Kubernetes Cluster-Admin Role Binding Created': query: unknown field 'kubernetes.audit.requestObject.roleRef.name'" "$T/err" ||
        fail "lint warning on Elastic's rules: $(grep -v unsupported "$T/err")"
    out=$("$K" rules check "$D/detection-rules/seed-history" 2>/dev/null) || fail "seed history exit $?"
    echo "$out" | grep -q "^6 rules loaded from 6 files: 6 runnable" || fail "seed history: $out"
else
    echo "note: $D absent, Elastic's rules not checked"
fi
exit 0
