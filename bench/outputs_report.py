#!/usr/bin/env python3
"""bench/outputs_report.py - the RESULTS.md section of bench/outputs.sh (`make bench-outputs`)
from its run files: medians per (build, rules, form[, mode]), ratios of runs made in the same
loop, and the verdict on the issue's target (a receiver taking 2 s per request costs scan and
serve less than 5% of their throughput)."""
import os
import statistics
import subprocess
import sys
import time

(tsv, inp, reps, slow_reqs, stsv, sreps, cgtsv, cgin, ssecs, threads, events, rate, perf,
 bins, satsecs) = sys.argv[1:16]
labels = [b.split("=", 1)[0] for b in bins.split()]
paths = dict(b.split("=", 1) for b in bins.split())
size = os.path.getsize(inp) / 1e6 if os.path.exists(inp) else 0


def rows_of(path):
    if not os.path.exists(path):
        return []
    return [l.rstrip("\n").split("\t") for l in open(path) if l.strip()]


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


scan = {}
for x in rows_of(tsv):
    scan.setdefault(x[0], []).append(x)
for k, r in list(scan.items()):
    scan[k] = dict(n=len(r), wall=med(num(y[2]) for y in r),
                   cpu=med(num(y[3]) + num(y[4]) for y in r),
                   det=med(num(y[5]) for y in r), alerts=int(r[0][6]),
                   ins=med(num(y[7]) if len(y) > 7 else None for y in r))
serve = {}
for x in rows_of(stsv):
    serve.setdefault(x[0], []).append(x)
for k, r in list(serve.items()):
    # per run: detected events/s, alerts/s, CPU per event; medians of those
    det = [num(y[4]) / num(y[2]) for y in r if num(y[2])]
    us = [1e6 * num(y[3]) / num(y[4]) for y in r if num(y[4])]
    aps = [num(y[5] or 0) / num(y[2]) for y in r if num(y[2])]
    serve[k] = dict(n=len(r), det=med(det), us=med(us), aps=med(aps), acc=med(num(y[6]) for y in r),
                    events=med(num(y[4]) for y in r), alerts=med(num(y[5] or 0) for y in r))
cg = {}
for x in rows_of(cgtsv):
    if len(x) > 2 and x[1]:
        cg[x[0]] = dict(ir=int(x[1]), alerts=int(x[2]))

pct = lambda a, b: "%+.1f%%" % (100 * (a / b - 1)) if a is not None and b else ""
L, R = "---", "--:"


def table(cols, rows):
    print("| " + " | ".join(c for c, _ in cols) + " |")
    print("| " + " | ".join(a for _, a in cols) + " |")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()


def commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
    except OSError:
        return "unknown"


cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
           "unknown")
load = open("/proc/loadavg").read().split()[:3]
env = "OUTPUTS_BENCH_REPS=%s OUTPUTS_BENCH_SERVE_REPS=%s SERVE_SECONDS=%s SERVE_SAT_SECONDS=%s" % (
    reps, sreps, ssecs, satsecs)
if "old" in paths:
    env += " OLD_BIN=%s" % paths["old"]
print("<!-- outputs-bench begin -->")
print("## Outputs: a slow receiver (`make bench-outputs`)")
print()
print("%s, %s, %d CPUs, load average %s at the end (a shared machine), tree at %s. Builds: %s."
      " Forms, interleaved (the order rotates every round; with two builds, each run of one is"
      " followed by the same run of the other): **base** no sink; **slow**"
      " `--sink webhook:...,batch_format=array` to `tests/output/receiver.py --slow 2` (2 s per"
      " request); **fast** the same to a receiver answering at once. Rule sets: **bundled** (the"
      " bundled rules, their normal alert rate) and **extreme** (plus `bench writes`, a query rule"
      " alerting on every create, delete and patch). Medians; ratios of runs made in the same"
      " loop. Command: `%s make bench-outputs`."
      % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), cpu, os.cpu_count(), " ".join(load),
         commit(), ", ".join("%s = `%s`" % (l, paths[l]) for l in labels), env))
print()
verdict = []
ok = lambda x: "met" if x is not None and x < 5 else "missed"
if scan:
    print("### scan")
    print()
    print("`kadet scan --rules RULES --state NEW.db --output out.jsonl [--sink SPEC --sink-timeout 0] IN`,"
          " IN = `%s` (%.0f MB, `build/kadet-gen --seed 1`); %s rounds. CPU = user + sys of every"
          " thread (`/usr/bin/time`); detection = kadet's own summary time (first to last byte of"
          " the input: start-up and exit excluded); instructions = `perf stat -e instructions:u`"
          " (every thread)%s." % (inp, size, reps, "" if perf == "1" else ": not supported here"))
    print()
    for lab in labels:
        rows = []
        for st in ("bundled", "extreme"):
            b = scan.get("%s/%s/base" % (lab, st))
            f = scan.get("%s/%s/fast" % (lab, st))
            for form in ("base", "slow", "fast"):
                m = scan.get("%s/%s/%s" % (lab, st, form))
                if not m or not b:
                    continue
                rows.append([lab, st, "%d" % m["alerts"], form, "%.2f" % m["wall"], "%.2f" % m["cpu"],
                             "%.2f" % m["det"] if m["det"] else "-",
                             "%.0f" % (size / m["cpu"]) if m["cpu"] else "-",
                             "{:,.0f}".format(m["ins"]) if m["ins"] else "-",
                             pct(m["cpu"], b["cpu"]), pct(m["ins"], b["ins"]), pct(m["wall"], b["wall"]),
                             pct(m["det"], b["det"]),
                             pct(m["cpu"], f["cpu"]) if form == "slow" and f else ""])
            s_ = scan.get("%s/%s/slow" % (lab, st))
            if b and s_:
                c = 100 * (s_["cpu"] / b["cpu"] - 1)
                i = 100 * (s_["ins"] / b["ins"] - 1) if s_["ins"] and b["ins"] else None
                w = 100 * (s_["wall"] / b["wall"] - 1)
                d = 100 * (s_["det"] / b["det"] - 1) if s_["det"] and b["det"] else None
                v = "scan/%s (%s): slow vs base CPU %+.1f%%" % (st, lab, c)
                if i is not None:
                    v += ", instructions %+.1f%%" % i
                v += ", wall %+.1f%%" % w
                if d is not None:
                    v += ", detection time %+.1f%%" % d
                rely = i if i is not None else c
                v += " -> **%s** (on %s)" % (ok(rely), "instructions" if i is not None else "CPU time")
                verdict.append(v)
        table([("build", L), ("rules", L), ("alerts", R), ("form", L), ("wall s", R), ("CPU s", R),
               ("detection s", R), ("MB/s (CPU)", R), ("instructions", R), ("CPU vs base", R),
               ("instr. vs base", R), ("wall vs base", R), ("detection vs base", R),
               ("CPU slow vs fast", R)], rows)
