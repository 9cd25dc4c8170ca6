"""The one usage chart: server-rendered SVG of daily bars, stacked by series.

No JavaScript and nothing fetched from elsewhere, so it works in the admin, in mails and with
scripts off. The workspace usage page stacks one series per member and API key; the billing and
staff pages draw a single series (:func:`bar_chart`). Colours and fonts are attributes, not CSS,
so the chart looks the same on every page that shows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

TICKS = 4
BAR_COLOUR = "#3b6fd8"
PALETTE = ("#4f46e5", "#0ea5e9", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#ec4899", "#64748b")


@dataclass(frozen=True)
class Series:
    """One layer of the chart: a value per day from the chart's first day."""

    key: str
    label: str
    kind: str  # what the series counts, e.g. "member" or "key"
    values: list[int]
    colour: str = BAR_COLOUR

    @property
    def total(self) -> int:
        return sum(self.values)


@dataclass(frozen=True)
class _Frame:
    width: int
    height: int
    left: int = 44
    right: int = 20  # room for the last day's label, centred on the last bar
    top: int = 14
    bottom: int = 34
    plot_w: int = field(init=False)
    plot_h: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "plot_w", self.width - self.left - self.right)
        object.__setattr__(self, "plot_h", self.height - self.top - self.bottom)


def _nice_step(value: int) -> int:
    """The smallest whole 1/2/5 x 10^n at or above ``value`` (at least 1)."""
    if value <= 1:
        return 1
    power = 1
    while True:
        for factor in (1, 2, 5):
            if power * factor >= value:
                return power * factor
        power *= 10


def _credits(value: int) -> str:
    return f"{value} credit{'' if value == 1 else 's'}"


def _grid(frame: _Frame, step: int) -> list[str]:
    """Horizontal grid lines with their (whole-number) values."""
    lines = []
    for i in range(TICKS + 1):
        y = frame.top + frame.plot_h - frame.plot_h * i / TICKS
        lines.append(
            f'<line x1="{frame.left}" x2="{frame.width - frame.right}" y1="{y:.1f}" '
            f'y2="{y:.1f}" stroke="#ddd" stroke-width="1"/>'
            f'<text x="{frame.left - 6}" y="{y + 4:.1f}" text-anchor="end">{step * i:,}</text>'
        )
    return lines


def _column(
    frame: _Frame, series: Sequence[Series], index: int, day: date, x: float, bar_w: float, top: int
) -> list[str]:
    """One day's bar: a segment per series, bottom up, each with its tooltip."""
    parts = []
    y = float(frame.top + frame.plot_h)
    for s in series:
        value = s.values[index]
        h = frame.plot_h * value / top
        y -= h
        who = f" · {escape(s.label)}" if s.label else ""
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
            f'fill="{s.colour}" data-day="{day.isoformat()}" data-series="{escape(s.key)}" '
            f'data-value="{value}"><title>{day.isoformat()}{who}: {_credits(value)}</title></rect>'
        )
    return parts


def stacked_chart(
    series: Sequence[Series],
    start: date,
    days: int,
    *,
    title: str = "Credits used per day by member and API key",
    width: int = 720,
    height: int = 220,
) -> SafeString:
    """An accessible SVG of ``days`` daily bars from ``start``, each stacking every series.

    Every series has a segment (maybe zero high) for every day, in the order given. The axis has
    five whole-number ticks that cover the busiest day; one day in about eight is labelled,
    counted back from the last day, which always is.
    """
    frame = _Frame(width, height)
    totals = [sum(s.values[i] for s in series) for i in range(days)]
    highest = max(totals, default=0)
    step = _nice_step(-(-highest // TICKS))  # whole-number ticks: credits are integers
    top_value = step * TICKS
    slot = frame.plot_w / max(days, 1)
    bar_w = max(slot * 0.72, 1.0)
    last = start + timedelta(days=max(days - 1, 0))
    parts = [
        f'<svg class="usage-chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMidYMid meet" '
        f'xmlns="http://www.w3.org/2000/svg" aria-labelledby="chart-title chart-desc">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{sum(totals)} credits from {start.isoformat()} to '
        f"{last.isoformat()}; busiest day {highest}.</desc>",
        '<g font-family="system-ui, sans-serif" font-size="11" fill="#555">',
        *_grid(frame, step),
    ]
    label_every = max(1, round(days / 8))
    for i in range(days):
        day = start + timedelta(days=i)
        x = frame.left + slot * i + (slot - bar_w) / 2
        parts += _column(frame, series, i, day, x, bar_w, top_value)
        if (days - 1 - i) % label_every == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - frame.bottom + 16}" '
                f'text-anchor="middle">{day.strftime("%b %d")}</text>'
            )
    base = frame.top + frame.plot_h
    parts.append(
        f'<line x1="{frame.left}" x2="{width - frame.right}" y1="{base}" y2="{base}" '
        f'stroke="#888" stroke-width="1"/>'
    )
    parts.append("</g></svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped above


def bar_chart(
    points: Sequence[tuple[date, int]],
    *,
    title: str = "Credits used per day",
    width: int = 720,
    height: int = 220,
) -> SafeString:
    """:func:`stacked_chart` of one series given as consecutive ``(day, value)`` points."""
    start = points[0][0] if points else date.today()
    total = Series(key="total", label="", kind="total", values=[v for _, v in points])
    return stacked_chart([total], start, len(points), title=title, width=width, height=height)
