"""Charts drawn on the server as inline SVG: no JavaScript, no CDN, nothing to install.

- ``bar_chart`` — horizontal bars with a label and a formatted value each.
- ``column_chart`` — vertical bars (histograms).
- ``line_chart`` — one line per series over time, with points, axes and a legend.
- ``lineage_graph`` — models and datasets in layers (parents above children), each node a
  link to its page, the focused one highlighted.

Every text that reaches the SVG goes through ``html.escape``; callers get a ``str`` of
markup to place in a page as is.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable, Mapping, Sequence

PALETTE = ("#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#4b5563")
_FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _empty(width: int, height: int, title: str) -> str:
    return (f'<svg class="chart" role="img" aria-label="{_e(title)}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}"><text x="{width // 2}" y="{height // 2}" text-anchor="middle" '
            f'{_FONT} fill="#6b7280">no data yet</text></svg>')


def bar_chart(
    items: Sequence[tuple[str, float]], *, title: str, fmt: Callable[[float], str] = str,
    width: int = 460, links: Sequence[str | None] | None = None,
) -> str:
    """Horizontal bars, one per ``(label, value)``."""
    if not items or all(v == 0 for _, v in items):
        return _empty(width, 60, title)
    bar, gap, value_w = 18, 8, 110
    label_w = min(width // 2, 12 + 7 * max(len(label) for label, _ in items))
    height = len(items) * (bar + gap) + gap
    top = max(v for _, v in items) or 1
    span = width - label_w - value_w
    parts = [f'<svg class="chart" role="img" aria-label="{_e(title)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">', f"<title>{_e(title)}</title>"]
    for i, (label, value) in enumerate(items):
        y = gap + i * (bar + gap)
        w = max(1.0, span * value / top) if value else 0
        text = f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" {_FONT}>{_e(label)}</text>'
        if links and links[i]:
            text = f'<a href="{_e(links[i])}">{text}</a>'
        parts += [text,
                  f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar}" rx="3" fill="{PALETTE[i % len(PALETTE)]}"/>',
                  f'<text x="{label_w + w + 6:.1f}" y="{y + 13}" {_FONT}>{_e(fmt(value))}</text>']
    parts.append("</svg>")
    return "".join(parts)


def column_chart(items: Sequence[tuple[str, float]], *, title: str, width: int = 460, height: int = 180) -> str:
    """Vertical bars, one per ``(label, value)`` (a histogram)."""
    if not items or all(v == 0 for _, v in items):
        return _empty(width, 60, title)
    pad_l, pad_b, pad_t = 30, 34, 16
    slot = (width - pad_l) / len(items)
    top = max(v for _, v in items) or 1
    plot_h = height - pad_b - pad_t
    parts = [f'<svg class="chart" role="img" aria-label="{_e(title)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">', f"<title>{_e(title)}</title>",
             f'<line x1="{pad_l}" y1="{height - pad_b}" x2="{width}" y2="{height - pad_b}" stroke="#9ca3af"/>']
    for i, (label, value) in enumerate(items):
        h = plot_h * value / top
        x = pad_l + i * slot + slot * 0.15
        y = height - pad_b - h
        parts += [f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" rx="2" fill="{PALETTE[0]}"/>',
                  f'<text x="{x + slot * 0.35:.1f}" y="{y - 3:.1f}" text-anchor="middle" {_FONT}>{_e(f"{value:g}")}</text>',
                  f'<text x="{x + slot * 0.35:.1f}" y="{height - pad_b + 16}" text-anchor="middle" {_FONT}>{_e(label)}</text>']
    parts.append("</svg>")
    return "".join(parts)


def _time(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%H:%M")


def line_chart(
    series: Mapping[str, Sequence[tuple[float, float]]], *, title: str,
    fmt: Callable[[float], str] = str, width: int = 460, height: int = 220,
) -> str:
    """Lines over time: ``series`` maps a name to (unix time, value) points."""
    points = [p for pts in series.values() for p in pts]
    if not points:
        return _empty(width, 60, title)
    pad_l, pad_r, pad_t, pad_b = 70, 12, 14, 48
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y1 = max(p[1] for p in points) * 1.1 or 1
    x1 = x1 if x1 > x0 else x0 + 1

    def sx(x: float) -> float:
        return pad_l + (x - x0) / (x1 - x0) * (width - pad_l - pad_r)

    def sy(y: float) -> float:
        return height - pad_b - y / y1 * (height - pad_t - pad_b)

    parts = [f'<svg class="chart" role="img" aria-label="{_e(title)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">', f"<title>{_e(title)}</title>",
             f'<line x1="{pad_l}" y1="{height - pad_b}" x2="{width - pad_r}" y2="{height - pad_b}" stroke="#9ca3af"/>',
             f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{height - pad_b}" stroke="#9ca3af"/>']
    for frac in (0.0, 0.5, 1.0):
        value = y1 / 1.1 * frac
        parts.append(f'<text x="{pad_l - 6}" y="{sy(value) + 4:.1f}" text-anchor="end" {_FONT}>{_e(fmt(value))}</text>')
    for x, anchor in ((x0, "start"), (x1, "end")):
        parts.append(f'<text x="{sx(x):.1f}" y="{height - pad_b + 16}" text-anchor="{anchor}" {_FONT}>{_e(_time(x))}</text>')
    for i, (name, pts) in enumerate(sorted(series.items())):
        color = PALETTE[i % len(PALETTE)]
        ordered = sorted(pts)
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in ordered)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
        parts += [f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}"><title>{_e(name)}: {_e(fmt(y))}</title></circle>'
                  for x, y in ordered]
        lx = pad_l + (i % 4) * 95
        ly = height - 12 - (i // 4) * 14
        parts.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{color}"/>'
                     f'<text x="{lx + 14}" y="{ly}" {_FONT}>{_e(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def lineage_graph(
    nodes: Sequence[tuple[str, str, str]], edges: Sequence[tuple[str, str]], *, focus: str,
    link: Callable[[str], str], width: int = 720,
) -> str:
    """A layered graph of ``nodes`` ((id, label, kind)) and ``edges`` ((parent, child))."""
    if not nodes:
        return _empty(width, 60, "lineage")
    ids = [n[0] for n in nodes]
    parents: dict[str, list[str]] = {i: [] for i in ids}
    for parent, child in edges:
        if child in parents and parent in parents:
            parents[child].append(parent)
    layer: dict[str, int] = {}

    def depth(node: str, trail: frozenset[str] = frozenset()) -> int:
        if node not in layer:
            ups = [p for p in parents[node] if p not in trail]
            layer[node] = 1 + max((depth(p, trail | {node}) for p in ups), default=-1)
        return layer[node]

    for node in ids:
        depth(node)
    rows: dict[int, list[tuple[str, str, str]]] = {}
    for item in nodes:
        rows.setdefault(layer[item[0]], []).append(item)
    box_w, box_h, row_h = 200, 40, 90
    height = len(rows) * row_h + 20
    # Each node sits under the mean of its parents (the barycentre heuristic), then a row is
    # pushed apart to keep boxes from overlapping and clamped inside the picture.
    where: dict[str, tuple[float, float]] = {}
    for level in sorted(rows):
        members = rows[level]
        slot = width / len(members)
        wanted = []
        for j, (node_id, _, _) in enumerate(members):
            ups = [where[p][0] for p in parents[node_id] if p in where]
            wanted.append((sum(ups) / len(ups) if ups else slot * j + slot / 2, node_id))
        wanted.sort()
        xs: list[float] = []
        for x, _ in wanted:
            xs.append(max(x, xs[-1] + box_w + 16) if xs else x)
        shift = max(0.0, xs[-1] - (width - box_w / 2 - 4)) if xs else 0.0
        xs = [x - shift for x in xs]
        for i in range(len(xs)):
            xs[i] = max(xs[i], box_w / 2 + 4, xs[i - 1] + box_w + 16 if i else 0.0)
        for x, (_, node_id) in zip(xs, wanted, strict=True):
            where[node_id] = (x, 20 + level * row_h)
    parts = [f'<svg class="chart lineage" role="img" aria-label="lineage graph" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}"><title>lineage</title>',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
             'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#6b7280"/></marker></defs>']
    for parent, child in edges:
        if parent in where and child in where:
            (px, py), (cx, cy) = where[parent], where[child]
            parts.append(f'<line x1="{px:.1f}" y1="{py + box_h:.1f}" x2="{cx:.1f}" y2="{cy:.1f}" '
                         'stroke="#6b7280" stroke-width="1.5" marker-end="url(#arrow)"/>')
    for node_id, label, kind in nodes:
        x, y = where[node_id]
        fill = {"model": "#dbeafe", "dataset": "#dcfce7"}.get(kind, "#f3f4f6")
        stroke = "#1d4ed8" if node_id == focus else "#9ca3af"
        parts.append(
            f'<a href="{_e(link(node_id))}"><rect x="{x - box_w / 2:.1f}" y="{y:.1f}" width="{box_w}" '
            f'height="{box_h}" rx="6" fill="{fill}" stroke="{stroke}" stroke-width="{3 if node_id == focus else 1}"/>'
            f'<text x="{x:.1f}" y="{y + 16:.1f}" text-anchor="middle" {_FONT} font-weight="600">{_e(kind)}</text>'
            f'<text x="{x:.1f}" y="{y + 31:.1f}" text-anchor="middle" {_FONT}>{_e(label)}</text></a>'
        )
    parts.append("</svg>")
    return "".join(parts)
