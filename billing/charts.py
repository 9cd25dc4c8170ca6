"""A small server-rendered SVG bar chart (no JavaScript, nothing fetched from elsewhere)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

TICKS = 4


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


def bar_chart(
    points: Sequence[tuple[date, int]],
    *,
    title: str = "Credits used per day",
    width: int = 720,
    height: int = 220,
) -> SafeString:
    """An accessible SVG bar chart of ``(day, value)`` points."""
    left, right, top, bottom = 44, 10, 14, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    highest = max((v for _, v in points), default=0)
    step = _nice_step(-(-highest // TICKS))  # whole-number ticks: credits are integers
    top_value = step * TICKS
    n = max(len(points), 1)
    slot = plot_w / n
    bar_w = max(slot * 0.72, 1.0)
    total = sum(v for _, v in points)
    first = points[0][0].isoformat() if points else ""
    last = points[-1][0].isoformat() if points else ""
    parts = [
        f'<svg class="usage-chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMidYMid meet" '
        f'xmlns="http://www.w3.org/2000/svg" aria-labelledby="chart-title chart-desc">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{total} credits from {first} to {last}; '
        f"busiest day {highest}.</desc>",
        '<g font-family="system-ui, sans-serif" font-size="11" fill="#555">',
    ]
    for i in range(TICKS + 1):  # horizontal grid lines with their values
        y = top + plot_h - plot_h * i / TICKS
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#ddd" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{step * i:,}</text>'
        )
    label_every = max(1, round(n / 8))
    for i, (day, value) in enumerate(points):
        x = left + slot * i + (slot - bar_w) / 2
        h = plot_h * value / top_value
        y = top + plot_h - h
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
            f'fill="#3b6fd8" data-day="{day.isoformat()}" data-value="{value}">'
            f"<title>{day.isoformat()}: {value} credit{'' if value == 1 else 's'}</title></rect>"
        )
        if (n - 1 - i) % label_every == 0:  # counted back from the last day, which is labelled
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 16}" '
                f'text-anchor="middle">{day.strftime("%b %d")}</text>'
            )
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" '
        f'stroke="#888" stroke-width="1"/>'
    )
    parts.append("</g></svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped above
