#!/usr/bin/env bash
# bench/outputs.sh - `make bench-outputs`: what an alert receiver taking 2 s per request costs
# `kadet scan` and `kadet serve`, side by side with no sink and with a fast receiver.
#
# Two rule sets: "bundled" (the bundled rules: their own, normal alert rate) and "extreme" (plus
# `bench writes`, a query rule alerting on every create, delete and patch: about a quarter of
# scan's events and a third of serve's, so the outbox works hard). Forms, round-robin:
#   base   no --sink
#   slow   --sink webhook:... to tests/output/receiver.py taking 2 s per request (--slow 2)
#   fast   --sink webhook:... to receiver.py answering at once
# scan: one generated log (tools/kadet-gen.c), a new state file per run; sink forms use
#   --sink-timeout 0 (scan does not wait for delivery at exit; what is left stays in the outbox,
#   exit status 2), so they measure detection plus the outbox plus what the delivery thread did
#   meanwhile. CPU = user + sys of kadet (/usr/bin/time; the receiver is another process).
# serve: kadet serve --insecure on 127.0.0.1 (plain HTTP: TLS would hide the sink's share); the
#   same OUTPUTS_BENCH_SERVE_REQS EventLists of 500 events are posted in every run, then the run
#   waits until detection has decoded every event (/metrics). events/s = events / (first post
#   -> all decoded); CPU = utime + stime of the serve process then (/proc/PID/stat).
# Medians over the rounds; ratios to base, and slow to fast. Written into bench/RESULTS.md
# between <!-- outputs-bench begin/end --> (bench/report.sh keeps the section). Nothing is
# asserted; never part of `make check`.
#
# Environment: OUTPUTS_BENCH_MB (default 100), OUTPUTS_BENCH_REPS (scan rounds, default 5),
# OUTPUTS_BENCH_SERVE_REPS (default 3), OUTPUTS_BENCH_SERVE_REQS (default 100),
# OUTPUTS_BENCH_SERVE=0 skips serve.
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${OUTPUTS_BENCH_MB:-100}
REPS=${OUTPUTS_BENCH_REPS:-5}
SREPS=${OUTPUTS_BENCH_SERVE_REPS:-3}
SREQS=${OUTPUTS_BENCH_SERVE_REQS:-100}
CG_MB=${OUTPUTS_BENCH_CG_MB:-10}
DO_SERVE=${OUTPUTS_BENCH_SERVE:-1}
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
SLOWSINK="webhook:http://127.0.0.1:$SLOW/slow,batch_format=array"
FASTSINK="webhook:http://127.0.0.1:$FAST/fast,batch_format=array"
for ((r = 1; r <= REPS; r++)); do
    for set in bundled extreme; do
        run $set base "$r"
        run $set slow "$r" --sink "$SLOWSINK" --sink-timeout 0
        run $set fast "$r" --sink "$FASTSINK" --sink-timeout 0
    done
done

slow_reqs=$(wc -l < "$W/slow.log" 2> /dev/null || echo 0)

# ---- scan under callgrind: instruction counts (deterministic, whatever the machine's load) ----
CGTSV=$W/cg.tsv
: > "$CGTSV"
CGIN=bench/data/outputs-${CG_MB}MB.jsonl
if command -v valgrind > /dev/null && [ "$CG_MB" != 0 ]; then
    [ -s "$CGIN" ] || build/kadet-gen --bytes "${CG_MB}MB" --seed 1 --out "$CGIN"
    for set in bundled extreme; do
        for form in base slow fast; do
            rules=$W/rules
            [ "$set" = bundled ] && rules=$W/bundled
            sink=()
            [ "$form" = slow ] && sink=(--sink "$SLOWSINK" --sink-timeout 0)
            [ "$form" = fast ] && sink=(--sink "$FASTSINK" --sink-timeout 0)
            rm -f "$W/s.db"* "$W/out.jsonl" "$W/cg.out"
            valgrind --tool=callgrind --callgrind-out-file="$W/cg.out" "$K" scan --no-progress \
                --rules "$rules" --state "$W/s.db" --output "$W/out.jsonl" \
                --now 2026-01-01T00:00:00Z "${sink[@]}" "$CGIN" > /dev/null 2>&1 || true
            printf '%s\t%s\t%s\n' "$set/$form" "$(sed -n 's/^totals: //p' "$W/cg.out")" "$(wc -l < "$W/out.jsonl")" >> "$CGTSV"
        done
    done
