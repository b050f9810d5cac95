"""A two-panel SVG (throughput and p99 latency against connections, log scales) drawn by hand,
so the report needs nothing beyond the Python standard library."""

import math
from xml.sax.saxutils import escape

# Scenario keys plotted, with their colours.
SERIES = [
    ("echo_direct", "#1f77b4"),
    ("echo_key", "#ff7f0e"),
    ("echo_jwt", "#2ca02c"),
    ("echo_pysdk", "#d62728"),
    ("ping", "#9467bd"),
    ("list27", "#8c564b"),
    ("list1000", "#e377c2"),
    ("exec_trivial", "#7f7f7f"),
    ("exec_nested", "#bcbd22"),
    ("exec_js", "#393b79"),
    ("fed_gw", "#ad494a"),
    ("sdk_py", "#637939"),
    ("sdk_ts", "#8c6d31"),
    ("big_key", "#17becf"),
]

W, H = 520, 360
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 40, 50


def svg(results, conns):
    by = {}
    for r in results:
        by.setdefault(r["name"], {})[r["conns"]] = r
    series = [(k, c, by[k]) for k, c in SERIES if k in by]
    panels = [
        ("Throughput (req/s, log scale)", lambda r: r["rps"]),
        ("p99 latency (ms, log scale)", lambda r: r["p99_us"] / 1000),
    ]
    legend_h = 22 * ((len(series) + 1) // 2) + 10
    total_w, total_h = 2 * W, H + legend_h
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{total_h}" '
        f'viewBox="0 0 {total_w} {total_h}" font-family="sans-serif" font-size="12">',
        f'<rect width="{total_w}" height="{total_h}" fill="white"/>',
    ]
    for i, (title, value) in enumerate(panels):
        out += panel(i * W, title, value, series, conns)
    for j, (key, colour, points) in enumerate(series):
        x = 20 + (j % 2) * W
        y = H + 16 + (j // 2) * 22
        label = next(iter(points.values()))["label"]
        out.append(f'<line x1="{x}" y1="{y - 4}" x2="{x + 24}" y2="{y - 4}" stroke="{colour}" stroke-width="3"/>')
        out.append(f'<text x="{x + 30}" y="{y}">{escape(label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def panel(x0, title, value, series, conns):
    values = [value(r) for _, _, pts in series for r in pts.values() if value(r) > 0]
    lo = 10 ** math.floor(math.log10(min(values)))
    hi = 10 ** math.ceil(math.log10(max(values)))
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    xs = {c: x0 + LEFT + (pw * i / max(len(conns) - 1, 1)) for i, c in enumerate(conns)}

    def y(v):
        return TOP + ph * (1 - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)))

    out = [f'<text x="{x0 + W / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">{escape(title)}</text>',
           f'<rect x="{x0 + LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>']
    decade = lo
    while decade <= hi * 1.0001:
        yy = y(decade)
        out.append(f'<line x1="{x0 + LEFT}" y1="{yy:.1f}" x2="{x0 + LEFT + pw}" y2="{yy:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{x0 + LEFT - 6}" y="{yy + 4:.1f}" text-anchor="end">{decade:g}</text>')
        decade *= 10
    for c, xx in xs.items():
        out.append(f'<line x1="{xx:.1f}" y1="{TOP}" x2="{xx:.1f}" y2="{TOP + ph}" stroke="#eee"/>')
        out.append(f'<text x="{xx:.1f}" y="{TOP + ph + 18}" text-anchor="middle">{c}</text>')
    out.append(f'<text x="{x0 + LEFT + pw / 2}" y="{TOP + ph + 38}" text-anchor="middle">connections</text>')
    for _, colour, pts in series:
        coords = [(xs[c], y(value(pts[c]))) for c in conns if c in pts and value(pts[c]) > 0]
        path = " ".join(f"{a:.1f},{b:.1f}" for a, b in coords)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        out += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{colour}"/>' for a, b in coords]
    return out
