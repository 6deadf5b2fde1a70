#!/usr/bin/env bash
# kadet scan --threads N (docs/internals/pipeline.md): records are decoded on N threads, detected
# and committed in input order, so stdout (alerts, --table), the summary on stderr (counts,
# per-rule table, skipped-record warnings with file:line:col), the exit status and the state
# (input positions, a resumed second run) are byte-identical for --threads 1, 2 and 4: on
# generated logs with bad records (invalid JSON, over --max-record, not-audit records, bad
# times, EventLists), pretty-printed multi-line input, gzip, stdin (a file and a pipe),
# several files, --output, --learn, a resume after an append, and all bundled rules. --listen
# is not affected (it decodes on the calling thread: its test is test_scan_listen.sh, run with
# the default --threads). KADET_THREADS_GOLDEN=1 also reruns tests/golden at --threads 1 and 4
# (the golden test itself runs at the default, the number of cores).
set -u
K=${KADET:-./kadet}
GEN=${KADET_GEN:-build/kadet-gen}
[ -x "$GEN" ] || { echo "skip: $GEN not built (make tools)"; exit 77; }
T=$(mktemp -d /tmp/kadet-threads.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
ROOT=$PWD
NOW=2026-01-10T00:00:00Z
COMMON=(--no-progress --now "$NOW" --host-name t --host-os-type linux)

# ---- inputs ------------------------------------------------------------------------------------
"$GEN" --seed 7 --events 6000 --days 2 --novel 40 --out "$T/a.log" || fail "kadet-gen"
"$GEN" --seed 8 --events 3000 --days 1 --start 2026-01-07 --novel 20 --out "$T/b.log" ||
    fail "kadet-gen"
# bad records spread over the log: invalid JSON, a record over --max-record (64K), a record of
# another service (not-audit), a bad time, an EventList of two events, a blank line
awk -v big="$(head -c 70000 /dev/zero | tr '\0' x)" '
    NR % 97 == 0  { print substr($0, 1, 80); next }
    NR % 211 == 0 { print "{\"kind\":\"Event\",\"blob\":\"" big "\"}"; next }
    NR % 301 == 0 { print "{\"protoPayload\":{\"serviceName\":\"compute.googleapis.com\"},\"logName\":\"x\"}"; next }
    NR % 401 == 0 { sub(/"stageTimestamp":"[^"]*"/, "\"stageTimestamp\":\"yesterday\""); print; next }
    NR % 503 == 0 { print "{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"items\":[" $0 "," $0 "]}"; next }
    NR % 607 == 0 { print ""; print; next }
    { print }' "$T/a.log" > "$T/bad.log"
grep -c '' "$T/bad.log" > /dev/null || fail "no bad.log"
gzip -c "$T/bad.log" > "$T/bad.log.gz"
# pretty-printed JSON texts spanning lines (the reader's second framing)
head -300 "$T/b.log" | jq . > "$T/pretty.json" 2> /dev/null ||
    head -300 "$T/b.log" > "$T/pretty.json"

# run NAME THREADS ARGS...: kadet scan into $T/NAME.tN.{out,err,rc} with a fresh state
run() {
    local name=$1 th=$2
    shift 2
    rm -f "$T/st.$name.t$th.db"*
    "$K" scan "${COMMON[@]}" --threads "$th" --state "$T/st.$name.t$th.db" "$@" \
        > "$T/$name.t$th.out" 2> "$T/$name.t$th.err"
    echo $? > "$T/$name.t$th.rc"
    # the throughput figure is the only part that may differ
    sed -i -E 's/; [0-9.]+ MB in [0-9.]+ s \([0-9]+ MB\/s\)/; <time>/' "$T/$name.t$th.err"
}

# same NAME: outputs of --threads 2 and 4 byte-identical to --threads 1's
same() {
    local name=$1
    for th in 2 4; do
        for x in out err rc; do
            cmp -s "$T/$name.t1.$x" "$T/$name.t$th.$x" ||
                fail "$name: --threads $th $x differs from --threads 1: $(diff "$T/$name.t1.$x" "$T/$name.t$th.$x" | head -5 | cut -c1-300)"
        done
    done
}

# check NAME ARGS...: run at 1, 2 and 4 threads and compare
check() {
    local name=$1
    shift
    for th in 1 2 4; do run "$name" "$th" "$@"; done
    same "$name"
}

