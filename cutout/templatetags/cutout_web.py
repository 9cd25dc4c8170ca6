"""Small display filters for the web app's templates."""

from __future__ import annotations

from typing import Any

from django import template

from cutout.web.forms import BACKGROUND_STYLES, FORMAT_LABELS, STYLE_CHOICES, style_of

register = template.Library()

_STYLES = dict((*STYLE_CHOICES, *BACKGROUND_STYLES))


@register.filter
def style_label(style: str) -> str:
    """``"color"`` -> ``"Colour"``."""
    return _STYLES.get(style, str(style).title())


@register.filter
def style_name(options: dict[str, Any] | None) -> str:
    """The page's name for stored engine options (``{"mode": "background", ...}`` -> White)."""
    return style_label(style_of(options or {}))


@register.filter
def format_label(fmt: str | None) -> str:
    return FORMAT_LABELS.get(str(fmt or ""), str(fmt or "").upper())


@register.filter
def seconds(ms: int | None) -> str:
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms} ms"
    return f"{ms / 1000:.1f} s"


@register.filter
def percent(value: float | None) -> str:
    try:
        return f"{float(value or 0) * 100:.0f}%"
    except (TypeError, ValueError):
        return "—"
