"""Option values that need parsing: colours (:func:`parse_color`), lengths (``10px``, ``5%``) and
the subject's placement (:func:`parse_scale`, :func:`parse_position`).

Each parser raises :class:`InvalidOption` naming the option, so the caller's error says which
field was wrong. Imports only the errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from PIL import ImageColor

from .errors import InvalidOption

Color = tuple[int, int, int, int]

_HEX = re.compile(r"#?([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
_FUNC = re.compile(r"(rgba?)\(\s*([^)]*)\)", re.IGNORECASE)
_LENGTH = re.compile(r"(-?\d+(?:\.\d+)?)\s*(px|%)?")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")


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


def parse_scale(value: object) -> float | None:
    """The subject's size on the canvas as a fraction (0.1..1), or None for ``original``.

    ``"80%"`` scales the subject so that its larger side relative to the canvas is 80 % of it
    (remove.bg's ``scale``). ``original`` (or empty) keeps the subject's own size.
    """
    text = str(value if value is not None else "").strip().lower()
    if text in ("", "original"):
        return None
    match = _PERCENT.fullmatch(text)
    if not match:
        raise InvalidOption(
            f"scale={value!r} is not valid: use 'original' or a percentage from 10% to 100%",
            field="scale",
        )
    number = float(match.group(1))
    if not 10.0 <= number <= 100.0:
        raise InvalidOption("scale must be between 10% and 100%", field="scale")
    return number / 100.0


def parse_position(value: object) -> tuple[float, float] | None:
    """Where the subject sits on the canvas as (x, y) fractions, or None for ``original``.

    ``center`` is (0.5, 0.5); one percentage applies to both axes, two are horizontal then
    vertical. 0 % puts the subject against the left (top) edge, 100 % against the right (bottom).
    """
    text = str(value if value is not None else "").strip().lower()
    if text in ("", "original"):
        return None
    if text in ("center", "centre"):
        return (0.5, 0.5)
    parts = text.replace(",", " ").split()
    matches = [_PERCENT.fullmatch(p) for p in parts]
    if len(parts) not in (1, 2) or not all(matches):
        raise InvalidOption(
            f"position={value!r} is not valid: use 'original', 'center', one percentage "
            "(both axes) or two (horizontal, vertical), each 0% to 100%",
            field="position",
        )
    numbers = [float(m.group(1)) / 100.0 for m in matches if m]
    if not all(0.0 <= n <= 1.0 for n in numbers):
        raise InvalidOption("position percentages must be between 0% and 100%", field="position")
    return (numbers[0], numbers[-1])
