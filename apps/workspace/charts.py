"""Geometry of the dashboard's server-rendered SVG charts (templates/admin/fixops_dashboard/).

Only numbers come out of here: positions and sizes the templates put into SVG presentation
attributes (x, y, width, height, points); colours are CSS classes in
static/fixops/dashboard.css, so the strict CSP (no style attributes) holds and no script runs.
Every bar carries its value as text too, for screen readers and for reading without colour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BAR_HEIGHT = 18
BAR_GAP = 8
LABEL_WIDTH = 110  # room for the label left of the bars
VALUE_WIDTH = 60  # room for the value right of the longest bar
CHART_WIDTH = 420


@dataclass
class Bar:
    label: str
    value: int | float
    href: str = ""
    css: str = ""
    text: str = ""  # the value as shown
    x: float = LABEL_WIDTH
    y: float = 0
    width: float = 0
    text_x: float = 0
    text_y: float = 0


@dataclass
class BarChart:
    bars: list[Bar]
    width: int = CHART_WIDTH
    height: int = 0
    label_x: int = LABEL_WIDTH - 6


def bar_chart(bars: list[Bar], *, width: int = CHART_WIDTH) -> BarChart:
    """Horizontal bars scaled to the largest value (a zero-width bar for 0)."""
    room = width - LABEL_WIDTH - VALUE_WIDTH
    top = max((b.value or 0 for b in bars), default=0) or 1
    for i, bar in enumerate(bars):
        bar.y = i * (BAR_HEIGHT + BAR_GAP)
        bar.width = round(room * (bar.value or 0) / top, 1)
        bar.text_x = LABEL_WIDTH + bar.width + 4
        bar.text_y = bar.y + BAR_HEIGHT - 4
        bar.text = bar.text or f"{bar.value:,}"
    return BarChart(bars=bars, width=width, height=max(len(bars), 1) * (BAR_HEIGHT + BAR_GAP))


@dataclass
class Series:
    name: str
    css: str
    points: str  # SVG polyline points
    total: int


@dataclass
class LineChart:
    series: list[Series]
    width: int
    height: int
    top: int  # the y axis' maximum
    first: str  # the first and last x labels
    last: str
    ticks: list[dict[str, Any]] = field(default_factory=list)
    left: int = 40
    bottom: int = 0


def line_chart(
    rows: list[dict[str, Any]],
    keys: list[tuple[str, str, str]],
    *,
    x_key: str,
    width: int = 640,
    height: int = 180,
) -> LineChart:
    """One polyline per (key, name, css) over `rows` (oldest first), a shared y scale from 0
    to the largest value; three y ticks."""
    left, pad = 40, 10
    plot_w, plot_h = width - left - pad, height - 2 * pad - 14
    top = max((r[k] for r in rows for k, _, _ in keys), default=0) or 1
    step = plot_w / max(len(rows) - 1, 1)
    series = []
    for key, name, css in keys:
        points = " ".join(
            f"{left + i * step:.1f},{pad + plot_h - plot_h * r[key] / top:.1f}"
            for i, r in enumerate(rows)
        )
        series.append(Series(name=name, css=css, points=points, total=sum(r[key] for r in rows)))
    ticks = [
        {"value": round(top * f), "y": round(pad + plot_h - plot_h * f, 1) + 4} for f in (0, 0.5, 1)
    ]
    return LineChart(
        series=series,
        width=width,
        height=height,
        top=top,
        first=rows[0][x_key] if rows else "",
        last=rows[-1][x_key] if rows else "",
        ticks=ticks,
        left=left,
        bottom=height - 2,
    )


@dataclass
class Segment:
    css: str
    label: str
    value: int
    y: float
    height: float
    href: str


@dataclass
class Column:
    label: str
    x: float
    width: float
    total: int
    segments: list[Segment]
    title: str


@dataclass
class ColumnChart:
    columns: list[Column]
    width: int
    height: int
    top: int
    bottom: int


def stacked_columns(
    groups: list[dict[str, Any]],
    keys: list[tuple[str, str, str]],
    *,
    x_key: str,
    hrefs: dict[tuple[str, str], str],
    width: int = 640,
    height: int = 180,
) -> ColumnChart:
    """Stacked columns, one per group (a week), segments per (key, label, css), scaled to the
    largest column; `hrefs[(group x, key)]` links each segment to its list."""
    pad, axis = 10, 16
    plot_h = height - pad - axis
    top = max((sum(g[k] for k, _, _ in keys) for g in groups), default=0) or 1
    slot = (width - 2 * pad) / max(len(groups), 1)
    columns = []
    for i, group in enumerate(groups):
        y = pad + plot_h
        segments = []
        for key, label, css in keys:
            h = plot_h * group[key] / top
            y -= h
            segments.append(
                Segment(
                    css=css,
                    label=label,
                    value=group[key],
                    y=round(y, 1),
                    height=round(h, 1),
                    href=hrefs.get((group[x_key], key), ""),
                )
            )
        total = sum(s.value for s in segments)
        title = f"{group[x_key]}: " + ", ".join(f"{s.label} {s.value}" for s in segments)
        columns.append(
            Column(
                label=group[x_key],
                x=round(pad + i * slot + 1, 1),
                width=round(max(slot - 2, 1), 1),
                total=total,
                segments=segments,
                title=title,
            )
        )
    return ColumnChart(columns=columns, width=width, height=height, top=top, bottom=height - 3)
