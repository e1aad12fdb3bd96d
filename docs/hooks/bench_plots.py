"""MkDocs hook: the benches' series drawn as plots, from the files the benches wrote.

A line ``<!-- plot: device_bench latency -->`` in a page becomes, at ``mkdocs build``, an
inline SVG plot of the series ``latency`` that ``bench/device_bench.py`` recorded in
``bench/results/device_bench.json`` (``Report.series`` in ``bench/report.py``). While that file,
or that series, is missing, the page shows a note with the command that records it. A marker
naming no bench fails the strict build, as the tables' markers do.

The plot is drawn here, in plain Python: a few polylines, axes with round ticks, a legend.
It is inline SVG, not an image file, so that it takes the theme's colours: its parts have
classes that ``docs/stylesheets/extra.css`` paints with Material's CSS custom properties
(``--md-typeset-a-color``, the primary colour as each scheme makes it readable, for what is
measured; ``--md-code-hl-number-color`` for its floor; ``--md-default-fg-color--light`` for
axes and text). Light and dark schemes both work, and
the text stays text (searchable, readable by a screen reader from its title and description).
Without that stylesheet, everything is drawn in the text's colour.
"""

from __future__ import annotations

import html
import json
import logging
import math
import re
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.plugins.bench_plots")  # warnings fail mkdocs --strict

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"
RESULTS = BENCH / "results"
MARKER = re.compile(r"^<!-- plot: (?P<bench>\S+) (?P<key>\S+) -->$", re.MULTILINE)

# The drawing, in SVG user units (the SVG scales to the page's width).
WIDTH, PLOT_HEIGHT = 680, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 20, 12, 44
LEGEND_ROW, CHAR_WIDTH, SWATCH = 18, 5.8, 22
MARKERS_UP_TO = 60  # lines with this many points or fewer show each point
ROLES = ("subject", "floor", "part", "reference")


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    return MARKER.sub(lambda m: plot(m["bench"], m["key"], page.file.src_uri), markdown)


def plot(bench: str, key: str, page: str) -> str:
    """The marker's replacement: a figure, a note saying how to record it, or (a marker
    naming no bench) nothing and a warning."""
    if not (BENCH / f"{bench}.py").is_file():
        log.warning("%s: <!-- plot: %s %s --> names no bench/%s.py", page, bench, key, bench)
        return ""
    path = RESULTS / f"{bench}.json"
    series = json.loads(path.read_text()).get("series", {}) if path.is_file() else {}
    if key not in series:
        held = f"`bench/results/{bench}.json` has no `{key}` series yet" if path.is_file() else (
            f"there is no `bench/results/{bench}.json` yet"
        )
        return (
            '!!! note "No plot yet"\n'
            f"    This plot is drawn from a bench's file, and {held}.\n"
            f"    `.venv/bin/python bench/{bench}.py` records it.\n"
        )
    return figure(f"{bench}-{key}", series[key])


def figure(ident: str, series: dict[str, Any]) -> str:
    caption = html.escape(series["title"])
    return (
        f'<figure class="bench-plot" id="plot-{ident}">\n{svg(ident, series)}\n'
        f"<figcaption>{caption}</figcaption>\n</figure>\n"
    )