fi

# ---- serve ----------------------------------------------------------------------------------
STSV=$W/serve.tsv
: > "$STSV"
metric() { curl -s "http://127.0.0.1:$admin/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }
# The same EventLists for every serve run (SERVE_REQS requests of 500 audit events, every
# auditID unique; users, agents and verbs drawn from small sets as in bench_serve.c), posted one
# after the other on one keep-alive connection by Python (its CPU is not counted as serve's).
python3 - "$W/bodies.ndjson" "$SREQS" <<'PYGEN'
import json, sys
users = ["alice", "bob", "system:serviceaccount:kube-system:replicaset-controller",
         "system:kube-controller-manager", "system:kube-scheduler", "system:node:worker-1"]
agents = ["kubectl/v1.29.1", "kube-controller-manager/v1.29.1", "kube-scheduler/v1.29.1",
          "kubelet/v1.29.1", "Go-http-client/2.0", "helm/3.14"]
verbs = ["get", "list", "watch", "update", "create", "delete"]
with open(sys.argv[1], "w") as f:
    for q in range(int(sys.argv[2])):
        items = []
        for i in range(500):
            r = (q * 2654435761 + i * 40503) & 0xffffffff
            ts = "2026-01-01T00:%02d:%02d.000000Z" % (q // 60 % 60, q % 60)
            items.append({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
                          "auditID": "ob-%d-%d" % (q, i), "stage": "ResponseComplete",
                          "requestURI": "/api/v1/namespaces/default/pods", "verb": verbs[r % 6],
                          "user": {"username": users[(r >> 3) % 6], "groups": ["system:authenticated"]},
                          "sourceIPs": ["10.0.%d.%d" % (r % 4, (r >> 5) % 250)],
                          "userAgent": agents[(r >> 7) % 6],
                          "objectRef": {"resource": "pods", "namespace": "default", "apiVersion": "v1"},
                          "responseStatus": {"metadata": {}, "code": 200},
                          "requestReceivedTimestamp": ts, "stageTimestamp": ts,
                          "annotations": {"authorization.k8s.io/decision": "allow",
                                          "authorization.k8s.io/reason": ""}})
        f.write(json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {},
                            "items": items}) + "\n")
