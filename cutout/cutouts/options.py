"""Engine options as the JSON stored on a cutout or job, and the limits the settings allow."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from django.conf import settings

from cutout import engine

OPTION_FIELDS = (
    "mode",
    "format",
    "channels",
    "bg_color",
    "size",
    "crop",
    "crop_margin",
    "shadow_opacity",
    "shadow_blur",
    "shadow_offset_x",
    "shadow_offset_y",
    "pipeline",
)


def default_pipeline() -> str:
    """The pipeline a request that names none runs (``CUTOUT_DEFAULT_PIPELINE``)."""
    return str(getattr(settings, "CUTOUT_DEFAULT_PIPELINE", "best") or "best")


def engine_limits() -> engine.Limits:
    """What the settings allow an upload to be (bytes, pixels)."""
    return engine.Limits(
        max_bytes=int(settings.CUTOUT_MAX_UPLOAD_BYTES),
        max_pixels=int(settings.CUTOUT_MAX_PIXELS),
    )


def options_as_dict(options: engine.Options) -> dict[str, Any]:
    """The options as plain JSON values (what is stored on the cutout and hashed for dedup)."""
    names = {f.name for f in fields(options) if f.init}
    out: dict[str, Any] = {}
    for name in OPTION_FIELDS:
        if name in names:
            value = getattr(options, name)
            out[name] = (
                value
                if isinstance(value, bool | int | float | str) or value is None
                else str(value)
            )
    return out


def options_from_dict(data: dict[str, Any]) -> engine.Options:
    names = {f.name for f in fields(engine.Options) if f.init}
    return engine.Options(**{k: v for k, v in data.items() if k in names})
