# redis_lib.sh - sourced by tests/cli/test_state_redis*.sh (not a test itself): scan, alert
# ids, their check against the reference, and the scan of disjoint and overlapping shares. Blocks of 400 events of $T/log.jsonl in log order; block k
# goes to instance k mod 3 (a, b, c), and every third block also to the next instance, which
# then sees the same events twice. Each instance resumes its own input (positions per
# instance); blocks run one after the other, so the three see the events in the order one
# instance would. Uses the caller's inst NAME (one scan of $T/in-NAME.jsonl) and fail.
run_shares() {
    local names=(a b c) k=0 blk p s
    rm -f "$T"/blk.*
    split -l 400 -d -a 3 "$T/log.jsonl" "$T/blk."
    for blk in "$T"/blk.*; do
        p=${names[$((k % 3))]}
        cat "$blk" >> "$T/in-$p.jsonl"
        inst "$p" 2> "$T/err" || fail "shares: block $k on $p: $(cat "$T/err")"
        if [ $((k % 3)) = 1 ]; then
            s=${names[$(((k + 1) % 3))]}
            cat "$blk" >> "$T/in-$s.jsonl"
            inst "$s" 2> "$T/err" || fail "shares: block $k again on $s: $(cat "$T/err")"
        fi
        k=$((k + 1))
    done
    [ $k -ge 10 ] || fail "shares: only $k blocks"
}

scan() { "$K" scan --no-progress --now 2026-02-01T00:00:00Z --batch 300 "$@"; }
ids() { grep -o '"kibana.alert.uuid":"[0-9a-f]*"' "$@" | cut -d'"' -f4; }

# all alert ids of instances a, b, c (their --output files) equal those of $T/ref.ids (sorted),
# none twice
check_union() {
    local name=$1
    ids "$T"/out-[abc].jsonl > "$T/all.ids" 2>/dev/null
    local dup
    dup=$(sort "$T/all.ids" | uniq -d | wc -l)
    [ "$dup" = 0 ] || fail "$name: $dup alert ids emitted twice"
    sort "$T/all.ids" > "$T/u.ids"
    cmp -s "$T/ref.ids" "$T/u.ids" || fail "$name: the alert ids differ from the reference ($(comm -23 "$T/ref.ids" "$T/u.ids" | wc -l) missing, $(comm -13 "$T/ref.ids" "$T/u.ids" | wc -l) extra)"
}
