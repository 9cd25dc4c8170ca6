"""What the settings give the engine: the default pipeline and the upload limits. (Options as
stored JSON are the engine's: ``engine.options_as_dict`` / ``engine.options_from_dict``.)"""

from __future__ import annotations

from django.conf import settings

from cutout import engine


def default_pipeline() -> str:
    """The pipeline a request that names none runs (``CUTOUT_DEFAULT_PIPELINE``)."""
    return str(getattr(settings, "CUTOUT_DEFAULT_PIPELINE", "best") or "best")


def engine_limits() -> engine.Limits:
    """What the settings allow an upload to be (bytes, pixels)."""
    return engine.Limits(
        max_bytes=int(settings.CUTOUT_MAX_UPLOAD_BYTES),
        max_pixels=int(settings.CUTOUT_MAX_PIXELS),
    )