R=rules
check plain --rules "$R" "$T/a.log"
[ "$(wc -l < "$T/plain.t1.out")" -gt 0 ] || fail "plain: no alerts (the comparison would prove nothing)"
grep -q "6000 records" "$T/plain.t1.err" || fail "plain: summary $(head -1 "$T/plain.t1.err")"

check bad --rules "$R" --max-record 64K "$T/bad.log"
[ "$(cat "$T/bad.t1.rc")" = 2 ] || fail "bad: exit $(cat "$T/bad.t1.rc") (skipped records give 2)"
grep -q "skipped record: .*bad.log:97:" "$T/bad.t1.err" || fail "bad: no positioned warning: $(head -3 "$T/bad.t1.err")"
grep -q "bad.log:211:.*longer than\|bad.log:211:" "$T/bad.t1.err" || fail "bad: the long record's warning"
grep -q "not-audit\|not a Kubernetes audit" "$T/bad.t1.err" || fail "bad: no not-audit warning"
[ "$(wc -l < "$T/bad.t1.out")" -gt 0 ] || fail "bad: no alerts"

check gzip --rules "$R" --max-record 64K "$T/bad.log.gz"
cmp -s "$T/gzip.t1.out" "$T/bad.t1.out" || fail "gzip: alerts differ from the plain file's"

check table --rules "$R" --table "$T/a.log"
check learn --rules "$R" --learn "$T/a.log"
check pretty --rules "$R" "$T/pretty.json"
check multi --rules "$R" --max-record 64K "$T/a.log" "$T/bad.log" "$T/b.log"
check batch --rules "$R" --batch 7 "$T/a.log"

# stdin: a file and a pipe (a pipe goes quiet and commits on idle; --ingested none: a pipe is
# live input, stamped with the time it is read by default)
for th in 1 2 4; do run stdin "$th" --rules "$R" --max-record 64K - < "$T/bad.log"; done
same stdin
for th in 1 2 4; do
    rm -f "$T/st.pipe.t$th.db"*
    cat "$T/bad.log" | "$K" scan "${COMMON[@]}" --threads "$th" --ingested none --max-record 64K --rules "$R" \
        --state "$T/st.pipe.t$th.db" - > "$T/pipe.t$th.out" 2> "$T/pipe.t$th.err"
    echo $? > "$T/pipe.t$th.rc"
    sed -i -E 's/; [0-9.]+ MB in [0-9.]+ s \([0-9]+ MB\/s\)/; <time>/' "$T/pipe.t$th.err"
done
same pipe
cmp -s "$T/pipe.t1.out" "$T/bad.t1.out" || fail "pipe: alerts differ from the file's"

# --output and a resume: the second run after an append reads only the new records
for th in 1 2 4; do
    cp "$T/a.log" "$T/grow.t$th.log"
    rm -f "$T/st.grow.t$th.db"* "$T/grow.t$th.alerts"
    "$K" scan "${COMMON[@]}" --threads "$th" --rules "$R" --state "$T/st.grow.t$th.db" \
        --output "$T/grow.t$th.alerts" "$T/grow.t$th.log" 2> /dev/null || fail "grow: first run"
    cat "$T/b.log" >> "$T/grow.t$th.log"
    "$K" scan "${COMMON[@]}" --threads "$th" --rules "$R" --state "$T/st.grow.t$th.db" \
        --output "$T/grow.t$th.alerts" "$T/grow.t$th.log" 2> "$T/grow.t$th.err" ||
        fail "grow: second run"
    grep -q "3000 records" "$T/grow.t$th.err" || fail "grow --threads $th: resumed run: $(head -1 "$T/grow.t$th.err")"
    # input positions, combinations and alert ids of the state
    "$K" state stats --state "$T/st.grow.t$th.db" --json |
        jq -c '[.combinations, .alert_ids, [.inputs[] | [.offset, .line]], [.rules[] | .watermark]]' \
            > "$T/grow.t$th.pos" || fail "grow: state stats"
    grep -q '^\[[1-9][0-9]*,[1-9]' "$T/grow.t$th.pos" || fail "grow: state $(cat "$T/grow.t$th.pos")"
done
for th in 2 4; do
    cmp -s "$T/grow.t1.alerts" "$T/grow.t$th.alerts" || fail "grow: --threads $th alerts differ"
    cmp -s "$T/grow.t1.pos" "$T/grow.t$th.pos" || fail "grow: --threads $th positions differ"
done

