# redis_lib.sh - sourced by tests/cli/test_state_redis*.sh (not a test itself): one
# redis-server at a time on a free port of 127.0.0.1, in the test's directory $T.
#   start_redis ARGS...   start it with ARGS added (an argument "@TPORT@" is replaced by
#                         PORT + 1, for --tls-port); sets PORT; waits until it answers PING
#                         (redis-cli with the options in the array RCLI, e.g. a password)
#   stop_redis            stop it and wait until it is gone
# The caller defines T, RCLI and fail.
start_redis() {
    local i a args
    for i in 1 2 3 4 5 6 7 8 9 10; do
        PORT=$((20000 + (RANDOM * 7 + $$ + i * 101) % 29000))
        args=()
        for a in "$@"; do
            [ "$a" = @TPORT@ ] && a=$((PORT + 1))
            args+=("$a")
        done
        redis-server --bind 127.0.0.1 --port "$PORT" --save '' --appendonly no --daemonize yes \
            --dir "$T" --pidfile "$T/redis.pid" --logfile "$T/redis.log" "${args[@]}" || continue
        for _ in $(seq 100); do
            [ -s "$T/redis.pid" ] && redis-cli -p "$PORT" --no-auth-warning "${RCLI[@]}" ping 2>/dev/null | grep -q PONG && return 0
            sleep 0.05
        done
        [ -f "$T/redis.pid" ] && kill "$(cat "$T/redis.pid")" 2>/dev/null
        rm -f "$T/redis.pid"
    done
    fail "redis-server did not start: $(tail -3 "$T/redis.log" 2>/dev/null)"
}
stop_redis() {
    local p
    p=$(cat "$T/redis.pid")
    kill "$p"
    while kill -0 "$p" 2>/dev/null; do sleep 0.05; done
    rm -f "$T/redis.pid"
}
