#!/usr/bin/env bash
# bench/redis.sh - `make bench-redis`: N kadet instances (N = 1, 2, 3) scan disjoint shares of
# one generated multi-day log at the same time, sharing one redis-server on 127.0.0.1; the
# figure is the total events over the wall time until the last one ends (median of
# BENCH_REDIS_RUNS runs), next to one instance on an SQLite state file. Redis commands per
# 1,000 events come from INFO commandstats (EVALSHA: the observations and claims that needed
# the server; all: every command, pipelined or not). Writes the table into bench/RESULTS.md
# between marker comments.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${BENCH_REDIS_EVENTS:-60000}
RUNS=${BENCH_REDIS_RUNS:-3}
K=./kadet
command -v redis-server > /dev/null || { echo "bench-redis: redis-server is not installed (scripts/deps.sh --test)"; exit 1; }
W=bench/out/redis
rm -rf "$W"
mkdir -p "$W" bench/data
export XDG_STATE_HOME="$PWD/$W/xdg" # each instance's local file (positions, counters)
LOG=bench/data/redis-$EVENTS.jsonl
[ -s "$LOG" ] || build/kadet-gen --seed 11 --days 4 --events "$EVENTS" --novel 200 --out "$LOG"
PORT=""
for i in 1 2 3 4 5 6 7 8 9 10; do
    p=$((20000 + (RANDOM * 7 + $$ + i * 101) % 29000))
    if redis-server --bind 127.0.0.1 --port "$p" --save '' --appendonly no --daemonize yes \
        --dir "$PWD/$W" --pidfile "$PWD/$W/redis.pid" --logfile "$PWD/$W/redis.log"; then
        for _ in $(seq 100); do
            redis-cli -p "$p" ping 2> /dev/null | grep -q PONG && { PORT=$p; break; }
            sleep 0.05
        done
    fi
    [ -n "$PORT" ] && break
done
[ -n "$PORT" ] || { echo "bench-redis: redis-server did not start"; exit 1; }
trap 'kill "$(cat "$W/redis.pid")" 2> /dev/null || true' EXIT
rcli() { redis-cli -p "$PORT" "$@"; }
now() { date +%s.%N; }
calls() { # calls of one command so far
    rcli INFO commandstats | tr -d '\r' | awk -F'[:=,]' -v c="$1" '
        /^cmdstat_/ { n = substr($1, 9); if (n == c) s += $3 } END { print s + 0 }'
}
scan() { "$K" scan --no-progress --now 2026-02-01T00:00:00Z "$@" > /dev/null 2>> "$W/err"; }

# shares: blocks of 1,000 events dealt round-robin to N instances
share() {
    local n=$1
    rm -f "$W"/share-*
    awk -v n="$n" -v d="$W" '{ print > (d "/share-" (int((NR - 1) / 1000) % n)) }' "$LOG"
}

per1000() { awk -v c="$1" -v e="$EVENTS" 'BEGIN { printf "%.1f", 1000 * c / e }'; }
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

LOAD=$(cut -d" " -f1-3 /proc/loadavg)
rows=()
# one instance on a state file (the comparison)
for r in $(seq "$RUNS"); do
    rm -f "$W/s.db"*
    t0=$(now)
    scan --state "$W/s.db" --output "$W/s.out" "$LOG"
    t1=$(now)
    awk -v e="$EVENTS" -v a="$t0" -v b="$t1" 'BEGIN { print e / (b - a) }'
done | median > "$W/sqlite.eps"
rows+=("| 1 | SQLite state file | $(printf %.0f "$(cat "$W/sqlite.eps")") | - | - | - |")
for n in 1 2 3; do
    share "$n"
    : > "$W/eps.$n"
    for r in $(seq "$RUNS"); do
        rcli FLUSHALL > /dev/null
        rm -rf "$XDG_STATE_HOME" # the instances' local files (positions): a new start each run
        rcli CONFIG RESETSTAT > /dev/null
        rm -f "$W"/out-* "$W"/err-*
        t0=$(now)
        pids=()
        for i in $(seq 0 $((n - 1))); do
            "$K" scan --no-progress --now 2026-02-01T00:00:00Z --output "$W/out-$i" \
                --state "redis://127.0.0.1:$PORT/?instance=bench-$i" "$W/share-$i" > /dev/null 2> "$W/err-$i" &
            pids+=($!)
        done
        for p in "${pids[@]}"; do wait "$p"; done
        t1=$(now)
        awk -v e="$EVENTS" -v a="$t0" -v b="$t1" 'BEGIN { print e / (b - a) }' >> "$W/eps.$n"
        ev=$(calls evalsha)
        rt=$(sed -n 's/^state: \([0-9]*\) round trips.*/\1/p' "$W"/err-* | awk '{ s += $1 } END { print s + 0 }')
        alerts=$(cat "$W"/out-* | wc -l)
    done
    eps=$(median < "$W/eps.$n")
    rows+=("| $n | Redis | $(printf %.0f "$eps") | $(per1000 "$rt") | $(per1000 "$ev") | $alerts |")
done
cpu=$(grep -m1 'model name' /proc/cpuinfo 2> /dev/null | sed 's/.*: //' || echo unknown)
{
    echo "<!-- redis-bench begin -->"
    echo "## Redis: instances sharing one state"
    echo
    echo "\`make bench-redis\` ($(date -u +%Y-%m-%d), $cpu, $(nproc) CPUs shared by the instances"
    echo "and redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/'); load average before the run: $LOAD):"
    echo "$EVENTS generated events over 4 days (\`kadet-gen --seed 11 --novel 200\`), dealt in blocks"
    echo "of 1,000 to N instances that scan their shares at the same time (\`kadet scan --state"
    echo "redis://...?instance=bench-I --output FILE\`, bundled rules); events/s = all events over the"
    echo "wall time until the last instance ends, median of $RUNS runs. Round trips per 1,000 events:"
    echo "the instances' own count (the 'state: N round trips' line of their summaries, summed; last"
    echo "run); EVALSHA per 1,000 events from INFO commandstats (observations and claims that went to"
    echo "the server; commands inside scripts and transactions are counted by Redis too, so the"
    echo "total of commandstats is not a count of round trips)."
    echo
    echo "| instances | state | events/s | round trips / 1,000 events | EVALSHA / 1,000 events | alerts |"
    echo "| ---: | --- | ---: | ---: | ---: | ---: |"
    printf '%s\n' "${rows[@]}"
    echo "<!-- redis-bench end -->"
} > "$W/section.md"
cat "$W/section.md"
res=bench/RESULTS.md
if grep -q '<!-- redis-bench begin -->' "$res"; then
    awk -v f="$W/section.md" '
        /<!-- redis-bench begin -->/ { while ((getline l < f) > 0) print l; skip = 1; next }
        /<!-- redis-bench end -->/ { skip = 0; next }
        !skip { print }' "$res" > "$res.tmp" && mv "$res.tmp" "$res"
else
    { echo; cat "$W/section.md"; } >> "$res"
fi
