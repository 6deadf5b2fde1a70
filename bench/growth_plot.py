#!/usr/bin/env python3
"""bench/growth_plot.py TSV SVG - draw bench/growth.sh's table as an SVG (no plotting library):
two panels against input size (log scale), CPU seconds per GiB and peak RSS in MB, one line
per tool."""
import math
import sys

rows = []
with open(sys.argv[1]) as f:
    head = f.readline().rstrip("\n").split("\t")
    for line in f:
        rows.append(dict(zip(head, line.rstrip("\n").split("\t"))))
tools = []
for r in rows:
    if r["tool"] not in tools:
        tools.append(r["tool"])
colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
W, H, M = 460, 300, 60  # one panel
out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
       'font-size="12">' % (2 * W, H + 40), '<rect width="100%" height="100%" fill="white"/>']


def panel(x0, key, title, unit):
    pts = [(float(r["bytes"]), float(r[key]), r["tool"]) for r in rows]
    if not pts:
        return
    xs = [math.log2(p[0]) for p in pts]
    xmin, xmax = min(xs) - 0.3, max(xs) + 0.3
    ymax = max(p[1] for p in pts) * 1.15 or 1
    def X(b): return x0 + M + (math.log2(b) - xmin) / (xmax - xmin) * (W - M - 20)
    def Y(v): return H - M + 20 - v / ymax * (H - M - 20)
    out.append('<text x="%d" y="18" font-weight="bold">%s</text>' % (x0 + M, title))
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (x0 + M, Y(0), x0 + W - 20, Y(0)))
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (x0 + M, Y(0), x0 + M, Y(ymax)))
    for i in range(5):
        v = ymax * i / 4
        out.append('<text x="%d" y="%d" text-anchor="end">%.0f</text>' % (x0 + M - 4, Y(v) + 4, v))
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#ddd"/>' % (x0 + M, Y(v), x0 + W - 20, Y(v)))
    for b in sorted(set(p[0] for p in pts)):
        out.append('<text x="%d" y="%d" text-anchor="middle">%.2f GiB</text>' % (X(b), Y(0) + 16, b / 2**30))
    out.append('<text x="%d" y="%d" transform="rotate(-90 %d %d)" text-anchor="middle">%s</text>'
               % (x0 + 14, H / 2, x0 + 14, H / 2, unit))
    for ti, t in enumerate(tools):
        tp = sorted((p for p in pts if p[2] == t), key=lambda p: p[0])
        c = colors[ti % len(colors)]
        out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>'
                   % (c, " ".join("%.1f,%.1f" % (X(p[0]), Y(p[1])) for p in tp)))
        for p in tp:
            out.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (X(p[0]), Y(p[1]), c))


panel(0, "cpu_s_per_gib", "CPU seconds per GiB of input", "CPU s / GiB")
panel(W, "rss_mb", "Peak RSS", "MB")
for ti, t in enumerate(tools):
    x = 20 + ti * 180
    out.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>' % (x, H + 18, colors[ti % len(colors)]))
    out.append('<text x="%d" y="%d">%s</text>' % (x + 16, H + 29, t))
out.append("</svg>")
with open(sys.argv[2], "w") as f:
    f.write("\n".join(out) + "\n")
