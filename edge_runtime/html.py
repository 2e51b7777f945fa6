"""report.json + bench.json -> one self-contained HTML page: headline figures, an accuracy-vs-latency
Pareto plot over every model x format x precision, latency histograms from the raw samples, size
bars, latency as a multiple of the FLOP floor, and the full table. A report.json with a "frontier" key (frontier.json,
see edge_runtime.frontier) also gets the frontier section; `render_frontier_html` makes that section a page of its own.

Plots are SVG drawn here in Python and inlined; the only script sorts the tables and links rows to
points. Nothing is fetched: no fonts, no CDN, not even a favicon (`data:` URL).
"""
from __future__ import annotations

import datetime as _dt
import html
import math

import numpy as np

from edge_runtime._rows import TEACHER_KEY, rows
from edge_runtime.frontier import check_frontier, pareto_front, pareto_rows

TEACHER_COLOR = "#374151"
PALETTE = ["#2563eb", "#ea580c", "#059669", "#9333ea", "#db2777", "#0891b2", "#ca8a04", "#4f46e5"]
MARKERS = {"pytorch": "circle", "onnx": "square", "tflite": "triangle", "coreml": "diamond"}


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".") if abs(x - round(x, 1)) < 1e-9 else f"{x:.2f}"


def _ms(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 100 else f"{x:.0f}"


def _times(x: float) -> str:
    """A multiple: one decimal below 10 (3.0x and 4.3x differ), none above."""
    return f"{x:.1f}x" if x < 10 else f"{x:.0f}x"


def _dur(x: float | None) -> str:
    """A duration given in ms, with its unit: µs below 0.01 ms, where 3 decimals of ms would read 0.000."""
    if x is None:
        return "-"
    return f"{x * 1e3:.2f} µs" if x < 0.01 else f"{_ms(x)} ms"


# ---------------------------------------------------------------------------------------------- axes

def _nice_step(span: float, target: int) -> float:
    """The 1-2-5 step whose tick count is closest to `target` (robust to spans like 0.15000000000000002)."""
    raw = span / max(1, target)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    return min((m * mag for m in (1, 2, 5, 10)), key=lambda step: abs(span / step - target))


def linear_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1
    step = _nice_step(hi - lo, target)
    start = math.ceil(lo / step - 1e-9) * step
    out, v = [], start
    while v <= hi + 1e-9 * step:
        out.append(round(v, 10))
        v += step
    return out


def log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 ticks between lo and hi (both > 0), thinned to at most ~8."""
    out = []
    for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
        for m in (1, 2, 5):
            v = m * 10 ** e
            if lo <= v <= hi:
                out.append(v)
    if len(out) > 8:
        out = [v for v in out if str(v).lstrip("0.").startswith("1")] or out
    return out


class Axis:
    def __init__(self, lo: float, hi: float, a: float, b: float, log: bool = False) -> None:
        self.lo, self.hi, self.a, self.b, self.log = lo, hi, a, b, log

    def __call__(self, v: float) -> float:
        if self.log:
            t = (math.log10(v) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        else:
            t = (v - self.lo) / (self.hi - self.lo)
        return self.a + t * (self.b - self.a)


def _tick_label(v: float, pct: bool = False) -> str:
    if pct:
        return f"{v * 100:.0f}%" if abs(v * 100 - round(v * 100)) < 1e-6 else f"{v * 100:.1f}%"
    if v >= 1:
        return f"{v:g}"
    return f"{v:.3g}"


def _marker(shape: str, x: float, y: float, r: float, color: str, filled: bool, extra: str = "") -> str:
    fill = color if filled else "#fff"
    common = f'fill="{fill}" stroke="{color}" stroke-width="2" {extra}'
    if shape == "square":
        return f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r:.1f}" height="{2 * r:.1f}" {common}/>'
    if shape == "triangle":
        return f'<polygon points="{x:.1f},{y - r * 1.2:.1f} {x - r * 1.1:.1f},{y + r * 0.9:.1f} {x + r * 1.1:.1f},{y + r * 0.9:.1f}" {common}/>'
    if shape == "diamond":
        return f'<polygon points="{x:.1f},{y - r * 1.3:.1f} {x + r * 1.1:.1f},{y:.1f} {x:.1f},{y + r * 1.3:.1f} {x - r * 1.1:.1f},{y:.1f}" {common}/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" {common}/>'


# ---------------------------------------------------------------------------------------------- plots

def _place_labels(items: list[tuple[float, float, str]], box: tuple[float, float, float, float],
                  taken: list[tuple[float, float, float, float]] = ()) -> list[tuple[float, float, str, str]]:
    """Put each label beside its point where it overlaps no marker, no earlier label, nothing in `taken` (rects already
    drawn), and stays in the plot (greedy)."""
    placed: list[tuple[float, float, float, float]] = [(x - 8, y - 8, x + 8, y + 8) for x, y, _ in items] + list(taken)
    out = []
    x0, y0, x1, y1 = box
    for x, y, text in items:
        w = 6.3 * len(text) + 4
        choice = None
        for dx, dy, anchor in ((10, 4, "start"), (-10, 4, "end"), (0, -12, "middle"), (0, 21, "middle"), (8, -11, "start"),
                               (8, 19, "start"), (-8, -11, "end"), (-8, 19, "end"), (0, -26, "middle"), (0, 35, "middle")):
            lx = x + dx if anchor == "start" else x + dx - w if anchor == "end" else x - w / 2
            rect = (lx, y + dy - 10, lx + w, y + dy + 3)
            if rect[0] < x0 or rect[2] > x1 or rect[1] < y0 or rect[3] > y1:
                continue
            if all(rect[2] < p[0] or rect[0] > p[2] or rect[3] < p[1] or rect[1] > p[3] for p in placed):
                choice = (dx, dy, anchor, rect)
                break
        if choice is None:
            continue   # no room: the point keeps its tooltip and its table row
        dx, dy, anchor, rect = choice
        placed.append(rect)
        out.append((x + dx, y + dy, f'text-anchor="{anchor}"', text))
    return out


def front_plot_svg(points: list[dict], *, svg_id: str, aria: str, x_title: str, y_title: str = "test accuracy",
                   hlines: tuple[tuple[float, str], ...] = (), vlines: tuple[tuple[float, str], ...] = (),
                   empty: str = "No rows with both values to plot.") -> str:
    """Accuracy (linear y) against a cost (log x, lower is better), the Pareto front drawn as a dashed staircase.

    Each point: {"x", "y", "color", "shape" (a MARKERS shape), "label", "tip", "key"}; front points are filled, labelled
    first and carry class "on-front". `hlines` / `vlines`: dotted reference lines (value, label), e.g. the teacher's accuracy.
    """
    pts = [p for p in points if p.get("x") and p["x"] > 0 and p.get("y") is not None]
    if not pts:
        return f'<p class="muted">{_e(empty)}</p>'
    W, H, L, R, T, B = 760, 420, 64, 20, 16, 48
    xs = [p["x"] for p in pts] + [v for v, _ in vlines if v and v > 0]
    ys = [p["y"] for p in pts] + [v for v, _ in hlines if v is not None]
    xlo, xhi = min(xs) / 1.35, max(xs) * 1.35
    span = max(ys) - min(ys)
    pad = max(0.01, span * 0.12)
    ylo, yhi = max(0.0, min(ys) - pad), min(1.0, max(ys) + pad)
    X, Y = Axis(xlo, xhi, L, W - R, log=True), Axis(ylo, yhi, H - B, T)
    out = [f'<svg viewBox="0 0 {W} {H}" role="img" aria-label="{_e(aria)}" class="plot" id="{_e(svg_id)}">']
    for v in log_ticks(xlo, xhi):
        out.append(f'<line x1="{X(v):.1f}" x2="{X(v):.1f}" y1="{T}" y2="{H - B}" class="grid"/>'
                   f'<text x="{X(v):.1f}" y="{H - B + 16}" class="tick" text-anchor="middle">{_tick_label(v)}</text>')
    for v in linear_ticks(ylo, yhi, 6):
        out.append(f'<line x1="{L}" x2="{W - R}" y1="{Y(v):.1f}" y2="{Y(v):.1f}" class="grid"/>'
                   f'<text x="{L - 6}" y="{Y(v) + 4:.1f}" class="tick" text-anchor="end">{_tick_label(v, pct=True)}</text>')
    out.append(f'<rect x="{L}" y="{T}" width="{W - L - R}" height="{H - T - B}" class="frame"/>')
    out.append(f'<text x="{(L + W - R) / 2}" y="{H - 10}" class="axis-title" text-anchor="middle">{_e(x_title)}</text>'
               f'<text transform="translate(16 {(T + H - B) / 2}) rotate(-90)" class="axis-title" text-anchor="middle">{_e(y_title)}</text>')
    taken = []   # reference-line labels count as placed labels for the point labels
    for v, text in hlines:
        if v is not None:
            out.append(f'<g class="refline"><title>{_e(text)}</title><line x1="{L}" x2="{W - R}" y1="{Y(v):.1f}" y2="{Y(v):.1f}" class="ref"/>'
                       f'<text x="{L + 6}" y="{Y(v) - 4:.1f}" class="label">{_e(text)}</text></g>')
            taken.append((L, Y(v) - 14, L + 6.3 * len(text) + 10, Y(v) - 1))   # top left: the corner no real model reaches
    for v, text in vlines:
        if v and v > 0:
            out.append(f'<g class="refline"><title>{_e(text)}</title><line x1="{X(v):.1f}" x2="{X(v):.1f}" y1="{T}" y2="{H - B}" class="ref"/>'
                       f'<text transform="translate({X(v) - 4:.1f} {H - B - 6}) rotate(-90)" class="label">{_e(text)}</text></g>')
            taken.append((X(v) - 14, H - B - 6.3 * len(text) - 10, X(v), H - B))   # bottom: slow and inaccurate, usually empty
    front = pareto_front([(p["x"], p["y"]) for p in pts])
    if len(front) > 1:
        path, prev = [], None
        for i in front:
            x, y = X(pts[i]["x"]), Y(pts[i]["y"])
            path.append(f"M{x:.1f},{y:.1f}" if prev is None else f"H{x:.1f}V{y:.1f}")
            prev = (x, y)
        out.append(f'<path d="{"".join(path)}" class="front"/>')
    labels = []
    on_front = set(front)
    order = sorted(range(len(pts)), key=lambda i: (i not in on_front, pts[i]["x"]))   # front points get labels first
    for i in order:
        p = pts[i]
        x, y = X(p["x"]), Y(p["y"])
        tip = p["tip"] + (" · on the Pareto front" if i in on_front else "")
        out.append(f'<g class="pt{" on-front" if i in on_front else ""}" data-key="{_e(p["key"])}"><title>{_e(tip)}</title>'
                   + _marker(p.get("shape", "circle"), x, y, 6.5, p["color"], i in on_front) + "</g>")
        labels.append((x, y, p["label"]))
    for lx, ly, anchor, text in _place_labels(labels, (L, T, W - R, H - B), taken):
        out.append(f'<text x="{lx:.1f}" y="{ly:.1f}" {anchor} class="label">{_e(text)}</text>')
    out.append("</svg>")
    return "".join(out)


def pareto_svg(table_rows: list[dict], colors: dict[str, str]) -> str:
    points = []
    for r in table_rows:
        if not r.get("p50") or r.get("accuracy") is None:
            continue
        agreement = f' · agreement {r["agreement"]:.2%}' if r.get("agreement") is not None else ""
        points.append({"x": r["p50"], "y": r["accuracy"], "color": colors.get(r["model"], "#000"), "shape": MARKERS.get(r["format"], "circle"),
                       "key": r["key"],
                       "label": f'{r["format"]} {r["precision"]}' if not r["is_teacher"] else f'teacher {r["format"]} {r["precision"]}',
                       "tip": (f'{r["model"]} · {r["format"]} {r["precision"]}\np50 {_ms(r["p50"])} ms · accuracy {r["accuracy"]:.2%}'
                               f'{agreement} · {r["size_mb"]:.1f} MB')})
    return front_plot_svg(points, svg_id="pareto", aria="accuracy against p50 latency",
                          x_title="p50 latency, ms (log scale; left is faster)", empty="No rows with both a latency and an accuracy.")


def histogram_svg(name: str, samples: list[float], color: str, w: int = 360, h: int = 150) -> str:
    a = np.asarray(samples, dtype=float)
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    lo = float(a.min())
    hi = float(np.percentile(a, 99)) if a.max() > 1.5 * np.percentile(a, 99) else float(a.max())
    hi = hi if hi > lo else lo * 1.01 + 1e-6
    over = int((a > hi).sum())
    counts, edges = np.histogram(np.clip(a, lo, hi), bins=30, range=(lo, hi))
    L, R, T, B = 34, 10, 8, 30
    X, Y = Axis(lo, hi, L, w - R), Axis(0, max(1, counts.max()), h - B, T)
    out = [f'<svg viewBox="0 0 {w} {h}" class="hist" role="img" aria-label="latency histogram of {_e(name)}">']
    for v in linear_ticks(lo, hi, 4):
        if lo <= v <= hi:
            out.append(f'<line x1="{X(v):.1f}" x2="{X(v):.1f}" y1="{T}" y2="{h - B}" class="grid"/>'
                       f'<text x="{X(v):.1f}" y="{h - B + 13}" class="tick" text-anchor="middle">{_tick_label(v)}</text>')
    top = int(counts.max())
    out.append(f'<text x="{L - 4}" y="{T + 8}" class="tick" text-anchor="end">{top}</text>'
               f'<text x="{L - 4}" y="{h - B}" class="tick" text-anchor="end">0</text>')
    for c, e0, e1 in zip(counts, edges[:-1], edges[1:]):
        if c:
            out.append(f'<rect x="{X(e0) + 0.5:.1f}" y="{Y(c):.1f}" width="{max(0.8, X(e1) - X(e0) - 1):.1f}" height="{h - B - Y(c):.1f}" '
                       f'fill="{color}" opacity="0.75"><title>{_ms(e0)}-{_ms(e1)} ms: {c} runs</title></rect>')
    for v, cls, label in ((p50, "p50", "p50"), (p99, "p99", "p99")):
        if v <= hi:
            out.append(f'<line x1="{X(v):.1f}" x2="{X(v):.1f}" y1="{T}" y2="{h - B}" class="halo"/>'
                       f'<line x1="{X(v):.1f}" x2="{X(v):.1f}" y1="{T}" y2="{h - B}" class="{cls}"><title>{label} {_ms(v)} ms</title></line>')
    out.append(f'<text x="{(L + w - R) / 2}" y="{h - 4}" class="tick" text-anchor="middle">ms'
               f'{f" · {over} slower run(s) beyond {_ms(hi)} ms" if over else ""}</text>')
    out.append("</svg>")
    return "".join(out)


def hbar_svg(items: list[tuple[str, float, str, str, str]], unit: str, log_from: float | None = None, w: int = 760) -> str:
    """Horizontal bars: (label, value, color, value text, data-key). With `log_from`, a log axis starting there."""
    if not items:
        return '<p class="muted">Nothing to plot.</p>'
    row, L, T = 24, 250, 10
    R = 12 + 6.4 * max(len(text) for _, _, _, text, _ in items)   # room for the longest value text
    h = T + row * len(items) + 30
    vmax = max(v for _, v, _, _, _ in items)
    if log_from:
        X = Axis(log_from, max(vmax * 1.15, log_from * 10), L, w - R, log=True)
        ticks = log_ticks(log_from, X.hi)
    else:
        X = Axis(0, vmax * 1.05 or 1, L, w - R)
        ticks = linear_ticks(0, vmax * 1.05 or 1, 6)
    out = [f'<svg viewBox="0 0 {w} {h}" class="plot" role="img">']
    for v in ticks:
        if X.lo <= v <= X.hi:
            out.append(f'<line x1="{X(v):.1f}" x2="{X(v):.1f}" y1="{T}" y2="{h - 28}" class="grid"/>'
                       f'<text x="{X(v):.1f}" y="{h - 14}" class="tick" text-anchor="middle">{_tick_label(v)}{_e(unit) if log_from else ""}</text>')
    for k, (label, v, color, text, key) in enumerate(items):
        y = T + k * row
        x1 = X(max(v, X.lo)) if log_from else X(v)
        out.append(f'<g class="bar" data-key="{_e(key)}"><title>{_e(label)}: {_e(text)}</title>'
                   f'<text x="{L - 8}" y="{y + 15}" class="label" text-anchor="end">{_e(label)}</text>'
                   f'<rect x="{L}" y="{y + 4}" width="{max(1.0, x1 - L):.1f}" height="{row - 8}" fill="{color}" rx="2"/>'
                   f'<text x="{x1 + 5:.1f}" y="{y + 15}" class="value">{_e(text)}</text></g>')
    if not log_from:
        out.append(f'<text x="{(L + w - R) / 2}" y="{h - 1}" class="tick" text-anchor="middle">{_e(unit)}</text>')
    out.append("</svg>")
    return "".join(out)


# ---------------------------------------------------------------------------------------------- page

CSS = """
:root { --fg:#111827; --muted:#6b7280; --line:#e5e7eb; --bg:#fff; --card:#f9fafb; --accent:#2563eb; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; color:var(--fg); background:var(--bg); }
main { max-width:1200px; margin:0 auto; padding:28px 24px 48px; }
h1 { font-size:24px; margin:0 0 4px; } h2 { font-size:18px; margin:36px 0 6px; border-bottom:1px solid var(--line); padding-bottom:4px; }
p.lead { color:var(--muted); margin:0 0 18px; } .muted { color:var(--muted); } .note { color:var(--muted); font-size:12.5px; margin:4px 0 10px; }
.cards { display:grid; grid-template-columns:repeat(auto-fit,minmax(200px,1fr)); gap:12px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
.card .k { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.card .v { font-size:22px; font-weight:650; margin:2px 0; } .card .s { font-size:12.5px; color:var(--muted); }
svg { font-family:inherit; display:block; width:100%; height:auto; }
svg .grid { stroke:#eef0f3; } svg .frame { fill:none; stroke:#d1d5db; }
svg .tick { font-size:10.5px; fill:#6b7280; } svg .axis-title { font-size:12px; fill:#374151; }
svg .label { font-size:11px; fill:#1f2937; paint-order:stroke; stroke:#fff; stroke-width:3px; stroke-linejoin:round; } svg .value { font-size:11px; fill:#374151; }
svg .front { fill:none; stroke:#111827; stroke-width:1.4; stroke-dasharray:5 4; opacity:.55; }
svg .halo { stroke:#fff; stroke-width:4; opacity:.9; } svg .p50 { stroke:#111827; stroke-width:1.5; } svg .p99 { stroke:#dc2626; stroke-width:1.5; stroke-dasharray:4 3; }
svg g.pt, svg g.bar { cursor:default; } svg g.hl rect, svg g.hl circle, svg g.hl polygon { stroke:#facc15; stroke-width:4; }
.legend { display:flex; flex-wrap:wrap; gap:14px; font-size:12.5px; margin:6px 0 0; color:#374151; }
.legend span { display:inline-flex; align-items:center; gap:6px; } .legend svg { width:14px; height:14px; display:inline; }
.hists { display:grid; grid-template-columns:repeat(auto-fill,minmax(340px,1fr)); gap:10px 16px; }
.hists figure { margin:0; border:1px solid var(--line); border-radius:8px; padding:8px 10px 4px; }
.hists figcaption { font-size:12.5px; } .hists figcaption b { font-weight:600; } .hists figcaption span { color:var(--muted); }
.tablewrap { overflow-x:auto; }
table { border-collapse:collapse; width:100%; font-size:12.5px; font-variant-numeric:tabular-nums; }
th, td { padding:5px 6px; border-bottom:1px solid var(--line); text-align:right; white-space:nowrap; }
th { background:var(--card); position:sticky; top:0; cursor:pointer; user-select:none; font-weight:600; white-space:normal; vertical-align:bottom; }
th:nth-child(-n+4), td:nth-child(-n+4), th.t, td.t { text-align:left; }
svg .ref { stroke:#374151; stroke-width:1.2; stroke-dasharray:2 3; opacity:.8; }
table.budgets { width:auto; } table.budgets td.none { color:var(--muted); }
table.budgets th:nth-child(n+3), table.budgets td:nth-child(n+3) { text-align:right; }
th[aria-sort=ascending]::after { content:" \\25B2"; font-size:9px; } th[aria-sort=descending]::after { content:" \\25BC"; font-size:9px; }
tr.teacher td { background:#f3f4f6; } tr.hl td { background:#fef9c3; } td.fail { color:#b91c1c; font-weight:600; }
dl.facts { display:grid; grid-template-columns:max-content 1fr; gap:2px 14px; font-size:12.5px; } dl.facts dt { color:var(--muted); } dl.facts dd { margin:0; }
"""

JS = """
(function () {
  function key(td) { var v = td.getAttribute("data-v"); return v === null ? td.textContent : (v === "" ? null : parseFloat(v)); }
  document.querySelectorAll("table.sortable").forEach(function (table) {
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
    th.addEventListener("click", function () {
      var asc = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(th.parentNode.cells, function (c) { c.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var body = table.tBodies[0], list = Array.prototype.slice.call(body.rows);
      list.sort(function (a, b) {
        var x = key(a.cells[col]), y = key(b.cells[col]);
        if (x === null) return 1; if (y === null) return -1;
        var d = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
        return asc ? d : -d;
      });
      list.forEach(function (r) { body.appendChild(r); });
    });
  });
  });
  function mark(k, on) {
    document.querySelectorAll('[data-key="' + (window.CSS && CSS.escape ? CSS.escape(k) : k) + '"]').forEach(function (el) { el.classList.toggle("hl", on); });
  }
  document.querySelectorAll("[data-key]").forEach(function (el) {
    var k = el.getAttribute("data-key");
    el.addEventListener("mouseenter", function () { mark(k, true); });
    el.addEventListener("mouseleave", function () { mark(k, false); });
  });
  document.documentElement.setAttribute("data-report-ready", "1");
})();
"""


def _colors(table_rows: list[dict]) -> dict[str, str]:
    colors, k = {}, 0
    for r in table_rows:
        if r["model"] in colors:
            continue
        if r["is_teacher"]:
            colors[r["model"]] = TEACHER_COLOR
        else:
            colors[r["model"]] = PALETTE[k % len(PALETTE)]
            k += 1
    return colors


def _legend(colors: dict[str, str], formats: list[str]) -> str:
    parts = [f'<span><svg viewBox="0 0 14 14"><rect x="1" y="1" width="12" height="12" rx="2" fill="{c}"/></svg>{_e(m)}</span>' for m, c in colors.items()]
    parts += [f'<span><svg viewBox="0 0 14 14">{_marker(MARKERS.get(f, "circle"), 7, 7, 4.5, "#374151", False)}</svg>{_e(f)}</span>' for f in formats]
    parts.append('<span><svg viewBox="0 0 14 14"><circle cx="7" cy="7" r="4.5" fill="#374151"/></svg>filled: on the Pareto front</span>')
    return '<div class="legend">' + "".join(parts) + "</div>"


def _cards(report: dict, table_rows: list[dict]) -> str:
    teacher = table_rows[0]
    cards = [("Teacher", f'{teacher["accuracy"]:.1%}', f'{_e(teacher["model"])} · PyTorch p50 {_ms(teacher["p50"])} ms · {teacher["size_mb"]:.0f} MB'
              f' · {report["teacher"].get("params", 0) / 1e6:.1f}M params')]
    students = [r for r in table_rows if not r["is_teacher"] and r.get("p50")]
    if students:
        fast = min(students, key=lambda r: r["p50"])
        acc = f', accuracy {fast["accuracy"]:.1%}' if fast.get("accuracy") is not None else ""
        agree = f' · agrees with the teacher on {fast["agreement"]:.1%}' if fast.get("agreement") is not None else ""
        cards.append(("Fastest student file", f'{_ms(fast["p50"])} ms',
                      f'{_e(fast["model"])} {_e(fast["format"])} {_e(fast["precision"])}: {fast["speedup"]:.0f}x faster than the teacher '
                      f'in PyTorch, {fast["size_mb"]:.1f} MB{acc}{agree}'))
    teacher_files = [r for r in table_rows if r["is_teacher"] and r.get("p50")]
    best_teacher = min(teacher_files, key=lambda r: r["p50"]) if teacher_files else None
    if students and best_teacher is not None and best_teacher["format"] != "pytorch":
        ratio = best_teacher["p50"] / fast["p50"]
        cards.append(("vs the teacher's fastest file", f"{ratio:.1f}x",
                      f'teacher {_e(best_teacher["format"])} {_e(best_teacher["precision"])} at {_ms(best_teacher["p50"])} ms, '
                      f'{best_teacher["size_mb"]:.0f} MB: the fair comparison for an app'))
    by_kind: dict[str, dict[str, float]] = {}
    for s in report["students"]:
        by_kind.setdefault(s["kind"], {})[s["trained_on"]] = s["accuracy"]
    gains = [(k, v["teacher"] - v["labels"]) for k, v in by_kind.items() if "teacher" in v and "labels" in v]
    if gains:
        kind, gain = gains[0]
        cards.append(("Distillation", f"{gain * 100:+.1f} pts",
                      f"test accuracy of the {_e(kind)} trained on the teacher's logits minus the same {_e(kind)} trained on labels"))
    floored = [r for r in table_rows if r.get("x_floor")]
    if floored:
        near = min(floored, key=lambda r: r["x_floor"])
        cards.append(("Closest to its FLOP floor", _times(near["x_floor"]),
                      f'{_e(near["model"])} {_e(near["format"])} {_e(near["precision"])}: p50 {_dur(near["p50"])} vs a floor of {_dur(near["floor_ms"])}'))
    return '<div class="cards">' + "".join(f'<div class="card"><div class="k">{_e(k)}</div><div class="v">{v}</div><div class="s">{s}</div></div>'
                                            for k, v, s in cards) + "</div>"


TABLE = [("model", "model", None), ("trained_on", "trained on", None), ("format", "format", None), ("precision", "prec.", None),
         ("size_mb", "size MB", "{:.1f}"), ("p50", "p50 ms", "ms"), ("p90", "p90 ms", "ms"), ("p99", "p99 ms", "ms"),
         ("speedup", "x teacher", "{:.1f}x"), ("accuracy", "test acc", "{:.2%}"), ("agreement", "agree w/ teacher", "{:.2%}"),
         ("max_diff", "max |Δlogit|", "{:.2g}"), ("floor_ms", "floor ms", "{:.3g}"), ("x_floor", "x floor", "times"), ("parity_passed", "parity", None)]


def _table(table_rows: list[dict], columns: list[tuple[str, str, str | None]] = TABLE, table_id: str = "rows") -> str:
    """A sortable table: one row per dict (its "key" links it to plot points), columns (key, heading, format) where the
    format is None (text), "text" (text, left-aligned), "ms", "times" or a str.format pattern; empty columns are dropped."""
    cols = [c for c in columns if any(r.get(c[0]) is not None for r in table_rows)]
    head = "".join(f'<th scope="col"{" class=t" if pat == "text" else ""}>{_e(t)}</th>' for _, t, pat in cols)
    body = []
    for r in table_rows:
        cells = []
        for key, _, pat in cols:
            v = r.get(key)
            if key == "parity_passed":
                text, cls, dv = ("-" if v is None else "pass" if v else "FAIL"), ("fail" if v is False else ""), None
            elif v is None:
                text, cls, dv = "-", "t" if pat == "text" else "", ""
            elif pat is None or pat == "text":
                text, cls, dv = str(v), "t" if pat == "text" else "", None
            else:
                text, cls, dv = (_ms(v) if pat == "ms" else _times(v) if pat == "times" else pat.format(v)), "", repr(float(v))
            attrs = (f' class="{cls}"' if cls else "") + (f' data-v="{_e(dv)}"' if dv is not None else "")
            cells.append(f"<td{attrs}>{_e(text)}</td>")
        body.append(f'<tr data-key="{_e(r["key"])}"{" class=teacher" if r.get("is_teacher") else ""}>{"".join(cells)}</tr>')
    return (f'<div class="tablewrap"><table id="{_e(table_id)}" class="sortable"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _histograms(table_rows: list[dict], bench: dict | None, colors: dict[str, str]) -> str:
    if not bench:
        return '<p class="muted">No bench.json next to report.json: the raw samples are needed for histograms.</p>'
    model_of = {r["key"]: r["model"] for r in table_rows}
    order = [r["key"] for r in table_rows if r["key"] in bench] + [k for k in bench if k not in model_of]
    figs = []
    for key in order:
        entry = bench[key]
        samples = entry.get("latencies_ms") or []
        if not samples:
            continue
        lat = entry.get("latency_ms") or {}
        model = model_of.get(key, key.split("/")[0])
        color = colors.get(model, TEACHER_COLOR if key.startswith(TEACHER_KEY + "/") else "#6b7280")
        figs.append(f'<figure data-key="{_e(key)}"><figcaption><b>{_e(key)}</b> <span>n={len(samples)} · p50 {_ms(lat.get("p50"))} · '
                    f'p90 {_ms(lat.get("p90"))} · p99 {_ms(lat.get("p99"))} · max {_ms(lat.get("max"))} ms</span></figcaption>'
                    f'{histogram_svg(key, samples, color)}</figure>')
    if not figs:
        return '<p class="muted">bench.json holds no raw samples (it was written without them).</p>'
    return '<div class="hists">' + "".join(figs) + "</div>"


def _wall(report: dict, timings: dict) -> str | None:
    if "wall_seconds" not in report:
        return None
    parts = ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
    return f"{report['wall_seconds']:.0f} s" + (f" ({parts})" if parts else "")


def _lengths_section(report: dict) -> str:
    """A table of p50 by runner and length (report.json `bench_by_length`), or nothing."""
    by = report.get("bench_by_length")
    if not by:
        return ""
    labels = list(by)
    head = "".join(f"<th>{_e(label)} ({by[label]['tokens']} tokens)</th>" for label in labels)
    body = "".join(f"<tr><td>{_e(name)}</td>" + "".join(f"<td>{_dur(by[label]['p50_ms'][name])}</td>" if name in by[label]["p50_ms"] else "<td>-</td>"
                                                          for label in labels) + "</tr>"
                   for name in by[labels[0]]["p50_ms"])
    return ('<h2>Latency at the data\'s lengths</h2><p class="note">p50 at batch 1, each length one interleaved run; median and p90 are the '
            'test sentences\' token counts, special tokens included.</p>'
            f'<table class="lengths"><thead><tr><th>runner</th>{head}</tr></thead><tbody>{body}</tbody></table>\n')


def render_html(report: dict, bench: dict | None = None) -> str:
    """The whole page as a string. `bench` is bench.json ({runner: result with latencies_ms}) or None."""
    table_rows = rows(report)
    colors = _colors(table_rows)
    data, machine, cfg = report["data"], report["machine"], report.get("bench", {})
    formats = sorted({r["format"] for r in table_rows}, key=lambda f: list(MARKERS).index(f) if f in MARKERS else 99)
    title = f"edgedistill report: {data['name']}"
    shape = f"batch {cfg.get('batch', 1)}, {cfg.get('seq_len', 64)} tokens, {machine.get('threads', 1)} thread(s)"
    sizes = sorted((r for r in table_rows if r.get("size_mb") is not None), key=lambda r: -r["size_mb"])
    size_items = [(f'{r["model"]} · {r["format"]} {r["precision"]}', r["size_mb"], colors[r["model"]], f'{r["size_mb"]:.1f} MB', r["key"]) for r in sizes]
    floor_rows = sorted((r for r in table_rows if r.get("x_floor")), key=lambda r: r["x_floor"])
    floor_items = [(f'{r["model"]} · {r["format"]} {r["precision"]}', r["x_floor"], colors[r["model"]],
                    f'{_times(r["x_floor"])} ({_dur(r["p50"])} vs {_dur(r["floor_ms"])})', r["key"]) for r in floor_rows]
    floors = report.get("floors")
    if floors:
        g = floors["gemm"]
        mkn = "x".join
        floor_note = (f'Floor = fp32 MACs at {g["fp32_gmacs"]:.1f} GMAC/s + int8 MACs at {g["int8_gmacs"]:.1f} GMAC/s, the best single-core rates '
                      f'measured on this machine with onnxruntime MatMul / MatMulInteger over {len(g.get("shapes") or [1])} GEMM shape(s) '
                      f'(fp32 best at {mkn(map(str, g["fp32_shape"]))}, int8 at {mkn(map(str, g["int8_shape"]))}), divided by {floors["threads"]} thread(s). '
                      f'A batch-1 RNN step is a GEMV (M=1), which ran at {g.get("gemv_fp32_gmacs", 0):.1f} (fp32) / {g.get("gemv_int8_gmacs", 0):.1f} (int8) '
                      f'GMAC/s here, so a batch-1 RNN cannot reach this floor.')
        floor_section = f'<h2>Latency as a multiple of the FLOP floor</h2><p class="note">{_e(floor_note)}</p>{hbar_svg(floor_items, "x", log_from=1)}'
    else:
        floor_section = ('<h2>Latency as a multiple of the FLOP floor</h2><p class="muted">Not computed for this run: '
                         '<code>edge_runtime.report.add_floors</code> adds it to report.json.</p>')
    timings = report.get("timings_seconds") or {}
    load = machine.get("load_avg_1min")
    facts = [("CPU", machine.get("cpu")), ("threads", machine.get("threads")), ("cores", machine.get("cores")),
             ("load average", f"{load:.1f} (1 min, when measured: other processes share these cores)" if load is not None else None),
             ("benchmark", f'{cfg.get("warmup", "?")} warm-up + {cfg.get("runs", "?")} timed runs per model'
                           f'{", interleaved round by round" if cfg.get("interleaved") else ""}; {shape}'),
             ("data", f'{data["name"]}: train {data["train"]}, dev {data["dev"]}, test {data["test"]}'),
             ("wall time", _wall(report, timings)),
             ("generated", _dt.datetime.now().strftime("%Y-%m-%d %H:%M"))]
    facts_html = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts if v is not None)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><title>{_e(title)}</title><style>{CSS}</style></head>
<body><main>
<h1>{_e(title)}</h1>
<p class="lead">Teacher vs distilled students in every exported format and precision, on {data['test']} held-out test sentences. Latency: {_e(shape)}, p50 unless said.</p>
{_cards(report, table_rows)}
<h2>Accuracy against latency</h2>
<p class="note">Every model x format x precision. The dashed staircase is the Pareto front: no other file is both faster and more accurate than a filled point.</p>
{pareto_svg(table_rows, colors)}
{_legend(colors, formats)}
{_lengths_section(report)}<h2>Latency distributions</h2>
<p class="note">Raw timed runs from bench.json. Black line: p50; red dashed: p99. The x-axis of each panel spans its own range.</p>
{_histograms(table_rows, bench, colors)}
<h2>File sizes</h2>
{hbar_svg(size_items, "MB")}
{floor_section}
{frontier_section(report["frontier"]) if report.get("frontier") else ""}
<h2>All figures</h2>
<p class="note">Click a heading to sort. x teacher = the teacher's PyTorch p50 / this p50. Agreement: same label as the teacher on the test split. max |Δlogit|: vs the file's own PyTorch source.</p>
{_table(table_rows)}
<h2>How this was measured</h2>
<dl class="facts">{facts_html}</dl>
</main><script>{JS}</script></body></html>
"""


# ---------------------------------------------------------------------------------------------- the frontier (issue #23)

#: fixed colours for the known student kinds, so a kind keeps its colour from run to run
KIND_COLORS = {"static": "#059669", "cnn": "#ea580c", "bilstm": "#2563eb", "bigru": "#0891b2", "gru": "#0891b2",
               "transformer": "#9333ea", "teacher": TEACHER_COLOR, "peer": "#db2777"}
PEER_MARKER, OURS_MARKER = "diamond", "circle"
BUDGET_TABLE = [("budget", "p50 budget", "text"), ("ship", "ship", "text"), ("accuracy", "test acc", "{:.2%}"), ("p50_ms", "p50 ms", "ms"),
                ("size_mb", "size MB", "{:.2f}"), ("x_teacher_int8", "x teacher int8", "times")]
FRONTIER_TABLE = [("name", "name", None), ("kind", "kind", None), ("format", "format", None), ("precision", "prec.", None),
                  ("training", "training", "text"), ("origin", "ours / peer", "text"), ("accuracy", "test acc", "{:.2%}"),
                  ("p50_ms", "p50 ms (seq 64)", "ms"), ("p50_ms_median", "p50 ms (median length)", "ms"), ("size_mb", "size MB", "{:.2f}"),
                  ("x_teacher_torch", "x teacher torch", "times"), ("x_teacher_int8", "x teacher int8", "times"),
                  ("front", "on the front of", "text")]


def _kind_colors(frontier_rows: list[dict]) -> dict[str, str]:
    colors, k = {}, 0
    for r in frontier_rows:
        kind = str(r.get("kind"))
        if kind not in colors:
            if kind in KIND_COLORS:
                colors[kind] = KIND_COLORS[kind]
            else:
                free = [c for c in PALETTE if c not in KIND_COLORS.values()] or PALETTE
                colors[kind] = free[k % len(free)]
                k += 1
    return colors


def _frontier_points(frontier_rows: list[dict], x_key: str, colors: dict[str, str]) -> list[dict]:
    points = []
    for r in frontier_rows:
        x, acc = r.get(x_key), r.get("accuracy")
        if x is None or acc is None:
            continue
        size = f' · {r["size_mb"]:.2f} MB' if r.get("size_mb") is not None else ""
        speed = f' · {_times(r["x_teacher_int8"])} the teacher int8' if r.get("x_teacher_int8") else ""
        points.append({"x": x, "y": acc, "color": colors[str(r.get("kind"))], "shape": PEER_MARKER if r.get("peer") else OURS_MARKER,
                       "key": f'frontier:{r["name"]}', "label": str(r["name"]),
                       "tip": (f'{r["name"]} · {r.get("kind")} · {r.get("format", "?")} {r.get("precision", "?")}{" · peer" if r.get("peer") else ""}'
                               f'\naccuracy {acc:.2%} · p50 {_ms(r.get("p50_ms"))} ms{size}{speed}'
                               f'{" · " + str(r["training"]) if r.get("training") else ""}')})
    return points


def _frontier_legend(colors: dict[str, str], has_peers: bool) -> str:
    parts = [f'<span><svg viewBox="0 0 14 14"><rect x="1" y="1" width="12" height="12" rx="2" fill="{c}"/></svg>{_e(k)}</span>' for k, c in colors.items()]
    parts.append(f'<span><svg viewBox="0 0 14 14">{_marker(OURS_MARKER, 7, 7, 4.5, "#374151", False)}</svg>ours</span>')
    if has_peers:
        parts.append(f'<span><svg viewBox="0 0 14 14">{_marker(PEER_MARKER, 7, 7, 4.5, "#374151", False)}</svg>peer (another library)</span>')
    parts.append('<span><svg viewBox="0 0 14 14"><circle cx="7" cy="7" r="4.5" fill="#374151"/></svg>filled: on the Pareto front</span>')
    parts.append('<span><svg viewBox="0 0 14 14"><line x1="0" x2="14" y1="7" y2="7" class="ref"/></svg>teacher</span>')
    return '<div class="legend">' + "".join(parts) + "</div>"


def _budget_text(b: dict, row: dict | None) -> str:
    if not b.get("ship"):
        return f'under {_num(b["ms"])} ms: nothing measured runs this fast'
    acc = f' at {b["accuracy"]:.1%}' if b.get("accuracy") is not None else ""
    return f'under {_num(b["ms"])} ms ship {b["ship"]}{acc}' + (f' ({_ms(row["p50_ms"])} ms, {row["size_mb"]:.2f} MB)' if row else "")


def _budget_table(budgets: list[dict], by_name: dict[str, dict]) -> str:
    if not budgets:
        return '<p class="muted">No latency budgets in this frontier.</p>'
    body = []
    for b in budgets:
        row = by_name.get(b.get("ship")) if b.get("ship") else None
        acc = b.get("accuracy") if b.get("accuracy") is not None else (row or {}).get("accuracy")
        cells = [f'<td class="t">&le; {_e(_num(b["ms"]))} ms</td>']
        if row is None and not b.get("ship"):
            cells.append(f'<td class="t none" colspan="{len(BUDGET_TABLE) - 1}">nothing measured runs this fast</td>')
        else:
            cells.append(f'<td class="t"><b>{_e(b["ship"])}</b></td>')
            cells.append(f'<td>{acc:.2%}</td>' if acc is not None else "<td>-</td>")
            for key, _, pat in BUDGET_TABLE[3:]:
                v = (row or {}).get(key)
                text = "-" if v is None else _ms(v) if pat == "ms" else _times(v) if pat == "times" else pat.format(v)
                cells.append(f"<td>{_e(text)}</td>")
        key = f' data-key="frontier:{_e(b["ship"])}"' if b.get("ship") else ""
        body.append(f'<tr{key} title="{_e(_budget_text(b, row))}">{"".join(cells)}</tr>')
    head = "".join(f'<th scope="col"{" class=t" if pat == "text" else ""}>{_e(t)}</th>' for _, t, pat in BUDGET_TABLE)
    return (f'<div class="tablewrap"><table id="frontier-budgets" class="budgets"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def frontier_section(frontier: dict) -> str:
    """The frontier's part of a page: two plots (accuracy vs p50 latency, vs size), the budget table, the full table."""
    check_frontier(frontier)
    frontier_rows = frontier["rows"]
    teacher = frontier["teacher"]
    colors = _kind_colors(frontier_rows)
    t_acc = teacher.get("accuracy")
    hline = ((t_acc, f'{teacher.get("name", "teacher")} {t_acc:.1%}'),)
    vlines = tuple((teacher.get(k), f"teacher {label} {_ms(teacher.get(k))} ms") for k, label in (("p50_ms_torch", "torch"), ("p50_ms_int8", "int8"))
                   if teacher.get(k))
    lat = front_plot_svg(_frontier_points(frontier_rows, "p50_ms", colors), svg_id="frontier-latency", aria="accuracy against p50 latency, every student kind",
                         x_title="p50 latency, ms, seq 64 (log scale; left is faster)", hlines=hline, vlines=vlines,
                         empty="No frontier rows with both a latency and an accuracy.")
    size = front_plot_svg(_frontier_points(frontier_rows, "size_mb", colors), svg_id="frontier-size", aria="accuracy against file size, every student kind",
                          x_title="file size, MB (log scale; left is smaller)", hlines=hline,
                          empty="No frontier rows with both a size and an accuracy.")
    fronts = {"latency": set(pareto_rows(frontier_rows, "p50_ms")), "size": set(pareto_rows(frontier_rows, "size_mb"))}
    table_rows = [{**r, "key": f'frontier:{r["name"]}', "is_teacher": r.get("kind") == "teacher", "origin": "peer" if r.get("peer") else "ours",
                   "front": ", ".join(k for k, names in fronts.items() if r["name"] in names) or None} for r in frontier_rows]
    by_name = {r["name"]: r for r in frontier_rows}
    t_lat = ", ".join(f"{label} {_ms(teacher.get(k))} ms" for k, label in (("p50_ms_torch", "PyTorch"), ("p50_ms_int8", "ONNX int8")) if teacher.get(k))
    return f"""<h2>Accuracy against latency, every student kind</h2>
<p class="note">{_e(frontier.get("setup", ""))}. Colour: student kind; diamond: a peer library's model. The dashed staircase is the Pareto front
(filled points): nothing else is both faster and more accurate. Dotted: the teacher ({_e(f"{t_acc:.2%}")}{_e("; " + t_lat if t_lat else "")}).</p>
{lat}
<h2>Accuracy against size</h2>
<p class="note">The same rows against file size; the front here is the smallest file for its accuracy.</p>
{size}
{_frontier_legend(colors, any(r.get("peer") for r in frontier_rows))}
<h2>What to ship under a latency budget</h2>
<p class="note">For each p50 budget (batch 1, seq 64), the most accurate row that runs within it; ties go to the faster.</p>
{_budget_table(frontier.get("budgets") or [], by_name)}
<h2>Every frontier row</h2>
<p class="note">Click a heading to sort. x teacher = the teacher's p50 (PyTorch, or its ONNX int8) / this p50. p50 at the median length: the data's median
token count instead of 64.</p>
{_table(table_rows, FRONTIER_TABLE, "frontier-rows")}"""


def render_frontier_html(frontier: dict) -> str:
    """frontier.json (see `edge_runtime.frontier`) -> one self-contained page: the two plots, the budget table, the full table.

    >>> open("frontier.html", "w").write(render_frontier_html(json.load(open("benchmarks/results/frontier.json"))))  # doctest: +SKIP
    """
    check_frontier(frontier)
    title = frontier["title"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><title>{_e(title)}</title><style>{CSS}</style></head>
<body><main>
<h1>{_e(title)}</h1>
<p class="lead">{_e(frontier["setup"])}</p>
{frontier_section(frontier)}
</main><script>{JS}</script></body></html>
"""
