#!/usr/bin/env bash
# bench/outputs.sh - `make bench-outputs`: what an alert receiver taking 2 s per request costs the
# throughput of `kadet scan` and `kadet serve`, side by side with no sink and with a fast receiver.
#
# Two rule sets: "bundled" (the bundled rules: their own, normal alert rate) and "extreme" (plus
# `bench writes`, a query rule alerting on every create, delete and patch: about a quarter of
# scan's events and a third of serve's, so the outbox works hard). Forms, interleaved (the
# order rotates every round):
#   base   no --sink
#   slow   --sink webhook:... to tests/output/receiver.py taking 2 s per request (--slow 2)
#   fast   --sink webhook:... to receiver.py answering at once
#
# scan: one large generated log (1 GB by default; tools/kadet-gen.c), a new state file per run.
#   Sink forms use --sink-timeout 0 (scan does not wait for delivery at exit; what is left stays
#   in the outbox, exit status 2): the figures are detection plus the outbox plus what the
#   delivery thread did meanwhile. Per run: wall (/usr/bin/time), CPU = user + sys of kadet
#   (every thread; the receiver is another process), kadet's own detection time (its summary's
#   "in X s": the input from first to last byte, without start-up and exit), and with
#   `perf stat` when the machine supports it, user-space instructions of every thread.
# serve: kadet serve --insecure on 127.0.0.1 (plain HTTP: TLS would hide the sink's share),
#   loaded by build/bench/bench_serve (bench/bench_serve.c: THREADS keep-alive connections,
#   EventLists of EVENTS audit events, unique auditIDs) for SERVE_SECONDS, in two modes:
#   "sat" (every thread posts as soon as answered) and "rate" (RATE events/s offered in all,
#   paced). serve spools what it accepts and detects behind, so a run waits after the load until
#   detection has decoded every accepted event (/metrics). Figures: events/s accepted (client),
#   events/s detected = accepted events / (load start -> all decoded), alerts/s, the serve
#   process's CPU (utime + stime, /proc/PID/stat) per event.
# Medians over the rounds; ratios to base, and slow to fast, of runs made in the same loop.
# With OLD_BIN, that build is run in the same loop as KADET_BIN (default ./kadet), each run of
# one directly followed by the same run of the other, and gets its own rows.
# Writes the section "outputs-bench" of bench/RESULTS.md (bench/section.sh; RESULTS=0 leaves it
# alone). Nothing is asserted; never part of `make check`.
#
# Environment: OUTPUTS_BENCH_MB (default 1000; 1000 reuses bench/data/audit-1000MB.jsonl),
# OUTPUTS_BENCH_REPS (scan rounds, default 3), OUTPUTS_BENCH_CG_MB (callgrind input, default 10;
# 0 skips callgrind), OUTPUTS_BENCH_SERVE=0 skips serve, OUTPUTS_BENCH_SCAN=0 skips scan,
# OUTPUTS_BENCH_SERVE_REPS (default 3), SERVE_SECONDS (load per paced serve run, default 10),
# SERVE_SAT_SECONDS (load per saturation run, default 3: serve accepts into its spool far
# faster than detection runs, so the run lasts until detection has caught up, ~40 s at the
# extreme rate), OUTPUTS_BENCH_SCAN=0 / OUTPUTS_BENCH_SERVE=0 keep the other part's last figures,
# THREADS (4), EVENTS (500), RATE (paced mode, default 10000), SERVE_MODES ("sat rate"),
# KADET_BIN, OLD_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${OUTPUTS_BENCH_MB:-1000}
REPS=${OUTPUTS_BENCH_REPS:-3}
SREPS=${OUTPUTS_BENCH_SERVE_REPS:-3}
CG_MB=${OUTPUTS_BENCH_CG_MB:-10}
DO_SERVE=${OUTPUTS_BENCH_SERVE:-1}
DO_SCAN=${OUTPUTS_BENCH_SCAN:-1}
SSECS=${SERVE_SECONDS:-10}
SATSECS=${SERVE_SAT_SECONDS:-3}
THREADS=${THREADS:-4}
EVENTS=${EVENTS:-500}
RATE=${RATE:-10000}
SMODES=${SERVE_MODES:-sat rate}
KADET_BIN=${KADET_BIN:-./kadet}
OLD_BIN=${OLD_BIN:-}
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
BINS=("new=$(abs "$KADET_BIN")")
[ -n "$OLD_BIN" ] && BINS=("old=$(abs "$OLD_BIN")" "${BINS[@]}")
W=build/bench/outputs
mkdir -p "$W" bench/data
if [ "$MB" = 1000 ]; then
    IN=bench/data/audit-1000MB.jsonl
    [ -s "$IN" ] || build/kadet-gen --bytes 1000MB --seed 1 --out "$IN"
else
    IN=bench/data/outputs-${MB}MB.jsonl
    [ -s "$IN" ] || build/kadet-gen --bytes "${MB}MB" --seed 1 --out "$IN"