PYGEN
SEVENTS=$((SREQS * 500))
post_all() { # post_all PORT: every body of bodies.ndjson, in order
    python3 - "$1" "$W/bodies.ndjson" <<'PYPOST'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
for line in open(sys.argv[2], "rb"):
    c.request("POST", "/", body=line, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit("serve answered %d" % r.status)
PYPOST
}
serve_run() { # serve_run SET FORM ROUND [sink args]
    local set=$1 form=$2 round=$3 rules=$W/rules i port= t0 t1 dec cpu alerts
    shift 3
    [ "$set" = bundled ] && rules=$W/bundled
    rm -rf "$W/sv" && mkdir -p "$W/sv"
    "$K" serve --insecure --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --spool-dir "$W/sv/spool" \
        --rules "$rules" --output "$W/sv/alerts.jsonl" --sink-timeout 1ms "$@" 2> "$W/sv/err" &
    spid=$!
    for ((i = 0; i < 300; i++)); do
        port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) (webhook.*/\1/p' "$W/sv/err")
        admin=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) (admin.*/\1/p' "$W/sv/err")
        [ -n "$port" ] && [ -n "$admin" ] && break
        sleep 0.1
    done
    [ -n "$port" ] || { cat "$W/sv/err"; exit 1; }
    t0=$(date +%s.%N)
    post_all "$port"
    for ((i = 0; i < 12000; i++)); do
        dec=$(metric kadet_events_decoded_total)
        [ "${dec:-0}" -ge "$SEVENTS" ] && break
        sleep 0.05
    done
    t1=$(date +%s.%N)
    cpu=$(awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$spid/stat")
    alerts=$(metric kadet_alerts_total)
    kill -TERM "$spid"
    wait "$spid" 2> /dev/null || true
    spid=
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$set/$form" "$round" "$(awk -v a="$t1" -v b="$t0" 'BEGIN { print a - b }')" "$cpu" "$dec" "$alerts" >> "$STSV"
}
if [ "$DO_SERVE" != 0 ]; then
    for ((r = 1; r <= SREPS; r++)); do
        for set in bundled extreme; do
            serve_run $set base "$r"
            serve_run $set slow "$r" --sink "$SLOWSINK"
            serve_run $set fast "$r" --sink "$FASTSINK"
        done
    done
fi

python3 - "$TSV" "$IN" "$MB" "$REPS" "$slow_reqs" "$STSV" "$SREPS" "$SREQS" "$CGTSV" "$CGIN" > "$W/section.md" <<'PY'
import os, statistics, subprocess, sys, time
tsv, inp, mb, reps, slow_reqs, stsv, sreps, sreqs, cgtsv, cgin = sys.argv[1:11]
size = os.path.getsize(inp) / 1e6
def medians(path, cols):
    rows = [l.rstrip("\n").split("\t") for l in open(path) if l.strip()]
    out = {}
    for key in sorted({x[0] for x in rows}):
        r = [x for x in rows if x[0] == key]
        out[key] = {name: statistics.median(float(x[i]) for x in r if x[i]) for name, i in cols.items()}
        out[key]["n"] = len(r)
    return out
rows = [l.rstrip("\n").split("\t") for l in open(tsv)]
scan = {}
for key in sorted({x[0] for x in rows}):
    r = [x for x in rows if x[0] == key]
    scan[key] = dict(n=len(r), wall=statistics.median(float(x[2]) for x in r),
                     cpu=statistics.median(float(x[3]) + float(x[4]) for x in r),
                     alerts=int(r[0][6]))
serve = medians(stsv, {"wall": 2, "cpu": 3, "events": 4, "alerts": 5}) if os.path.getsize(stsv) else {}
for v in serve.values():
    v["eps"] = v["events"] / v["wall"]
    v["us"] = 1e6 * v["cpu"] / v["events"]
cgmb = cgin.rsplit("-", 1)[-1].replace("MB.jsonl", "")
cg = {}
for l in open(cgtsv):
    k, ir, n = l.rstrip("\n").split("\t")
    if ir:
        cg[k] = dict(ir=int(ir), alerts=int(n))
def table(cols, rows):
    print("| " + " | ".join(c for c, _ in cols) + " |")
    print("| " + " | ".join(a for _, a in cols) + " |")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()
def forms(d, fn):
    return [fn(st, form, d[st + "/" + form], d[st + "/base"], d[st + "/fast"])
            for st in ("bundled", "extreme") for form in ("base", "slow", "fast")]
def commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
pct = lambda a, b: "%+.1f%%" % (100 * (a / b - 1))
print("<!-- outputs-bench begin -->")
print("## Outputs: a slow receiver (`make bench-outputs`)")
print()
print("%s, %s, %d CPUs, load average %s at the end (a shared machine), kadet at %s. Forms, run"
      " round-robin: **base** no sink; **slow** `--sink webhook:...,batch_format=array` to"
      " `tests/output/receiver.py --slow 2` (2 s per request); **fast** the same to a receiver"
      " answering at once. Rule sets: **bundled** (the bundled rules, their normal alert rate)"
      " and **extreme** (plus `bench writes`, a query rule alerting on every create, delete and"
      " patch). Medians; ratios side by side in the same run. Command: `make bench-outputs`"
      " (`OUTPUTS_BENCH_MB=%s OUTPUTS_BENCH_REPS=%s OUTPUTS_BENCH_SERVE_REPS=%s OUTPUTS_BENCH_SERVE_REQS=%s OUTPUTS_BENCH_CG_MB=%s`)."
      % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), cpu, os.cpu_count(),
         open("/proc/loadavg").read().split()[0], commit(), mb, reps, sreps, sreqs, cgmb))
print()
print("### scan")
print()
print("`kadet scan --rules RULES --state NEW.db --output out.jsonl [--sink SPEC --sink-timeout 0] IN`,"
      " IN = `%s` (%.0f MB, `build/kadet-gen --bytes %sMB --seed 1`); %s rounds; CPU = user + sys"
      " (`/usr/bin/time`)." % (inp, size, mb, reps))
print()
L, R = "---", "--:"
table([("rules", L), ("alerts", R), ("form", L), ("wall s", R), ("CPU s", R), ("MB/s (CPU)", R),
       ("CPU vs base", R), ("wall vs base", R), ("CPU slow vs fast", R)],
      forms(scan, lambda st, form, m, b, f: [
          st, "%d" % m["alerts"], form, "%.2f" % m["wall"], "%.2f" % m["cpu"], "%.1f" % (size / m["cpu"]),
          pct(m["cpu"], b["cpu"]), pct(m["wall"], b["wall"]), pct(m["cpu"], f["cpu"]) if form == "slow" else ""]))
