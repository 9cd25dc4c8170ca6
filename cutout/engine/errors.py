"""Errors the engine raises for bad input, bad options and missing models.

Every error has a stable machine-readable ``code`` and a human ``message``. The web, API and CLI
layers map codes to their own dialects; they never parse messages. Subclasses may share their
parent's code when they only make the reason more specific (a truncated file is still an
``invalid_image``), so a caller can match the type for detail or the code for the category.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base class. ``code`` is stable; ``message`` is for people; ``field`` names an option."""

    code = "engine_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def as_dict(self) -> dict[str, str]:
        out = {"code": self.code, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


class InvalidImage(EngineError):
    """The bytes are not a readable image (garbage, empty, corrupt)."""

    code = "invalid_image"


class TruncatedImage(InvalidImage):
    """The file is an image whose data ends early (an interrupted upload, a partial download)."""


class UnsupportedFormat(EngineError):
    """A real image, but in a format we do not accept (PSD, ICO, SVG, HEIC, PDF, ...)."""

    code = "unsupported_format"


class ImageTooLarge(EngineError):
    """More bytes than the upload limit."""

    code = "image_too_large"


class ImageTooSmall(EngineError):
    """A side shorter than the minimum (32 px by default)."""

    code = "image_too_small"


class TooManyPixels(EngineError):
    """Width x height above the pixel limit."""

    code = "too_many_pixels"


class DecompressionBomb(TooManyPixels):
    """A small file that claims a huge canvas; refused before any pixel is decoded."""


class InvalidOption(EngineError):
    """An option value the engine cannot honour; ``field`` names the option."""

    code = "invalid_option"


class ModelMissing(EngineError):
    """A model file is absent or does not match its recorded sha256."""

    code = "model_missing"


class NoForeground(EngineError):
    """The matte found no subject (a blank wall, a solid colour): nothing to cut out.

    Judged from the matte by :func:`cutout.engine.require_foreground`; callers refuse the image
    (remove.bg's ``unknown_foreground``) rather than return an empty picture and charge for it.
    """

    code = "unknown_foreground"


class ProviderUnavailable(ModelMissing):
    """``CUTOUT_ORT_PROVIDERS`` asks for an execution provider (a GPU) that cannot run here.

    Raised instead of running on the CPU without saying so: a service configured for a GPU and
    silently ten times slower is worse than one that refuses to start. Means what
    ``model_missing`` means to callers (the service cannot process images)."""

    code = "provider_unavailable"