fi
[ "$DO_SCAN" = 0 ] || cat "$IN" > /dev/null # page cache warm
rm -rf "$W/rules" "$W/bundled" && mkdir -p "$W/rules" "$W/bundled" && cp rules/*.toml "$W/rules/" &&
    cp rules/*.toml "$W/bundled/"
cat > "$W/rules/bench-writes.toml" <<'RULE'
[metadata]
creation_date = "2026/01/01"
maturity = "production"
updated_date = "2026/01/01"

[rule]
author = ["kadet bench"]
description = "bench: every create, delete and patch (a very high alert rate)"
language = "kuery"
name = "bench writes"
risk_score = 47
rule_id = "bench-writes"
severity = "medium"
type = "query"
max_signals = 100000
query = 'kubernetes.audit.verb:("create" or "delete" or "patch")'
RULE

rx_pids=()
spid=
trap 'for p in "${rx_pids[@]}" $spid; do kill "$p" 2>/dev/null; done' EXIT
start_rx() { # start_rx NAME ARGS...: port in $port
    local name=$1
    shift
    : > "$W/$name.port"
    python3 tests/output/receiver.py --log "$W/$name.log" "$@" > "$W/$name.port" 2> /dev/null &
    rx_pids+=($!)
    while [ ! -s "$W/$name.port" ]; do sleep 0.1; done
    port=$(head -1 "$W/$name.port")
}
rm -f "$W/fast.log" "$W/slow.log"
start_rx fast
FAST=$port
start_rx slow --slow 2
SLOW=$port
SLOWSINK="webhook:http://127.0.0.1:$SLOW/slow,batch_format=array"
FASTSINK="webhook:http://127.0.0.1:$FAST/fast,batch_format=array"
sink_args() { # sink_args FORM: the flags of that form into the array `sink`
    sink=()
    [ "$1" = slow ] && sink=(--sink "$SLOWSINK" --sink-timeout 0)
    [ "$1" = fast ] && sink=(--sink "$FASTSINK" --sink-timeout 0)
    return 0
}
rules_of() { if [ "$1" = bundled ]; then echo "$W/bundled"; else echo "$W/rules"; fi; }
# the order of the three forms in round r (rotated, so no form always follows another)
forms_of() {
    case $(($1 % 3)) in
    1) echo base slow fast ;;
    2) echo slow fast base ;;
    *) echo fast base slow ;;
    esac
}
PERF=0
if perf stat -x, -e instructions:u -o /dev/null true 2> /dev/null &&
    perf stat -x, -e instructions:u true 2>&1 | grep -q '^[0-9]'; then
    PERF=1
fi

# ---- scan -----------------------------------------------------------------------------------
TSV=$W/runs.tsv # kept as it is when OUTPUTS_BENCH_SCAN=0 (the last scan figures)
[ "$DO_SCAN" = 0 ] || : > "$TSV"
scan_run() { # scan_run LABEL BIN SET FORM ROUND
    local label=$1 bin=$2 set=$3 form=$4 round=$5 sink
    sink_args "$form"
    rm -f "$W/s.db"* "$W/out.jsonl"
    local pre=()
    [ "$PERF" = 1 ] && pre=(perf stat -x, -e instructions:u -o "$W/perf")
    /usr/bin/time -f "%e %U %S" -o "$W/time" "${pre[@]}" "$bin" scan --no-progress \
        --rules "$(rules_of "$set")" --state "$W/s.db" --output "$W/out.jsonl" \
        --now 2026-01-01T00:00:00Z "${sink[@]}" "$IN" 2> "$W/err" > /dev/null || true
    local det alerts ins=
    det=$(sed -n 's/.* in \([0-9.]*\) s (.*/\1/p' "$W/err" | head -1)
    alerts=$(wc -l < "$W/out.jsonl")
    [ "$PERF" = 1 ] && ins=$(awk -F, '$3 ~ /instructions/ { print $1 }' "$W/perf")
    read -r wall user sys < <(tail -1 "$W/time")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label/$set/$form" "$round" "$wall" "$user" "$sys" \
        "$det" "$alerts" "$ins" >> "$TSV"
    printf 'scan %s %s %s round %s: wall %s s, CPU %s s, detection %s s, %s alerts\n' "$label" \
        "$set" "$form" "$round" "$wall" "$(echo "$user $sys" | awk '{ print $1 + $2 }')" "$det" "$alerts"
}
if [ "$DO_SCAN" != 0 ]; then
    for ((r = 1; r <= REPS; r++)); do
        for set in bundled extreme; do
            for form in $(forms_of "$r"); do
                for b in "${BINS[@]}"; do
                    scan_run "${b%%=*}" "${b#*=}" "$set" "$form" "$r"
                done
            done
        done
    done
fi
slow_reqs=-
[ "$DO_SCAN" = 0 ] || slow_reqs=$(cat "$W/slow.log" 2> /dev/null | wc -l)