def svg(ident: str, series: dict[str, Any]) -> str:
    """One plot of ``series`` (the form ``Report.series`` writes) as an SVG element, on one
    line per element and no blank line, so that Markdown passes it through untouched."""
    lines = [line for line in series["lines"] if line["points"]]
    x_axis, y_axis = series["x"], series["y"]
    xs = [p[0] for line in lines for p in line["points"]] + [m["x"] for m in series["marks"]]
    ys = [p[1] for line in lines for p in line["points"]]
    x_ticks, y_ticks = ticks(xs), ticks(ys)
    legend_rows = _legend_rows(lines)
    top = TOP + LEGEND_ROW * len(legend_rows)
    height = top + PLOT_HEIGHT + BOTTOM
    inner_width = WIDTH - LEFT - RIGHT

    def sx(x: float) -> float:
        return LEFT + (x - x_ticks[0]) / (x_ticks[-1] - x_ticks[0]) * inner_width

    def sy(y: float) -> float:
        return top + PLOT_HEIGHT - (y - y_ticks[0]) / (y_ticks[-1] - y_ticks[0]) * PLOT_HEIGHT

    classes = _classes(lines)
    title = html.escape(series["title"])
    described = "; ".join(_described(line, x_axis, y_axis) for line in lines)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc" class="bench-plot-svg" '
        'font-size="11" fill="currentColor">',
        f'<title id="{ident}-title">{title}</title>',
        f'<desc id="{ident}-desc">{html.escape(described)}</desc>',
    ]
    x_decimals, y_decimals = _decimals(x_ticks), _decimals(y_ticks)
    bottom = top + PLOT_HEIGHT
    for tick in y_ticks:
        y = sy(tick)
        out.append(
            f'<line class="plot-grid" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" '
            f'y2="{y:.1f}" stroke="currentColor" stroke-opacity="0.15"/>'
        )
        out.append(
            f'<text class="plot-text" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{tick:,.{y_decimals}f}</text>"
        )
    for tick in x_ticks:
        x = sx(tick)
        out.append(
            f'<line class="plot-axis" x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" '
            'stroke="currentColor"/>'
        )
        out.append(
            f'<text class="plot-text" x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">'
            f"{tick:,.{x_decimals}f}</text>"
        )
    out.append(
        f'<path class="plot-axis" d="M{LEFT},{top} V{bottom} H{WIDTH - RIGHT}" fill="none" '
        'stroke="currentColor"/>'
    )
    out.append(
        f'<text class="plot-text plot-label" x="{LEFT + inner_width / 2:.1f}" '
        f'y="{bottom + 36}" text-anchor="middle">{_label(x_axis)}</text>'
    )
    middle = top + PLOT_HEIGHT / 2
    out.append(
        f'<text class="plot-text plot-label" x="14" y="{middle:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {middle:.1f})">{_label(y_axis)}</text>'
    )
    for mark in series["marks"]:
        x = sx(mark["x"])
        out.append(
            f'<line class="plot-mark" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" '
            'stroke="currentColor" stroke-dasharray="4 3"/>'
        )
        out.append(
            f'<text class="plot-text" x="{x + 4:.1f}" y="{top + 12}">'
            f"{html.escape(mark['label'])}</text>"
        )
    # Parts and references first, what is measured last: on top.
    for line in sorted(lines, key=lambda line: ROLES.index(line["role"]), reverse=True):
        role = line["role"]
        points = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in line["points"])
        out.append(
            f'<polyline class="{classes[id(line)]}" points="{points}" fill="none" '
            f'stroke="currentColor"><title>{html.escape(line["name"])}</title></polyline>'
        )
        if len(line["points"]) <= MARKERS_UP_TO and role in ("subject", "floor"):
            out.extend(
                f'<circle class="plot-point plot-{role}" cx="{sx(x):.1f}" cy="{sy(y):.1f}" '
                'r="2.5"/>'
                for x, y in line["points"]
            )
    for row, items in enumerate(legend_rows):
        y = TOP + row * LEGEND_ROW + 8
        for x, line in items:
            out.append(
                f'<line class="{classes[id(line)]}" x1="{x}" y1="{y}" '
                f'x2="{x + SWATCH - 6}" y2="{y}" stroke="currentColor"/>'
            )
            out.append(
                f'<text class="plot-text" x="{x + SWATCH}" y="{y + 4}">'
                f"{html.escape(line['name'])}</text>"
            )
    out.append("</svg>")
    return "\n".join(out)


def ticks(values: list[float], count: int = 5) -> list[float]:
    """Round ticks covering ``values`` from 0 (or their least, if negative): steps of 1, 2 or
    5 times a power of ten, about ``count`` of them."""
    low = min(0.0, min(values, default=0.0))
    high = max(values, default=1.0)
    if high <= low:
        high = low + 1.0
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step)
    last = math.ceil(high / step)
    return [round(i * step, 12) for i in range(first, last + 1)]


def _classes(lines: list[dict[str, Any]]) -> dict[int, str]:
    """Each line's classes: its role's, and its rank among the lines of that role (two parts
    of a floor are told apart by their dashes)."""
    seen: dict[str, int] = {}
    classes = {}
    for line in lines:
        role = line["role"]
        seen[role] = seen.get(role, 0) + 1
        classes[id(line)] = f"plot-line plot-{role} plot-{role}-{seen[role]}"
    return classes


def _decimals(ticks: list[float]) -> int:
    step = ticks[1] - ticks[0]
    return max(0, -math.floor(math.log10(step) + 1e-9))


def _label(axis: dict[str, str]) -> str:
    unit = f" ({axis['unit']})" if axis["unit"] else ""
    return html.escape(axis["label"] + unit)


def _legend_rows(lines: list[dict[str, Any]]) -> list[list[tuple[float, dict[str, Any]]]]:
    """The legend's items, placed left to right and wrapped into rows."""
    rows: list[list[tuple[float, dict[str, Any]]]] = [[]]
    x = float(LEFT)
    for line in lines:
        width = SWATCH + len(line["name"]) * CHAR_WIDTH + 16
        if rows[-1] and x + width > WIDTH - RIGHT:
            rows.append([])
            x = float(LEFT)
        rows[-1].append((x, line))
        x += width
    return rows


def _described(line: dict[str, Any], x_axis: dict[str, str], y_axis: dict[str, str]) -> str:
    """A line in words, for the SVG's description: its name and its range."""
    xs = [p[0] for p in line["points"]]
    ys = [p[1] for p in line["points"]]
    return (
        f"{line['name']} ({line['role']}): {len(xs)} points, {x_axis['label']} "
        f"{min(xs):g} to {max(xs):g} {x_axis['unit']}, {y_axis['label']} {min(ys):g} to "
        f"{max(ys):g} {y_axis['unit']}"
    )
