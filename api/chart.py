"""A bar chart of counts per hour, as inline SVG rendered on the server.

No script and no style sheet needed (colours are presentation attributes, which the page's
Content-Security-Policy allows); the SVG scales with its box (viewBox). For screen readers it
is one image (role="img") named by its title, described by its <desc>; every bar carries its
own <title> (a tooltip), and the page puts the same figures in a table beside it.

    chart = hourly_bars(hours, [Series("pushes", "Pushes", "#0b6bcb", counts), ...],
                        title="…", description="…", chart_id="activity")
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from markupsafe import Markup

LABEL_EVERY_HOURS = 6
MIN_BAR_PX = 1.0  # a non-zero hour stays visible beside a huge one
AXIS_COLOR = "#5d6678"
GRID_COLOR = "#dde1e8"


@dataclass(frozen=True)
class Series:
    name: str                # a CSS-safe word, the bars' class
    label: str               # what the legend and tooltips call it
    color: str
    values: Sequence[int]


@dataclass(frozen=True)
class Layout:
    width: int = 960
    height: int = 260
    left: int = 56           # room for the y axis's labels
    right: int = 12
    top: int = 28            # room for the legend
    bottom: int = 44         # room for the hours and dates

    @property
    def plot_width(self) -> float:
        return float(self.width - self.left - self.right)

    @property
    def plot_height(self) -> float:
        return float(self.height - self.top - self.bottom)


def nice_step(raw: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, … at least `raw` (and at least 1)."""
    if raw <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= raw:
            return int(factor * magnitude)
    return int(10 * magnitude)  # pragma: no cover - the loop always returns


def y_ticks(largest: int, steps: int = 4) -> list[int]:
    """Round values from 0 to at least `largest`, about `steps` apart."""
    step = nice_step(largest / steps)
    top = max(step, math.ceil(largest / step) * step)
    return list(range(0, top + 1, step))


def hourly_bars(hours: Sequence[datetime], series: Sequence[Series], *, title: str,
                description: str, chart_id: str, layout: Layout = Layout()) -> Markup:
    """The SVG: one group of bars per hour (a bar per series), y axis from 0, hours below."""
    for s in series:
        if len(s.values) != len(hours):
            raise ValueError(f"series {s.name} has {len(s.values)} values for {len(hours)} hours")
    ticks = y_ticks(max((v for s in series for v in s.values), default=0))
    scale = layout.plot_height / ticks[-1]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{_attr(chart_id)}"'
        f' viewBox="0 0 {layout.width} {layout.height}" role="img"'
        f' aria-label="{_attr(title)}" aria-describedby="{_attr(chart_id)}-desc"'
        ' preserveAspectRatio="xMidYMid meet" font-family="system-ui, sans-serif">',
        f'<title id="{_attr(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{_attr(chart_id)}-desc">{escape(description)}</desc>',
        *_y_axis(ticks, scale, layout),
        *_bars(hours, series, scale, layout),
        *_x_axis(hours, layout),
        *_legend(series, layout),
        "</svg>",
    ]
    # Every text and attribute value above went through escape().
    return Markup("\n".join(parts))  # noqa: S704


def _y_axis(ticks: list[int], scale: float, layout: Layout) -> list[str]:
    out = ['<g class="axis y-axis">']
    for tick in ticks:
        y = _num(layout.top + layout.plot_height - tick * scale)
        out.append(f'<line x1="{layout.left}" x2="{layout.width - layout.right}" y1="{y}"'
                   f' y2="{y}" stroke="{GRID_COLOR if tick else AXIS_COLOR}"/>')
        out.append(f'<text class="tick" x="{layout.left - 6}" y="{y}" text-anchor="end"'
                   f' dominant-baseline="middle" font-size="11" fill="{AXIS_COLOR}">'
                   f"{tick:,}</text>")
    out.append("</g>")
    return out


def _bars(hours: Sequence[datetime], series: Sequence[Series], scale: float,
          layout: Layout) -> list[str]:
    slot = layout.plot_width / max(len(hours), 1)
    bar = max(slot * 0.8 / max(len(series), 1), 1.0)
    baseline = layout.top + layout.plot_height
    out = []
    for index, s in enumerate(series):
        out.append(f'<g class="bars {_attr(s.name)}" fill="{_attr(s.color)}">')
        for n, (hour, value) in enumerate(zip(hours, s.values, strict=True)):
            if value <= 0:
                continue
            height = max(value * scale, MIN_BAR_PX)
            x = layout.left + n * slot + slot * 0.1 + index * bar
            out.append(
                f'<rect class="bar {_attr(s.name)}" data-hour="{hour.isoformat()}"'
                f' data-value="{value}" x="{_num(x)}" y="{_num(baseline - height)}"'
                f' width="{_num(bar)}" height="{_num(height)}">'
                f"<title>{escape(_hour_label(hour))}: {value:,} {escape(s.label.lower())}"
                "</title></rect>")
        out.append("</g>")
    return out


def _x_axis(hours: Sequence[datetime], layout: Layout) -> list[str]:
    slot = layout.plot_width / max(len(hours), 1)
    baseline = layout.top + layout.plot_height
    out = ['<g class="axis x-axis">']
    for n, hour in enumerate(hours):
        hour = _utc(hour)
        if hour.hour % LABEL_EVERY_HOURS:
            continue
        x = _num(layout.left + n * slot + slot / 2)
        out.append(f'<line x1="{x}" x2="{x}" y1="{_num(baseline)}" y2="{_num(baseline + 4)}"'
                   f' stroke="{AXIS_COLOR}"/>')
        out.append(f'<text class="hour" x="{x}" y="{_num(baseline + 16)}" text-anchor="middle"'
                   f' font-size="11" fill="{AXIS_COLOR}">{hour:%H:%M}</text>')
        if hour.hour == 0:
            out.append(f'<text class="date" x="{x}" y="{_num(baseline + 31)}"'
                       f' text-anchor="middle" font-size="11" font-weight="600"'
                       f' fill="{AXIS_COLOR}">{hour:%d %b}</text>')
    out.append("</g>")
    return out


def _legend(series: Sequence[Series], layout: Layout) -> list[str]:
    out = ['<g class="legend">']
    x = layout.left
    for s in series:
        out.append(f'<rect x="{x}" y="6" width="12" height="12" fill="{_attr(s.color)}"/>')
        out.append(f'<text x="{x + 17}" y="16" font-size="12" fill="#1d2433">'
                   f"{escape(s.label)}</text>")
        x += 30 + 8 * len(s.label)
    out.append("</g>")
    return out


def _hour_label(hour: datetime) -> str:
    return f"{_utc(hour):%d %b %H:%M} UTC"


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment


def _attr(value: str) -> str:
    return escape(value, quote=True)


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")
