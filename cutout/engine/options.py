"""What the caller asks for (:class:`Options`) and what the service allows (:class:`Limits`).

Options are validated when they are built, so a bad value fails before any pixel is decoded or
any credit is spent. Values are normalised on the way in (``"jpg"`` becomes ``"jpeg"``, ``"crop"``
mode becomes ``transparent`` plus ``crop=True``), so code further on sees one spelling only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from PIL import ImageColor

from .errors import InvalidOption

MODES = ("transparent", "mask", "background", "crop", "shadow")
FORMATS = ("png", "jpeg", "webp", "avif", "zip")
FORMAT_ALIASES = {
    "jpg": "jpeg",
    "png": "png",
    "jpeg": "jpeg",
    "webp": "webp",
    "avif": "avif",
    "zip": "zip",
}
CHANNELS = ("rgba", "rgb", "alpha")
SIZES = {"preview": 256, "small": 512, "medium": 1024, "large": 2048, "full": 0}
MIN_SIZE_PX = 32
MAX_SIZE_PX = 10_000

Color = tuple[int, int, int, int]

_HEX = re.compile(r"#?([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
_FUNC = re.compile(r"(rgba?)\(\s*([^)]*)\)", re.IGNORECASE)
_LENGTH = re.compile(r"(-?\d+(?:\.\d+)?)\s*(px|%)?")


def parse_color(value: str) -> Color:
    """Parse a CSS-style colour into ``(r, g, b, a)`` with every part 0..255.

    Accepts ``#fff``, ``#ffff``, ``#ffffff``, ``#ffffff80`` (the ``#`` may be left out),
    ``rgb(255, 255, 255)``, ``rgba(255, 255, 255, 0.5)`` (alpha 0..1 or a percentage),
    ``rgb(100%, 0%, 0%)``, the CSS named colours (``white``, ``rebeccapurple``) and
    ``transparent``. Raises :class:`InvalidOption` otherwise.
    """
    if not isinstance(value, str):
        raise InvalidOption(
            f"colour must be a string, got {type(value).__name__}", field="bg_color"
        )
    text = value.strip().lower()
    if not text:
        raise InvalidOption("colour is empty", field="bg_color")
    if text == "transparent":
        return (0, 0, 0, 0)
    hex_match = _HEX.fullmatch(text)
    if hex_match:
        digits = hex_match.group(1)
        if len(digits) in (3, 4):
            digits = "".join(ch * 2 for ch in digits)
        if len(digits) == 6:
            digits += "ff"
        r, g, b, a = (int(digits[i : i + 2], 16) for i in range(0, 8, 2))
        return (r, g, b, a)
    func = _FUNC.fullmatch(text)
    if func:
        return _parse_rgb_function(value, func.group(1), func.group(2))
    named = ImageColor.colormap.get(text)
    if isinstance(named, str):
        r, g, b = ImageColor.getrgb(named)[:3]
        return (r, g, b, 255)
    raise InvalidOption(
        f"{value!r} is not a colour: use #rgb, #rrggbb, #rrggbbaa, rgb(r, g, b), "
        "rgba(r, g, b, a) or a CSS colour name such as 'white'",
        field="bg_color",
    )


def _parse_rgb_function(original: str, name: str, body: str) -> Color:
    parts = [p.strip() for p in re.split(r"[,\s/]+", body.strip()) if p.strip()]
    if len(parts) not in (3, 4):
        raise InvalidOption(f"{original!r}: {name}() takes 3 or 4 values", field="bg_color")
    channels = []
    for part in parts[:3]:
        try:
            number = float(part[:-1]) * 2.55 if part.endswith("%") else float(part)
        except ValueError:
            raise InvalidOption(
                f"{original!r}: {part!r} is not a number", field="bg_color"
            ) from None
        if not 0 <= number <= 255:
            raise InvalidOption(f"{original!r}: {part!r} is outside 0..255", field="bg_color")
        channels.append(round(number))
    alpha = 255
    if len(parts) == 4:
        part = parts[3]
        try:
            fraction = float(part[:-1]) / 100 if part.endswith("%") else float(part)
        except ValueError:
            raise InvalidOption(
                f"{original!r}: alpha {part!r} is not a number", field="bg_color"
            ) from None
        if not 0 <= fraction <= 1:
            raise InvalidOption(f"{original!r}: alpha must be between 0 and 1", field="bg_color")
        alpha = round(fraction * 255)
    return (channels[0], channels[1], channels[2], alpha)


@dataclass(frozen=True)
class Length:
    """A length such as ``10px`` or ``5%`` (percent of a reference the caller supplies)."""

    value: float
    unit: str  # "px" or "%"

    def resolve(self, reference: float) -> float:
        return self.value * reference / 100.0 if self.unit == "%" else self.value


def parse_length(
    value: str | int | float, *, field_name: str, allow_negative: bool = False
) -> Length:
    if isinstance(value, bool):
        raise InvalidOption(f"{field_name} must be a length like '10px' or '5%'", field=field_name)
    if isinstance(value, int | float):
        number, unit = float(value), "px"
    else:
        match = _LENGTH.fullmatch(str(value).strip().lower())
        if not match:
            raise InvalidOption(
                f"{field_name}={value!r} is not a length: use a number of pixels ('10' or '10px') "
                "or a percentage ('5%')",
                field=field_name,
            )
        number, unit = float(match.group(1)), match.group(2) or "px"
    if number < 0 and not allow_negative:
        raise InvalidOption(f"{field_name} must not be negative", field=field_name)
    return Length(number, unit)


def parse_margin(value: str | int | float) -> tuple[Length, Length, Length, Length]:
    """CSS-like margin: one value (all sides), two (top/bottom, left/right) or four (t, r, b, l).

    Percentages are of the subject's height (top/bottom) or width (left/right), as remove.bg does.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        parts: list[Any] = [value]
    else:
        parts = str(value).replace(",", " ").split()
    if len(parts) not in (1, 2, 4):
        raise InvalidOption(
            f"crop_margin={value!r}: give 1, 2 or 4 lengths (e.g. '10px', '5% 10%')",
            field="crop_margin",
        )
    lengths = [parse_length(p, field_name="crop_margin") for p in parts]
    for length in lengths:
        if length.unit == "%" and length.value > 50:
            raise InvalidOption("crop_margin percentages may not exceed 50%", field="crop_margin")
        if length.unit == "px" and length.value > 500:
            raise InvalidOption("crop_margin may not exceed 500px", field="crop_margin")
    if len(lengths) == 1:
        return (lengths[0],) * 4
    if len(lengths) == 2:
        return (lengths[0], lengths[1], lengths[0], lengths[1])
    return (lengths[0], lengths[1], lengths[2], lengths[3])


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
        mode = str(self.mode).strip().lower()
        if mode not in MODES:
            raise InvalidOption(
                f"mode={self.mode!r} is unknown: use one of {', '.join(MODES)}", field="mode"
            )
        if mode == "crop":
            mode = "transparent"
            object.__setattr__(self, "crop", True)
        object.__setattr__(self, "mode", mode)

        fmt = FORMAT_ALIASES.get(str(self.format).strip().lower())
        if fmt is None:
            raise InvalidOption(
                f"format={self.format!r} is unknown: use one of png, jpg, webp, avif, zip",
                field="format",
            )
        object.__setattr__(self, "format", fmt)

        if self.channels is not None:
            channels = str(self.channels).strip().lower()
            if channels not in CHANNELS:
                raise InvalidOption(
                    f"channels={self.channels!r} is unknown: use rgba, rgb or alpha",
                    field="channels",
                )
            object.__setattr__(self, "channels", channels)
        if fmt == "jpeg" and self.channels == "rgba":
            raise InvalidOption(
                "JPEG has no alpha channel: use png, webp or avif for rgba", field="channels"
            )
        if fmt == "zip" and self.channels is not None and self.channels != "rgba":
            raise InvalidOption(
                "zip always holds color.jpg and alpha.png; leave channels unset", field="channels"
            )
        if self.mode == "mask" and self.channels == "rgba":
            raise InvalidOption(
                "mask mode has no colour: use channels alpha or rgb", field="channels"
            )
        if self.mode == "mask" and fmt == "zip":
            raise InvalidOption(
                "mask mode is one greyscale image: use png, webp, jpg or avif", field="format"
            )

        if self.bg_color is not None and self.bg_color != "":
            object.__setattr__(self, "color", parse_color(self.bg_color))
        else:
            object.__setattr__(self, "bg_color", None)

        object.__setattr__(self, "size", _parse_size(self.size))
        if not isinstance(self.crop, bool):
            raise InvalidOption("crop must be true or false", field="crop")
        object.__setattr__(self, "margin", parse_margin(self.crop_margin))

        try:
            opacity = float(self.shadow_opacity)
        except (TypeError, ValueError):
            raise InvalidOption(
                "shadow_opacity must be a number between 0 and 1", field="shadow_opacity"
            ) from None
        if not 0.0 <= opacity <= 1.0:
            raise InvalidOption("shadow_opacity must be between 0 and 1", field="shadow_opacity")
        object.__setattr__(self, "shadow_opacity", opacity)
        blur = parse_length(self.shadow_blur, field_name="shadow_blur")
        if (blur.unit == "%" and blur.value > 50) or (blur.unit == "px" and blur.value > 500):
            raise InvalidOption("shadow_blur may not exceed 50% or 500px", field="shadow_blur")
        for name in ("shadow_offset_x", "shadow_offset_y"):
            offset = parse_length(getattr(self, name), field_name=name, allow_negative=True)
            if (offset.unit == "%" and abs(offset.value) > 100) or (
                offset.unit == "px" and abs(offset.value) > 2000
            ):
                raise InvalidOption(f"{name} may not exceed 100% or 2000px", field=name)

        pipeline = str(self.pipeline).strip().lower()
        from .pipelines import PIPELINES  # local import: pipelines imports the model registry

        if pipeline not in PIPELINES:
            raise InvalidOption(
                f"pipeline={self.pipeline!r} is unknown: use one of {', '.join(PIPELINES)}",
                field="pipeline",
            )
        object.__setattr__(self, "pipeline", pipeline)

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


@dataclass(frozen=True)
class Limits:
    """What input the service accepts. The Django layer builds this from settings."""

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 25_000_000
    min_side: int = 32