# ---- scan under callgrind: instruction counts (deterministic, whatever the machine's load) ----
CGTSV=$W/cg.tsv
[ "$DO_SCAN" = 0 ] || : > "$CGTSV"
CGIN=bench/data/outputs-${CG_MB}MB.jsonl
if [ "$DO_SCAN" != 0 ] && command -v valgrind > /dev/null && [ "$CG_MB" != 0 ]; then
    [ -s "$CGIN" ] || build/kadet-gen --bytes "${CG_MB}MB" --seed 1 --out "$CGIN"
    for b in "${BINS[@]}"; do
        for set in bundled extreme; do
            for form in base slow fast; do
                sink_args "$form"
                rm -f "$W/s.db"* "$W/out.jsonl" "$W/cg.out"
                valgrind --tool=callgrind --callgrind-out-file="$W/cg.out" "${b#*=}" scan --no-progress \
                    --rules "$(rules_of "$set")" --state "$W/s.db" --output "$W/out.jsonl" \
                    --now 2026-01-01T00:00:00Z "${sink[@]}" "$CGIN" > /dev/null 2>&1 || true
                printf '%s\t%s\t%s\n' "${b%%=*}/$set/$form" "$(sed -n 's/^totals: //p' "$W/cg.out")" \
                    "$(wc -l < "$W/out.jsonl")" >> "$CGTSV"
            done
        done
    done
fi

# ---- serve ----------------------------------------------------------------------------------
STSV=$W/serve.tsv # kept as it is when OUTPUTS_BENCH_SERVE=0
[ "$DO_SERVE" = 0 ] || : > "$STSV"
metric() { curl -s "http://127.0.0.1:$admin/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }
serve_run() { # serve_run LABEL BIN SET FORM MODE ROUND
    local label=$1 bin=$2 set=$3 form=$4 mode=$5 round=$6 i port= t0 t1 rec dec cpu alerts rate=0 sink
    sink_args "$form"
    local secs=$SSECS
    [ "$mode" = rate ] && rate=$RATE
    [ "$mode" = sat ] && secs=$SATSECS
    rm -rf "$W/sv" && mkdir -p "$W/sv" && : > "$W/sv/err"
    # sink_args gave --sink-timeout 0 for scan; serve's stop waits 1 ms (its pending alerts stay)
    local sv=()
    [ "$form" != base ] && sv=("${sink[0]}" "${sink[1]}")
    "$bin" serve --insecure --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --spool-dir "$W/sv/spool" \
        --state "$W/sv/state.db" --rules "$(rules_of "$set")" --output "$W/sv/alerts.jsonl" \
        --sink-timeout 1ms "${sv[@]}" 2> "$W/sv/err" &
    spid=$!
    for ((i = 0; i < 300; i++)); do
        port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) (webhook.*/\1/p' "$W/sv/err")
        admin=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) (admin.*/\1/p' "$W/sv/err")
        [ -n "$port" ] && [ -n "$admin" ] && break
        sleep 0.1
    done
    [ -n "$port" ] || { cat "$W/sv/err"; exit 1; }
    t0=$(date +%s.%N)
    build/bench/bench_serve "http://127.0.0.1:$port/" - - - "$THREADS" "$EVENTS" "$secs" "$spid" \
        "$rate" > "$W/sv/load" || true
    rec=$(metric kadet_events_received_total)
    for ((i = 0; i < 12000; i++)); do
        dec=$(metric kadet_events_decoded_total)
        [ "${dec:-0}" -ge "${rec:-0}" ] && break
        sleep 0.05
    done
    t1=$(date +%s.%N)
    cpu=$(awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$spid/stat")
    alerts=$(metric kadet_alerts_total)
    kill -TERM "$spid"
    wait "$spid" 2> /dev/null || true
    spid=
    local acc
    acc=$(sed -n 's/^events_per_s=//p' "$W/sv/load")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label/$set/$form/$mode" "$round" \
        "$(awk -v a="$t1" -v b="$t0" 'BEGIN { print a - b }')" "$cpu" "$dec" "$alerts" "$acc" "$rec" >> "$STSV"
    printf 'serve %s %s %s %s round %s: accepted %s events/s, %s events, %s alerts, CPU %s s\n' \
        "$label" "$set" "$form" "$mode" "$round" "$acc" "$dec" "$alerts" "$cpu"
}
if [ "$DO_SERVE" != 0 ]; then
    make -s build/bench/bench_serve
    for ((r = 1; r <= SREPS; r++)); do
        for mode in $SMODES; do
            for set in bundled extreme; do
                for form in $(forms_of "$r"); do
                    for b in "${BINS[@]}"; do
                        serve_run "${b%%=*}" "${b#*=}" "$set" "$form" "$mode" "$r"
                    done
                done
            done
        done
    done
fi

python3 bench/outputs_report.py "$TSV" "$IN" "$REPS" "$slow_reqs" "$STSV" "$SREPS" "$CGTSV" "$CGIN" \
    "$SSECS" "$THREADS" "$EVENTS" "$RATE" "$PERF" "${BINS[*]}" "$SATSECS" > "$W/section.md"
cat "$W/section.md"
[ "${RESULTS:-1}" = 0 ] || bash bench/section.sh outputs-bench "$W/section.md"
