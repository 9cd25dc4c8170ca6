"""Every name a caller may use, written once: modes, formats, channels, sizes and pipelines.

The engine's own modules and the Django side read these lists; nothing else spells them out.
:func:`validate_pipeline` is the one check of a pipeline name (``Options`` uses it, and so can a
settings check or a form). The pipelines themselves are built in :mod:`.pipelines`, which checks
at import that it defines exactly :data:`PIPELINE_NAMES`.
"""

from __future__ import annotations

from .errors import InvalidOption

MODES = ("transparent", "mask", "background", "crop", "shadow")
FORMATS = ("png", "jpeg", "webp", "avif", "zip")
# Every spelling a caller may send, mapped to the one the engine uses further on.
FORMAT_ALIASES = {
    "png": "png",
    "jpg": "jpeg",
    "jpeg": "jpeg",
    "webp": "webp",
    "avif": "avif",
    "zip": "zip",
}
CHANNELS = ("rgba", "rgb", "alpha")
SIZES = {"preview": 256, "small": 512, "medium": 1024, "large": 2048, "full": 0}
MIN_SIZE_PX = 32
MAX_SIZE_PX = 10_000
# A size may also be a pixel budget ("0.25mp", "1.5mp"): the output keeps its aspect ratio and
# has at most that many megapixels (remove.bg's and Photoroom's sizes are written this way).
MIN_SIZE_MP = 0.01
MAX_SIZE_MP = 100.0
# A preview is an output that the size option alone bounds to this many pixels, whatever the
# input: size=preview, a longest side of at most PREVIEW_MAX_SIDE px, or at most 0.25 MP.
PREVIEW_MAX_PIXELS = 250_000
PREVIEW_MAX_SIDE = 500
# Shadow styles for mode=shadow: natural (a contact shadow at the base plus a soft drop
# shadow), drop (the offset drop shadow only, at full strength), contact (the base only).
SHADOW_TYPES = ("natural", "drop", "contact")

PIPELINE_NAMES = ("fast", "balanced", "best")
DEFAULT_PIPELINE = "best"


def validate_pipeline(name: object, *, field: str = "pipeline") -> str:
    """``name`` as a known pipeline name (trimmed, lower case), else :class:`InvalidOption`.

    ``field`` is the option (or setting) the error names, e.g. ``CUTOUT_DEFAULT_PIPELINE``.
    """
    pipeline = str(name).strip().lower()
    if pipeline not in PIPELINE_NAMES:
        raise InvalidOption(
            f"{field}={name!r} is unknown: use one of {', '.join(PIPELINE_NAMES)}",
            field=field,
        )
    return pipeline