# every bundled rule and the detection-rules repository's Kubernetes rules when present
check allrules --rules "$R" --max-record 64K "$T/bad.log"
SHARED=${KAD_SHARED_DATA:-../shared/data}
if [ -d "$SHARED/detection-rules/kubernetes" ]; then
    check elastic --rules "$SHARED/detection-rules/kubernetes" --max-record 64K "$T/bad.log" "$T/b.log"
else
    echo "note: $SHARED/detection-rules/kubernetes absent: Elastic's rules not compared"
fi

# A generated multi-day log (10 days, new combinations spread over them) through each kind of
# rule alone and together, as a scan after a learning run on the first days: the 29 kuery
# rules (queries and new_terms, whose query part and new-terms terms are evaluated on the
# decoding threads), the EQL rules (sequences across events) and the ES|QL rules (windows);
# the per-rule table of the summary (candidates, matched, no_terms, ...) is part of the
# comparison.
if [ -d "$SHARED/detection-rules/kubernetes" ]; then
    "$GEN" --seed 11 --events 30000 --days 10 --start 2025-12-30 --novel 300 --novel-after 3 \
        --out "$T/days.log" || fail "kadet-gen (days)"
    head -9000 "$T/days.log" > "$T/days.learn.log"
    tail -n +9001 "$T/days.log" > "$T/days.scan.log"
    for lang in kuery eql esql; do
        mkdir -p "$T/r-$lang"
        grep -l -E "^language = \"$lang\"" "$SHARED"/detection-rules/kubernetes/*.toml |
            while read -r f; do ln -sf "$(realpath "$f")" "$T/r-$lang/"; done
    done
    [ "$(ls "$T/r-kuery" | wc -l)" -ge 20 ] || fail "kuery rules: $(ls "$T/r-kuery" | wc -l)"
    [ "$(ls "$T/r-eql" | wc -l)" -ge 1 ] && [ "$(ls "$T/r-esql" | wc -l)" -ge 1 ] ||
        fail "no EQL or ES|QL rules in $SHARED/detection-rules/kubernetes"
    for set in kuery eql esql all; do
        rs=$T/r-$set
        [ "$set" = all ] && rs=$SHARED/detection-rules/kubernetes
        for th in 1 2 4; do
            rm -f "$T/st.days-$set.t$th.db"*
            "$K" scan "${COMMON[@]}" --threads "$th" --rules "$rs" --learn \
                --state "$T/st.days-$set.t$th.db" "$T/days.learn.log" > /dev/null 2>&1 ||
                fail "days-$set: --learn at --threads $th"
            "$K" scan "${COMMON[@]}" --threads "$th" --rules "$rs" \
                --state "$T/st.days-$set.t$th.db" "$T/days.scan.log" \
                > "$T/days-$set.t$th.out" 2> "$T/days-$set.t$th.err"
            echo $? > "$T/days-$set.t$th.rc"
            sed -i -E 's/; [0-9.]+ MB in [0-9.]+ s \([0-9]+ MB\/s\)/; <time>/' "$T/days-$set.t$th.err"
        done
        same "days-$set"
    done
    [ "$(wc -l < "$T/days-kuery.t1.out")" -gt 0 ] || fail "days-kuery: no alerts"
    grep -q '"kibana.alert.rule.type":"new_terms"' "$T/days-kuery.t1.out" ||
        fail "days-kuery: no new_terms alert (the comparison would prove little)"
else
    echo "note: $SHARED/detection-rules/kubernetes absent: the rule-set comparisons skipped"
fi

# the flag's errors
"$K" scan --threads 0 --no-state "$T/a.log" > /dev/null 2> "$T/e0" && fail "--threads 0 accepted"
grep -q -- "--threads: expected a number from 1 to 64" "$T/e0" || fail "--threads 0: $(cat "$T/e0")"
"$K" scan --threads x --no-state "$T/a.log" > /dev/null 2> "$T/ex" && fail "--threads x accepted"

# the golden outputs at 1 and 4 threads (slow: on request)
if [ "${KADET_THREADS_GOLDEN:-0}" = 1 ]; then
    for th in 1 4; do
        W=$T/kadet-t$th
        printf '#!/bin/sh\nif [ "$1" = scan ]; then shift; exec %s scan --threads %s "$@"; fi\nexec %s "$@"\n' \
            "$K" "$th" "$K" > "$W"
        chmod +x "$W"
        (cd "$ROOT" && KADET=$W bash tests/golden/golden.sh compare) > "$T/golden.t$th" 2>&1 ||
            fail "golden at --threads $th: $(tail -5 "$T/golden.t$th")"
    done
fi
echo "ok: --threads 1, 2, 4 byte-identical"
