#!/usr/bin/env bash
# The command frame: --help, --version, help CMD, unknown commands and options.
set -u
K=${KADET:-./kadet}
fail() { echo "FAIL: $*"; exit 1; }

out=$("$K" --help) || fail "--help exit $?"
echo "$out" | grep -q "^usage: kadet" || fail "--help has no usage line"
echo "$out" | grep -q "version" || fail "--help does not list subcommands"

"$K" --version | grep -qE '^kadet [0-9]+\.[0-9]+\.[0-9]+$' || fail "--version"

"$K" help version | grep -q "usage: kadet version" || fail "help version"
"$K" version --help | grep -q "usage: kadet version" || fail "version --help"

"$K" nosuchcmd 2>err.tmp; rc=$?
[ $rc = 1 ] || fail "unknown command exit $rc"
grep -q "unknown command 'nosuchcmd'" err.tmp || fail "unknown command message"
grep -q "^usage: kadet" err.tmp || fail "usage on stderr for unknown command"

"$K" --bogus 2>err.tmp >out.tmp; rc=$?
[ $rc = 1 ] || fail "unknown option exit $rc"
grep -q "unknown option '--bogus'" err.tmp || fail "unknown option message"
[ -s out.tmp ] && fail "usage error printed to stdout"

"$K" 2>/dev/null; [ $? = 1 ] || fail "no arguments must exit 1"
"$K" help nosuch 2>/dev/null; [ $? = 1 ] || fail "help of unknown command must exit 1"
"$K" version extra 2>/dev/null; [ $? = 1 ] || fail "version with an argument must exit 1"
rm -f err.tmp out.tmp
exit 0