if cg:
    print("Instruction counts (`valgrind --tool=callgrind`, every thread, one run each) of the same"
          " commands on `%s` (`build/kadet-gen --seed 1`). Under callgrind a run lasts about 50"
          " times longer, so the delivery thread's share is larger here than in a real run." % cgin)
    print()
    rows = []
    for lab in labels:
        for st in ("bundled", "extreme"):
            b = cg.get("%s/%s/base" % (lab, st))
            f = cg.get("%s/%s/fast" % (lab, st))
            for form in ("base", "slow", "fast"):
                m = cg.get("%s/%s/%s" % (lab, st, form))
                if m and b:
                    rows.append([lab, st, "%d" % m["alerts"], form, "{:,}".format(m["ir"]),
                                 pct(m["ir"], b["ir"]), pct(m["ir"], f["ir"]) if form == "slow" and f else ""])
    table([("build", L), ("rules", L), ("alerts", R), ("form", L), ("instructions", R), ("vs base", R),
           ("slow vs fast", R)], rows)
if serve:
    print("### serve")
    print()
    print("`kadet serve --insecure --state NEW.db --rules RULES --output alerts.jsonl [--sink SPEC]`;"
          " load: `build/bench/bench_serve` (bench/bench_serve.c), %s keep-alive connections posting"
          " EventLists of %s events (unique auditIDs), **sat** = each posts when the last is answered"
          " (%s s of load), **rate** = %s events/s offered in all, paced (%s s); %s rounds. Accepted = events"
          " answered 200 per second of load (client); detected = accepted events / (load start to"
          " every event decoded by detection, /metrics): serve's throughput; CPU = the serve"
          " process's utime + stime per decoded event." % (threads, events, satsecs, rate, ssecs, sreps))
    print()
    for lab in labels:
        rows = []
        for mode in ("sat", "rate"):
            for st in ("bundled", "extreme"):
                b = serve.get("%s/%s/base/%s" % (lab, st, mode))
                f = serve.get("%s/%s/fast/%s" % (lab, st, mode))
                for form in ("base", "slow", "fast"):
                    m = serve.get("%s/%s/%s/%s" % (lab, st, form, mode))
                    if not m or not b:
                        continue
                    rows.append([lab, mode, st, form, "%.0f" % m["acc"], "%.0f" % m["det"],
                                 "%.0f" % m["aps"], "%.1f" % m["us"], pct(m["det"], b["det"]),
                                 pct(m["us"], b["us"]), pct(m["det"], f["det"]) if form == "slow" and f else "",
                                 pct(m["us"], f["us"]) if form == "slow" and f else ""])
                s_ = serve.get("%s/%s/slow/%s" % (lab, st, mode))
                if b and s_:
                    t = 100 * (1 - s_["det"] / b["det"])
                    u = 100 * (s_["us"] / b["us"] - 1)
                    if mode == "sat":
                        verdict.append("serve/%s (%s, sat): slow vs base detected events/s %+.1f%%,"
                                       " CPU/event %+.1f%% -> **%s** (on events/s)" % (st, lab, -t, u, ok(t)))
                    else:
                        verdict.append("serve/%s (%s, rate): CPU/event slow vs base %+.1f%% -> **%s**"
                                       % (st, lab, u, ok(u)))
        table([("build", L), ("mode", L), ("rules", L), ("form", L), ("accepted ev/s", R),
               ("detected ev/s", R), ("alerts/s", R), ("CPU µs/event", R), ("detected vs base", R),
               ("CPU/event vs base", R), ("detected slow vs fast", R), ("CPU/event slow vs fast", R)],
              rows)
print("Target: a receiver taking 2 s per request costs less than 5% of throughput.")
print()
for v in verdict:
    print("- " + v)
print()
print(("The slow receiver answered %s requests over the scan rounds. " % slow_reqs if slow_reqs != "-" else
       "Scan rows from an earlier invocation (OUTPUTS_BENCH_SCAN=0 here). ") +
      "\"slow vs fast\" isolates the"
      " receiver's slowness (same outbox, same delivery code); \"vs base\" adds the outbox itself"
      " (each alert's record written once more, to a segment file, one SQLite row per batch) and the"
      " delivery thread's work for what it sent. On a loaded shared machine wall time and events/s"
      " move with the neighbours' load; CPU time moves less, instruction counts least.")
print("<!-- outputs-bench end -->")
