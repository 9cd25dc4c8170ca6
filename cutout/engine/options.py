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
    MAX_SIZE_MP,
    MAX_SIZE_PX,
    MIN_SIZE_MP,
    MIN_SIZE_PX,
    MODES,
    PREVIEW_MAX_PIXELS,
    PREVIEW_MAX_SIDE,
    SHADOW_TYPES,
    SIZES,
    validate_pipeline,
)
from .values import (
    Color,
    Length,
    parse_color,
    parse_length,
    parse_margin,
    parse_position,
    parse_scale,
)

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
    - ``bg_image``: the caller's name for a background image (e.g. ``sha256:<hex>`` of its
      bytes, so equal requests hash alike); the image itself is passed to :func:`render` as
      ``background=``. It is scaled to cover the canvas (centred, aspect kept) under the subject.
    - ``bg_blur``: blur the image's own background behind the sharp subject, by this radius (px
      of the original, or % of its longer side; ``0`` = off). The subject is left out of the blur,
      so no halo of its colours spreads into the background.
      At most one of ``bg_color``, ``bg_image`` and ``bg_blur``.
    - ``size``: ``preview`` (256), ``small`` (512), ``medium`` (1024), ``large`` (2048) or
      ``full``: the longest side of the output; an int (the longest side in px); or a pixel budget
      such as ``"0.25mp"`` (at most that many megapixels). Never upscales.
    - ``crop``: trim to the subject (plus ``crop_margin``), combinable with every mode.
    - ``scale``: ``original`` or ``10%``..``100%``: the subject is resized so that its larger side
      relative to the canvas is that fraction of it; implies ``position=center`` unless given.
    - ``position``: ``original``, ``center``, or one/two percentages (x, y): 0 % against the
      left/top edge, 100 % against the right/bottom edge.
    - ``semitransparency``: False hardens the matte: every pixel becomes opaque or transparent
      except a narrow anti-aliased edge (glass, veils and thin hair lose their partial alpha).
    - ``shadow_type`` (``natural``, ``drop``, ``contact``), ``shadow_opacity`` 0..1,
      ``shadow_blur`` and ``shadow_offset_x/y`` as lengths (px of the original image, or % of the
      subject's height): the shadow of ``shadow`` mode.
    - ``watermark``: mark the result as a test (free: the API's test and sandbox modes).
    - ``pipeline``: ``fast``, ``balanced`` or ``best``.

    The fields' order is :data:`cutout.engine.OPTION_FIELDS`; a test keeps the two in step.
    """

    mode: str = "transparent"
    format: str = "png"
    channels: str | None = None
    bg_color: str | None = None
    bg_image: str | None = None
    bg_blur: str | int | float = "0"
    size: str | int = "full"
    crop: bool = False
    crop_margin: str | int = "0"
    scale: str = "original"
    position: str = "original"
    semitransparency: bool = True
    shadow_type: str = "natural"
    shadow_opacity: float = 0.5
    shadow_blur: str | int | float = "4%"
    shadow_offset_x: str | int | float = "0"
    shadow_offset_y: str | int | float = "2%"
    watermark: bool = False
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
        if self.bg_image == "":
            self._set("bg_image", None)
        self._set("size", _parse_size(self.size))
        for name in ("crop", "semitransparency", "watermark"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidOption(f"{name} must be true or false", field=name)
        self._set("margin", parse_margin(self.crop_margin))
        self._set("scale", _placement_text(self.scale, parse_scale(self.scale)))
        self._set("position", _placement_text(self.position, parse_position(self.position)))
        _check_background(self)
        self._set("shadow_type", _shadow_type(self.shadow_type))
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
        if self.bg_image is not None or self.has_bg_blur:
            return "rgb"  # both backgrounds are opaque
        opaque_bg = self.color is not None and self.color[3] == 255
        if opaque_bg or (self.mode == "background" and self.color is None):
            return "rgb"
        return "rgba"

    @property
    def max_side(self) -> int:
        """Longest output side in pixels, 0 for full size (or a megapixel size)."""
        size = self.size
        if isinstance(size, str):
            return SIZES.get(size, 0)
        return int(size)

    @property
    def max_pixels(self) -> int:
        """The output's pixel budget for a megapixel size (``"0.25mp"``), else 0."""
        size = self.size
        if isinstance(size, str) and size.endswith("mp"):
            return round(float(size[:-2]) * 1_000_000)
        return 0

    @property
    def is_preview(self) -> bool:
        """Whether ``size`` alone bounds the output to a preview (at most 0.25 MP, whatever
        the input): ``preview``, a longest side of at most 500 px, or at most ``0.25mp``."""
        if self.max_pixels:
            return self.max_pixels <= PREVIEW_MAX_PIXELS
        return 0 < self.max_side <= PREVIEW_MAX_SIDE

    @property
    def has_bg_blur(self) -> bool:
        return parse_length(self.bg_blur, field_name="bg_blur").value > 0

    def bg_blur_radius(self, width: int, height: int) -> float:
        """The background blur's radius in pixels of a ``width`` x ``height`` original."""
        return parse_length(self.bg_blur, field_name="bg_blur").resolve(max(width, height))

    def placement(self) -> tuple[float | None, tuple[float, float] | None]:
        """(scale, position) as fractions; None each for ``original``. A scale without a
        position centres the subject (as remove.bg does)."""
        scale, position = parse_scale(self.scale), parse_position(self.position)
        if scale is not None and position is None:
            position = (0.5, 0.5)
        return scale, position

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


def _placement_text(value: object, parsed: object) -> str:
    """The normalised spelling of a scale or position (``original`` when it means none)."""
    return "original" if parsed is None else " ".join(str(value).strip().lower().split())


def _check_background(options: Options) -> None:
    """``bg_image`` is a short name; ``bg_blur`` a sane length; at most one background."""
    name = options.bg_image
    if name is not None and (not isinstance(name, str) or not 0 < len(name.strip()) <= 100):
        raise InvalidOption(
            "bg_image must name the background image (1 to 100 characters)", field="bg_image"
        )
    blur = parse_length(options.bg_blur, field_name="bg_blur")
    if blur.value == 0:
        object.__setattr__(options, "bg_blur", "0")
    if (blur.unit == "%" and blur.value > 25) or (blur.unit == "px" and blur.value > 1000):
        raise InvalidOption("bg_blur may not exceed 25% or 1000px", field="bg_blur")
    given = [
        name
        for name, present in (
            ("bg_color", options.bg_color is not None),
            ("bg_image", options.bg_image is not None),
            ("bg_blur", blur.value > 0),
        )
        if present
    ]
    if len(given) > 1:
        raise InvalidOption(
            f"choose one background: {' or '.join(given)}, not both", field=given[-1]
        )
    pictures = [name for name in given if name != "bg_color"]
    if pictures and options.mode == "mask":
        raise InvalidOption(
            f"mask mode has no background: leave out {pictures[0]}", field=pictures[0]
        )


def _shadow_type(value: object) -> str:
    kind = str(value).strip().lower()
    if kind not in SHADOW_TYPES:
        raise InvalidOption(
            f"shadow_type={value!r} is unknown: use one of {', '.join(SHADOW_TYPES)}",
            field="shadow_type",
        )
    return kind


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
        if text.endswith("mp"):
            return _megapixels(text)
        if text.isdigit():
            size = int(text)
        else:
            raise InvalidOption(
                f"size={size!r} is unknown: use preview, small, medium, large, full, a number "
                "of pixels or megapixels such as 0.25mp",
                field="size",
            )
    if not isinstance(size, int):
        raise InvalidOption("size must be a preset name or a number of pixels", field="size")
    if not MIN_SIZE_PX <= size <= MAX_SIZE_PX:
        raise InvalidOption(
            f"size must be between {MIN_SIZE_PX} and {MAX_SIZE_PX} pixels", field="size"
        )
    return size


def _megapixels(text: str) -> str:
    try:
        value = float(text[:-2].strip())
    except ValueError:
        raise InvalidOption(f"size={text!r} is not a number of megapixels", field="size") from None
    if not MIN_SIZE_MP <= value <= MAX_SIZE_MP:
        raise InvalidOption(
            f"size in megapixels must be between {MIN_SIZE_MP:g} and {MAX_SIZE_MP:g}", field="size"
        )
    return f"{value:g}mp"
