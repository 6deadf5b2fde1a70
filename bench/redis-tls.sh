#!/usr/bin/env bash
# bench/redis-tls.sh - `make bench-redis-tls`: what TLS costs the Redis store, on a
# redis-server on 127.0.0.1 with a plain and a TLS port (certificates made here with openssl).
#   1. build/kadet-rtlsbench: a round trip (a pipeline of P EVALs) over plain TCP, over the
#      store's TLS (state_redis_tls.c, GnuTLS in the caller's thread) and over a relay thread
#      behind redisConnectFd, interleaved in one process; wall and CPU microseconds per round
#      trip, medians.
#   2. `kadet scan` of one generated log on redis:// and on rediss:// (alternating, RUNS each):
#      events/s (median) and CPU seconds of the process (user + system, /usr/bin/time; median).
# Writes its section of bench/RESULTS.md (bench/section.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${BENCH_REDIS_TLS_EVENTS:-30000}
RUNS=${BENCH_REDIS_TLS_RUNS:-3}
K=./kadet
for c in redis-server redis-cli openssl; do
    command -v $c > /dev/null || { echo "bench-redis-tls: $c is not installed (scripts/deps.sh --test)"; exit 1; }
done
W=bench/out/redis-tls
rm -rf "$W"
mkdir -p "$W/certs" bench/data
C=$PWD/$W/certs
export XDG_STATE_HOME="$PWD/$W/xdg"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$C/ca.key" -out "$C/ca.crt" -days 2 -subj /CN=bench-ca 2> /dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$C/srv.key" -out "$C/srv.csr" -subj /CN=localhost 2> /dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$C/ext"
openssl x509 -req -in "$C/srv.csr" -CA "$C/ca.crt" -CAkey "$C/ca.key" -CAcreateserial \
    -out "$C/srv.crt" -days 2 -extfile "$C/ext" 2> /dev/null
T=$PWD/$W RCLI=()
fail() { echo "bench-redis-tls: $*"; exit 1; }
. tests/cli/redis_lib.sh # start_redis
start_redis --tls-port @TPORT@ --tls-cert-file "$C/srv.crt" --tls-key-file "$C/srv.key" \
    --tls-ca-cert-file "$C/ca.crt" --tls-auth-clients no
TPORT=$((PORT + 1))
trap 'kill "$(cat "$W/redis.pid")" 2> /dev/null || true' EXIT
LOAD=$(cut -d" " -f1-3 /proc/loadavg)

# 1. the transports, side by side
build/kadet-rtlsbench 127.0.0.1 "$PORT" "$TPORT" "$C/ca.crt" 2000 16 7 | tee "$W/rt.txt"
build/kadet-rtlsbench 127.0.0.1 "$PORT" "$TPORT" "$C/ca.crt" 4000 1 7 | tee "$W/rt1.txt"
row() { # row FILE NAME P
    awk -v n="$2" -v p="$3" '$1 == n { printf "| %s | %s | %.1f | %.1f |\n", n, p, $2, $3 }' "$1"
}

# 2. kadet scan on redis:// and rediss://
LOG=bench/data/redis-$EVENTS.jsonl
[ -s "$LOG" ] || build/kadet-gen --seed 11 --days 4 --events "$EVENTS" --novel 200 --out "$LOG"
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
: > "$W/plain.eps"; : > "$W/tls.eps"; : > "$W/plain.cpu"; : > "$W/tls.cpu"
for r in $(seq "$RUNS"); do
    for kind in plain tls; do
        redis-cli -p "$PORT" FLUSHALL > /dev/null
        rm -rf "$XDG_STATE_HOME"
        if [ $kind = plain ]; then url="redis://127.0.0.1:$PORT/?instance=b"; else
            url="rediss://127.0.0.1:$TPORT/?instance=b&ca=$C/ca.crt"; fi
        t0=$(date +%s.%N)
        /usr/bin/time -f "%U %S" -o "$W/time" "$K" scan --no-progress --now 2026-02-01T00:00:00Z \
            --state "$url" --output "$W/out-$kind" "$LOG" > /dev/null 2> "$W/err-$kind"
        t1=$(date +%s.%N)
        awk -v e="$EVENTS" -v a="$t0" -v b="$t1" 'BEGIN { print e / (b - a) }' >> "$W/$kind.eps"
        awk '{ print $1 + $2 }' "$W/time" >> "$W/$kind.cpu"
    done
done
cmp -s "$W/out-plain" "$W/out-tls" || { echo "bench-redis-tls: the alerts differ between redis:// and rediss://"; exit 1; }
rt=$(sed -n 's/^state: \([0-9]*\) round trips.*/\1/p' "$W/err-tls")
cpu=$(grep -m1 'model name' /proc/cpuinfo 2> /dev/null | sed 's/.*: //' || echo unknown)
{
    echo "<!-- redis-tls-bench begin -->"
    echo "## Redis over TLS (rediss://)"
    echo
    echo "\`make bench-redis-tls\` ($(date -u +%Y-%m-%d), $cpu, $(nproc) CPUs, redis-server"
    echo "$(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') with a plain and a TLS port on 127.0.0.1, GnuTLS $(pkg-config --modversion gnutls 2> /dev/null || echo '?');"
    echo "load average before the run: $LOAD)."
    echo
    echo "A round trip by transport (\`build/kadet-rtlsbench\`: pipelines of P EVALs and their"
    echo "replies, the three transports interleaved in one process, median of 7 repetitions;"
    echo "CPU = user + system of the whole process, the relay's thread included, per round trip;"
    echo "redis-server's own CPU is not counted):"
    echo
    echo "| transport | P | wall us / round trip | CPU us / round trip |"
    echo "| --- | ---: | ---: | ---: |"
    row "$W/rt1.txt" plain 1
    row "$W/rt1.txt" inline 1
    row "$W/rt1.txt" relay 1
    row "$W/rt.txt" plain 16
    row "$W/rt.txt" inline 16
    row "$W/rt.txt" relay 16
    echo
    echo "plain: hiredis on TCP (redis://); inline: the store's TLS, GnuTLS in the caller's thread"
    echo "(rediss://); relay: hiredis on a socketpair (redisConnectFd) and a thread relaying to a"
    echo "GnuTLS session (the design not taken)."
    echo
    echo "\`kadet scan\` of $EVENTS generated events (\`kadet-gen --seed 11 --novel 200\`, bundled rules),"
    echo "one instance, redis:// and rediss:// alternating, median of $RUNS runs each ($rt round trips"
    echo "per run; the alerts are byte-identical):"
    echo
    echo "| state | events/s | CPU s (user + system) |"
    echo "| --- | ---: | ---: |"
    echo "| redis:// | $(printf %.0f "$(median < "$W/plain.eps")") | $(median < "$W/plain.cpu") |"
    echo "| rediss:// | $(printf %.0f "$(median < "$W/tls.eps")") | $(median < "$W/tls.cpu") |"
    echo "<!-- redis-tls-bench end -->"
} > "$W/section.md"
cat "$W/section.md"
bash bench/section.sh redis-tls-bench "$W/section.md"