if len(cg) == 6:
    print("Instruction counts (`valgrind --tool=callgrind`, every thread, one run each) of the same"
          " commands on `%s` (`build/kadet-gen --bytes %sMB --seed 1`). Under callgrind a run lasts"
          " about 50 times longer, so the slow receiver answers more requests than in a real run:"
          " the delivery thread's share is larger here than it would be." % (cgin, cgmb))
    print()
    table([("rules", L), ("alerts", R), ("form", L), ("instructions", R), ("vs base", R), ("slow vs fast", R)],
          forms(cg, lambda st, form, m, b, f: [
              st, "%d" % m["alerts"], form, "{:,}".format(m["ir"]), pct(m["ir"], b["ir"]),
              pct(m["ir"], f["ir"]) if form == "slow" else ""]))
if serve:
    print("### serve")
    print()
    print("`kadet serve --insecure --rules RULES --output alerts.jsonl [--sink SPEC]`; load: the"
          " same %s EventLists of 500 events (unique auditIDs) every run, posted one after the"
          " other on one keep-alive connection; events/s = events / (first post to every event"
          " decoded, from /metrics); CPU = the serve process's utime + stime then; %s rounds."
          % (sreqs, sreps))
    print()
    table([("rules", L), ("alerts/event", R), ("form", L), ("events", R), ("events/s", R), ("CPU s", R),
           ("CPU us/event", R), ("events/s vs base", R), ("CPU/event vs base", R), ("CPU/event slow vs fast", R)],
          forms(serve, lambda st, form, m, b, f: [
              st, "%.3f" % (m["alerts"] / m["events"]), form, "%d" % m["events"], "%.0f" % m["eps"],
              "%.2f" % m["cpu"], "%.1f" % m["us"], pct(m["eps"], b["eps"]), pct(m["us"], b["us"]),
              pct(m["us"], f["us"]) if form == "slow" else ""]))
verdict = []
ok = lambda x: "met" if x < 5 else "missed"
for st in ("bundled", "extreme"):
    b, s_, f = scan[st + "/base"], scan[st + "/slow"], scan[st + "/fast"]
    c, cf = 100 * (s_["cpu"] / b["cpu"] - 1), 100 * (s_["cpu"] / f["cpu"] - 1)
    v = "scan/%s: slow vs base CPU %+.1f%% (**%s**), slow vs fast %+.1f%% (**%s**)" % (st, c, ok(c), cf, ok(cf))
    if len(cg) == 6:
        i = 100 * (cg[st + "/slow"]["ir"] / cg[st + "/base"]["ir"] - 1)
        v += ", instructions slow vs base %+.1f%% (**%s**)" % (i, ok(i))
    verdict.append(v)
    if serve:
        b, s_, f = serve[st + "/base"], serve[st + "/slow"], serve[st + "/fast"]
        t, tf = 100 * (1 - s_["eps"] / b["eps"]), 100 * (1 - s_["eps"] / f["eps"])
        u, uf = 100 * (s_["us"] / b["us"] - 1), 100 * (s_["us"] / f["us"] - 1)
        verdict.append("serve/%s: slow vs base events/s %+.1f%%, CPU/event %+.1f%% (**%s**); slow vs fast"
                       " events/s %+.1f%%, CPU/event %+.1f%% (**%s**)" % (
                           st, -t, u, ok(max(t, u)), -tf, uf, ok(max(tf, uf))))
print("Target: a receiver taking 2 s per request costs less than 5% of throughput. " + "; ".join(verdict) + ".")
print()
print("The slow receiver answered %s requests over the scan rounds. \"slow vs fast\" isolates the"
      " receiver's slowness (same outbox, same delivery code); \"vs base\" adds the outbox"
      " (each alert's record written once more, to a segment file, and one SQLite row per batch) and"
      " the delivery thread's work for what it sent (reading the outbox, picking the alert's"
      " fields, the HTTP request), which a fast receiver makes the delivery thread do for every"
      " alert. Wall times on a loaded shared machine are noisy; CPU is the figure to compare."
      % slow_reqs)
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
