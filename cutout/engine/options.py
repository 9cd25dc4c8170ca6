"""What the caller asks for (:class:`Options`); :class:`Limits` (what the service allows) is in
:mod:`.limits` and re-exported here.

Options are validated when they are built, so a bad value fails before any pixel is decoded or
any credit is spent. Values are normalised on the way in (``"jpg"`` becomes ``"jpeg"``, ``"crop"``
mode becomes ``transparent`` plus ``crop=True``), so code further on sees one spelling only.
The names an option may take live in :mod:`.names`; what each option is, for forms and API
schemas, in :mod:`.optionspec`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import InvalidOption
from .limits import Limits
from .names import (
    CHANNELS,
    FORMAT_ALIASES,
    FORMATS,
    MAX_SIZE_PX,
    MIN_SIZE_PX,
    MODES,
    SIZES,
    validate_pipeline,
)
from .values import Color, Length, parse_color, parse_length, parse_margin

__all__ = [
    "CHANNELS",
    "FORMATS",
    "FORMAT_ALIASES",
    "MAX_SIZE_PX",
    "MIN_SIZE_PX",
    "MODES",
    "SIZES",
    "Color",
    "Length",
    "Limits",
    "Options",
    "parse_color",
    "parse_length",
    "parse_margin",
]


@dataclass(frozen=True)
class Options:
    """What to render. Build with keywords; invalid values raise :class:`InvalidOption`.

    - ``mode``: ``transparent`` (RGBA cutout), ``mask`` (8-bit alpha), ``background`` (subject on
      ``bg_color``, white by default), ``crop`` (``transparent`` + ``crop=True``), ``shadow``
      (subject with a synthesised contact and drop shadow).
    - ``format``: ``png``, ``jpeg`` (``jpg``), ``webp``, ``avif``, ``zip`` (``color.jpg`` +
      ``alpha.png`` as remove.bg does).
    - ``channels``: ``rgba``, ``rgb`` (flattened onto ``bg_color`` or white), ``alpha`` (the
      result's alpha as greyscale) or ``None`` for what suits the mode and format.
    - ``bg_color``: any colour :func:`parse_color` accepts; with ``transparent``/``crop``/
      ``shadow`` it paints behind the subject.
    - ``size``: ``preview`` (256), ``small`` (512), ``medium`` (1024), ``large`` (2048) or
      ``full``: the longest side of the output; or an int. Never upscales.
    - ``crop``: trim to the subject (plus ``crop_margin``), combinable with every mode.
    - ``shadow_opacity`` 0..1, ``shadow_blur`` and ``shadow_offset_x/y`` as lengths (px of the
      original image, or % of the subject's height).
    - ``pipeline``: ``fast``, ``balanced`` or ``best``.

    The fields' order is :data:`cutout.engine.OPTION_FIELDS`; a test keeps the two in step.
    """

    mode: str = "transparent"
    format: str = "png"
    channels: str | None = None
    bg_color: str | None = None
    size: str | int = "full"
    crop: bool = False
    crop_margin: str | int = "0"
    shadow_opacity: float = 0.5
    shadow_blur: str | int | float = "4%"
    shadow_offset_x: str | int | float = "0"
    shadow_offset_y: str | int | float = "2%"
    pipeline: str = "best"
    # Parsed forms, filled in by __post_init__.
    color: Color | None = field(default=None, init=False, compare=False, repr=False)
    margin: tuple[Length, Length, Length, Length] = field(
        default=(Length(0, "px"),) * 4, init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        self._set("mode", _mode(self.mode))
        if self.mode == "crop":
            self._set("mode", "transparent")
            self._set("crop", True)
        self._set("format", _format(self.format))
        self._set("channels", _channels(self.channels, self.mode, self.format))
        if self.bg_color is not None and self.bg_color != "":
            self._set("color", parse_color(self.bg_color))
        else:
            self._set("bg_color", None)
        self._set("size", _parse_size(self.size))
        if not isinstance(self.crop, bool):
            raise InvalidOption("crop must be true or false", field="crop")
        self._set("margin", parse_margin(self.crop_margin))
        self._set("shadow_opacity", _opacity(self.shadow_opacity))
        _check_shadow_lengths(self.shadow_blur, self.shadow_offset_x, self.shadow_offset_y)
        self._set("pipeline", validate_pipeline(self.pipeline))

    def _set(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)

    @property
    def output_channels(self) -> str:
        """The channels actually produced: ``rgba``, ``rgb`` or ``alpha``."""
        if self.channels is not None:
            return self.channels
        if self.mode == "mask":
            return "alpha"
        if self.format == "jpeg":
            return "rgb"
        if self.format == "zip":
            return "rgba"
        opaque_bg = self.color is not None and self.color[3] == 255
        if opaque_bg or (self.mode == "background" and self.color is None):
            return "rgb"
        return "rgba"

    @property
    def max_side(self) -> int:
        """Longest output side in pixels, 0 for full size."""
        size = self.size
        return SIZES[size] if isinstance(size, str) else int(size)

    def shadow_lengths(self) -> tuple[Length, Length, Length]:
        return (
            parse_length(self.shadow_blur, field_name="shadow_blur"),
            parse_length(self.shadow_offset_x, field_name="shadow_offset_x", allow_negative=True),
            parse_length(self.shadow_offset_y, field_name="shadow_offset_y", allow_negative=True),
        )


def _mode(value: object) -> str:
    mode = str(value).strip().lower()
    if mode not in MODES:
        raise InvalidOption(
            f"mode={value!r} is unknown: use one of {', '.join(MODES)}", field="mode"
        )
    return mode


def _format(value: object) -> str:
    fmt = FORMAT_ALIASES.get(str(value).strip().lower())
    if fmt is None:
        raise InvalidOption(
            f"format={value!r} is unknown: use one of png, jpg, webp, avif, zip", field="format"
        )
    return fmt


def _channels(value: object, mode: str, fmt: str) -> str | None:
    """The channels asked for (None: what suits), checked against the mode and format."""
    channels = None
    if value is not None:
        channels = str(value).strip().lower()
        if channels not in CHANNELS:
            raise InvalidOption(
                f"channels={value!r} is unknown: use rgba, rgb or alpha", field="channels"
            )
    if fmt == "jpeg" and channels == "rgba":
        raise InvalidOption(
            "JPEG has no alpha channel: use png, webp or avif for rgba", field="channels"
        )
    if fmt == "zip" and channels is not None and channels != "rgba":
        raise InvalidOption(
            "zip always holds color.jpg and alpha.png; leave channels unset", field="channels"
        )
    if mode == "mask" and channels == "rgba":
        raise InvalidOption("mask mode has no colour: use channels alpha or rgb", field="channels")
    if mode == "mask" and fmt == "zip":
        raise InvalidOption(
            "mask mode is one greyscale image: use png, webp, jpg or avif", field="format"
        )
    return channels


def _opacity(value: object) -> float:
    try:
        opacity = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidOption(
            "shadow_opacity must be a number between 0 and 1", field="shadow_opacity"
        ) from None
    if not 0.0 <= opacity <= 1.0:
        raise InvalidOption("shadow_opacity must be between 0 and 1", field="shadow_opacity")
    return opacity


def _check_shadow_lengths(
    blur_value: str | int | float, offset_x: str | int | float, offset_y: str | int | float
) -> None:
    blur = parse_length(blur_value, field_name="shadow_blur")
    if (blur.unit == "%" and blur.value > 50) or (blur.unit == "px" and blur.value > 500):
        raise InvalidOption("shadow_blur may not exceed 50% or 500px", field="shadow_blur")
    for name, value in (("shadow_offset_x", offset_x), ("shadow_offset_y", offset_y)):
        offset = parse_length(value, field_name=name, allow_negative=True)
        if (offset.unit == "%" and abs(offset.value) > 100) or (
            offset.unit == "px" and abs(offset.value) > 2000
        ):
            raise InvalidOption(f"{name} may not exceed 100% or 2000px", field=name)


def _parse_size(size: str | int) -> str | int:
    if isinstance(size, bool):
        raise InvalidOption("size must be a preset name or a number of pixels", field="size")
    if isinstance(size, str):
        text = size.strip().lower()
        if text in SIZES:
            return text
        if text == "auto" or text == "regular":
            return "full"
        if text.isdigit():
            size = int(text)
        else:
            raise InvalidOption(
                f"size={size!r} is unknown: use preview, small, medium, large, full or a number of pixels",
                field="size",
            )
    if not isinstance(size, int):
        raise InvalidOption("size must be a preset name or a number of pixels", field="size")
    if not MIN_SIZE_PX <= size <= MAX_SIZE_PX:
        raise InvalidOption(
            f"size must be between {MIN_SIZE_PX} and {MAX_SIZE_PX} pixels", field="size"
        )
    return size
