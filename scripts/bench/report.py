#!/usr/bin/python3
"""Turns bench/results/page.csv into a markdown table (stdout) and page.svg: throughput and
p99 latency against offered rate, per scenario, stox beside Kamailio's xmpp module.
Plain SVG, no plotting library."""
import csv
import sys

out = sys.argv[1]
rows = list(csv.DictReader(open(f"{out}/page.csv")))

print("| scenario | gateway | offered msg/s | sent | delivered | errored | unanswered | throughput msg/s | CPU µs/msg | peak RSS MiB | p50 ms | p99 ms |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['scenario']} | {r['gateway']} | {r['offered_rate']} | {r['sent']} | {r['delivered']} | {r['errored']} | "
          f"{r['unanswered']} | {r['throughput']} | {r['cpu_us_per_msg']} | {int(r['peak_rss_kb']) / 1024:.0f} | "
          f"{int(r['p50_us']) / 1000:.2f} | {int(r['p99_us']) / 1000:.2f} |")

scenarios = ["x2s", "s2x-udp", "s2x-tcp"]
colors = {"stox": "#1f77b4", "kamailio-xmpp": "#d62728"}
W, H, PAD = 330, 240, 50
svg = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{W * 3}' height='{H * 2 + 40}' font-family='sans-serif' font-size='11'>",
       "<rect width='100%' height='100%' fill='white'/>",
       f"<text x='10' y='{H * 2 + 30}'>offered rate (msg/s; the last point is 'max', plotted at the achieved rate). "
       "Blue: stox, red: Kamailio xmpp module. Same load generator for both.</text>"]


def xpos(rate, achieved):
    r = float(achieved) if rate == "max" else float(rate)
    return r


for col, sc in enumerate(scenarios):
    data = {g: [r for r in rows if r["scenario"] == sc and r["gateway"] == g] for g in colors}
    allx = [xpos(r["offered_rate"], r["throughput"]) for g in data for r in data[g]] or [1]
    for row, (metric, label, scale) in enumerate([("throughput", "delivered msg/s", 1.0), ("p99_us", "p99 latency ms (log)", 1000.0)]):
        x0, y0 = col * W + PAD, row * H + 20
        w, h = W - PAD - 15, H - 60
        ys = [float(r[metric]) / scale for g in data for r in data[g]] or [1]
        xmax = max(allx) * 1.05
        import math
        if metric == "p99_us":
            lo, hi = math.log10(max(min(ys), 0.01)), math.log10(max(ys) * 1.5)
            fy = lambda v: y0 + h - (math.log10(max(v, 0.01)) - lo) / max(hi - lo, 1e-9) * h
        else:
            hi = max(ys) * 1.1
            fy = lambda v: y0 + h - v / max(hi, 1e-9) * h
        fx = lambda v: x0 + v / xmax * w
        svg.append(f"<rect x='{x0}' y='{y0}' width='{w}' height='{h}' fill='none' stroke='#999'/>")
        svg.append(f"<text x='{x0}' y='{y0 - 5}'>{sc}: {label}</text>")
        svg.append(f"<text x='{x0 + w - 40}' y='{y0 + h + 14}'>{xmax:.0f}</text><text x='{x0}' y='{y0 + h + 14}'>0</text>")
        for g, pts in data.items():
            coords = [(fx(xpos(r["offered_rate"], r["throughput"])), fy(float(r[metric]) / scale)) for r in pts]
            if coords:
                svg.append(f"<polyline fill='none' stroke='{colors[g]}' stroke-width='2' points='" +
                           " ".join(f"{a:.1f},{b:.1f}" for a, b in coords) + "'/>")
                for (a, b), r in zip(coords, pts):
                    svg.append(f"<circle cx='{a:.1f}' cy='{b:.1f}' r='3' fill='{colors[g]}'><title>{g} {r['offered_rate']}: {float(r[metric]) / scale:.2f}</title></circle>")
        top = (10 ** hi) if metric == "p99_us" else hi
        svg.append(f"<text x='{x0 - 45}' y='{y0 + 10}'>{top:.0f}</text>")
svg.append("</svg>")
open(f"{out}/page.svg", "w").write("\n".join(svg))
