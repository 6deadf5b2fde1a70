#!/usr/bin/env bash
# bench/outputs.sh - `make bench-outputs`: what a slow alert receiver costs `kadet scan`.
#
# Two rule sets on one generated log (tools/kadet-gen.c): "bundled" (the bundled rules: their
# own, realistic alert rate) and "extreme" (plus a query rule alerting on every create, delete
# and patch: about a quarter of the events, so the outbox works hard). Forms, round-robin, each
# with a new state file:
#   base   no --sink
#   slow   --sink webhook:... to tests/output/receiver.py taking 2 s per request (--slow 2)
#   fast   (extreme only) --sink webhook:... to receiver.py answering at once
# Sink forms use --sink-timeout 0 (scan does not wait for delivery at exit; what is left stays
# in the outbox, exit status 2), so they measure detection plus the outbox. Reported: medians
# of wall and CPU time, MB/s, the detection time scan prints in its summary, and the ratios to
# base (the issue's target: a receiver taking 2 s per request costs less than 5%).
# Written into bench/RESULTS.md between <!-- outputs-bench begin/end --> (bench/report.sh keeps
# the section). Nothing is asserted; never part of `make check`.
#
# Environment: OUTPUTS_BENCH_MB (default 100), OUTPUTS_BENCH_REPS (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${OUTPUTS_BENCH_MB:-100}
REPS=${OUTPUTS_BENCH_REPS:-5}
K=$PWD/kadet
W=build/bench/outputs
mkdir -p "$W" bench/data
IN=bench/data/outputs-${MB}MB.jsonl
[ -s "$IN" ] || build/kadet-gen --bytes "${MB}MB" --seed 1 --out "$IN"
cat "$IN" > /dev/null # page cache warm
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
trap 'for p in "${rx_pids[@]}"; do kill "$p" 2>/dev/null; done' EXIT
start_rx() { # start_rx NAME ARGS...: port in $port
    local name=$1
    shift
    : > "$W/$name.port"
    python3 tests/output/receiver.py --log "$W/$name.log" "$@" > "$W/$name.port" 2> /dev/null &
    rx_pids+=($!)
    while [ ! -s "$W/$name.port" ]; do sleep 0.1; done
    port=$(head -1 "$W/$name.port")
}
start_rx fast
FAST=$port
start_rx slow --slow 2
SLOW=$port

TSV=$W/runs.tsv
: > "$TSV"
run() { # run SET FORM ROUND [sink args]
    local set=$1 form=$2 round=$3 rules=$W/rules
    shift 3
    [ "$set" = bundled ] && rules=$W/bundled
    rm -f "$W/s.db"* "$W/out.jsonl"
    /usr/bin/time -f "%e %U %S" -o "$W/time" "$K" scan --no-progress --rules "$rules" \
        --state "$W/s.db" --output "$W/out.jsonl" --now 2026-01-01T00:00:00Z "$@" "$IN" \
        2> "$W/err" > /dev/null || true
    local det alerts
    det=$(sed -n 's/.* in \([0-9.]*\) s (.*/\1/p' "$W/err" | head -1)
    alerts=$(wc -l < "$W/out.jsonl")
    read -r wall user sys < <(tail -1 "$W/time")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$set/$form" "$round" "$wall" "$user" "$sys" "$det" "$alerts" >> "$TSV"
}
for ((r = 1; r <= REPS; r++)); do
    run bundled base "$r"
    run bundled slow "$r" --sink "webhook:http://127.0.0.1:$SLOW/slow,batch_format=array" --sink-timeout 0
    run extreme base "$r"
    run extreme slow "$r" --sink "webhook:http://127.0.0.1:$SLOW/slow,batch_format=array" --sink-timeout 0
    run extreme fast "$r" --sink "webhook:http://127.0.0.1:$FAST/fast,batch_format=array" --sink-timeout 0
done
slow_reqs=$(wc -l < "$W/slow.log" 2> /dev/null || echo 0)

python3 - "$TSV" "$IN" "$MB" "$REPS" "$slow_reqs" > "$W/section.md" <<'PY'
import os, statistics, subprocess, sys, time
tsv, inp, mb, reps, slow_reqs = sys.argv[1:6]
rows = [l.rstrip("\n").split("\t") for l in open(tsv)]
size = os.path.getsize(inp) / 1e6
med = {}
for key in sorted({x[0] for x in rows}):
    r = [x for x in rows if x[0] == key]
    med[key] = dict(n=len(r), wall=statistics.median(float(x[2]) for x in r),
                    cpu=statistics.median(float(x[3]) + float(x[4]) for x in r),
                    det=statistics.median(float(x[5]) for x in r if x[5]),
                    alerts=int(r[0][6]))
def commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
print("<!-- outputs-bench begin -->")
print("## Outputs: a slow receiver (`make bench-outputs`)")
print()
print("%s, %s, %d CPUs, load average %s (a shared machine), kadet at %s. Input `%s` (%.0f MB,"
      " `build/kadet-gen --bytes %sMB --seed 1`). Rule sets: **bundled** (the bundled rules:"
      " %d alerts) and **extreme** (plus `bench writes`, a query rule alerting on every create,"
      " delete and patch: %d alerts, about a quarter of the events). %s rounds, round-robin;"
      " medians; CPU = user + sys. Commands:"
      % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), cpu, os.cpu_count(),
         open("/proc/loadavg").read().split()[0], commit(), inp, size, mb,
         med["bundled/base"]["alerts"], med["extreme/base"]["alerts"], reps))
print()
print("```")
print("base: kadet scan --no-progress --rules RULES --state NEW.db --output out.jsonl --now ... IN")
print("slow: base + --sink webhook:http://127.0.0.1:PORT/slow,batch_format=array --sink-timeout 0   (receiver.py --slow 2)")
print("fast: base + --sink webhook:http://127.0.0.1:PORT/fast,batch_format=array --sink-timeout 0   (receiver.py)")
print("```")
print()
print("| rules | form | n | wall s | CPU s | MB/s (wall) | MB/s (CPU) | detection s | wall vs base | CPU vs base |")
print("| --- | --- | --: | --: | --: | --: | --: | --: | --: | --: |")
for key in ("bundled/base", "bundled/slow", "extreme/base", "extreme/slow", "extreme/fast"):
    m = med[key]
    b = med[key.split("/")[0] + "/base"]
    print("| %s | %s | %d | %.2f | %.2f | %.1f | %.1f | %.2f | %.2fx | %.2fx |" % (
        key.split("/")[0], key.split("/")[1], m["n"], m["wall"], m["cpu"], size / m["wall"],
        size / m["cpu"], m["det"], m["wall"] / b["wall"], m["cpu"] / b["cpu"]))
print()
def cost(key):
    b = med[key.split("/")[0] + "/base"]
    return 100 * (med[key]["wall"] / b["wall"] - 1), 100 * (med[key]["cpu"] / b["cpu"] - 1)
bw, bc = cost("bundled/slow")
ew, ec = cost("extreme/slow")
print("Target: a receiver taking 2 s per request costs scan less than 5%% of its throughput."
      " Bundled rules: wall %+.1f%%, CPU %+.1f%%: **%s**. Extreme alert rate: wall %+.1f%%,"
      " CPU %+.1f%%: **%s**." % (bw, bc, "met" if max(bw, bc) < 5 else "missed", ew, ec,
                                "met" if max(ew, ec) < 5 else "missed"))
print()
print("The receiver's slowness itself costs nothing: the slow receiver answered %s requests over"
      " all rounds, in its own delivery thread, and exit did not wait for the request in flight"
      " (aborted; sent again by the next run); `slow` is no slower than `fast`, where the"
      " receiver (Python, on the same two cores) also parses every alert. What costs at the"
      " extreme rate is the outbox: every alert document (a few KB, the source event is in it)"
      " is written once more, into the outbox's SQLite file (WAL, then checkpoint) in the"
      " batch's commit, and read back by the delivery thread. At the bundled rules' alert rate"
      " that is a few dozen documents. `kadet serve` is not in this tree yet; its throughput"
      " with a slow sink is not measured here." % slow_reqs)
print("<!-- outputs-bench end -->")
PY
res=bench/RESULTS.md
touch "$res"
if grep -q '<!-- outputs-bench begin -->' "$res"; then
    awk -v f="$W/section.md" '
        /<!-- outputs-bench begin -->/ { while ((getline l < f) > 0) print l; skip = 1; next }
        /<!-- outputs-bench end -->/ { skip = 0; next }
        !skip { print }' "$res" > "$res.tmp" && mv "$res.tmp" "$res"
else
    { [ -s "$res" ] && echo; cat "$W/section.md"; } >> "$res"
fi
cat "$W/section.md"
