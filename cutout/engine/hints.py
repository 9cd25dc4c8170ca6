"""What a person (or a client) says about a cutout: "this is the subject, this is not".

Hints are pixels of the image as shown (EXIF orientation applied), in the order given:

- ``{"kind": "keep"|"remove", "x": X, "y": Y}``: a click on the subject / on background;
- ``{"kind": "keep"|"remove", "points": [[x, y], ...], "radius": R}``: a brush stroke, honoured
  exactly (restore / erase every pixel within R of the polyline);
- ``{"kind": "box", "box": [x0, y0, x1, y1]}``: the subject lies inside this box (x1, y1
  exclusive); at most one box.

:func:`parse_hints` checks a caller's value (a list, or its JSON text) against the image's size
and the caps below and returns :class:`Hint` tuples; anything wrong is :class:`InvalidOption` with
``field="hints"`` and a message that says which hint and what. :func:`hints_as_json` is the
canonical JSON form (what is stored and what a caller gets back). :func:`parse_roi` reads
remove.bg's ``roi`` ("x1 y1 x2 y2", each in ``px`` or ``%``) as a box hint.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from .errors import InvalidOption

KINDS = ("keep", "remove", "box")
MAX_HINTS = 100  # hints in one list
MAX_STROKE_POINTS = 10_000  # points over all strokes of one list
MAX_RADIUS = 1000  # px; a brush wider than this is a fill, not a stroke
FIELD = "hints"


@dataclass(frozen=True)
class Hint:
    """One hint. A click has ``x``/``y``; a stroke ``points``/``radius``; a box ``box``."""

    kind: str
    x: int | None = None
    y: int | None = None
    points: tuple[tuple[float, float], ...] | None = None
    radius: float | None = None
    box: tuple[int, int, int, int] | None = None

    @property
    def is_click(self) -> bool:
        return self.kind in ("keep", "remove") and self.points is None

    @property
    def is_stroke(self) -> bool:
        return self.points is not None

    @property
    def keep(self) -> bool:
        return self.kind == "keep"

    def as_json(self) -> dict[str, Any]:
        if self.box is not None:
            return {"kind": "box", "box": list(self.box)}
        if self.points is not None:
            points = [[_plain(x), _plain(y)] for x, y in self.points]
            return {"kind": self.kind, "points": points, "radius": _plain(self.radius or 0.0)}
        return {"kind": self.kind, "x": self.x, "y": self.y}


def _plain(value: float) -> int | float:
    """A float that is a whole number as an int (so stored JSON reads as it was sent)."""
    return int(value) if float(value).is_integer() else float(value)


def hints_as_json(hints: tuple[Hint, ...] | list[Hint]) -> list[dict[str, Any]]:
    return [hint.as_json() for hint in hints]


def _fail(message: str, index: int | None = None) -> InvalidOption:
    where = f"hints[{index}]: " if index is not None else ""
    return InvalidOption(f"{where}{message}", field=FIELD)


def _number(value: Any, what: str, index: int) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(f"{what} must be a number (got {json.dumps(value)[:40]}).", index)
    return float(value)


def _click(raw: dict[str, Any], index: int, width: int, height: int) -> Hint:
    x = _number(raw.get("x"), "x", index)
    y = _number(raw.get("y"), "y", index)
    if not (0 <= x < width and 0 <= y < height):
        raise _fail(
            f"the click ({x:g}, {y:g}) is outside the image ({width}x{height}; "
            f"x from 0 to {width - 1}, y from 0 to {height - 1}).",
            index,
        )
    return Hint(kind=raw["kind"], x=int(x), y=int(y))


def _stroke(raw: dict[str, Any], index: int, width: int, height: int) -> Hint:
    points = raw.get("points")
    if not isinstance(points, list) or not points:
        raise _fail("points must be a non-empty list of [x, y] pairs.", index)
    radius = _number(raw.get("radius"), "radius", index)
    if not 0 < radius <= MAX_RADIUS:
        raise _fail(f"radius must be more than 0 and at most {MAX_RADIUS} px.", index)
    parsed: list[tuple[float, float]] = []
    for point in points:
        if not isinstance(point, list | tuple) or len(point) != 2:
            raise _fail("each point must be an [x, y] pair.", index)
        x, y = (_number(v, "a point's coordinate", index) for v in point)
        if not (0 <= x <= width and 0 <= y <= height):
            raise _fail(f"the point ({x:g}, {y:g}) is outside the image ({width}x{height}).", index)
        parsed.append((x, y))
    return Hint(kind=raw["kind"], points=tuple(parsed), radius=radius)


def _box(raw: dict[str, Any], index: int, width: int, height: int) -> Hint:
    box = raw.get("box")
    if not isinstance(box, list | tuple) or len(box) != 4:
        raise _fail("box must be [x0, y0, x1, y1].", index)
    x0, y0, x1, y1 = (round(_number(v, "a box coordinate", index)) for v in box)
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise _fail(
            f"the box [{x0}, {y0}, {x1}, {y1}] must lie inside the image ({width}x{height}) "
            "with x0 < x1 and y0 < y1.",
            index,
        )
    return Hint(kind="box", box=(x0, y0, x1, y1))


_KEYS = {
    "click": {"kind", "x", "y"},
    "stroke": {"kind", "points", "radius"},
    "box": {"kind", "box"},
}


def _one(raw: Any, index: int, width: int, height: int) -> Hint:
    if isinstance(raw, Hint):  # already parsed: checked again against this image
        raw = raw.as_json()
    if not isinstance(raw, dict):
        raise _fail("each hint must be an object with a kind.", index)
    kind = raw.get("kind")
    if kind not in KINDS:
        raise _fail(f"unknown kind {json.dumps(kind)[:40]}; use keep, remove or box.", index)
    shape = "box" if kind == "box" else ("stroke" if "points" in raw else "click")
    extra = sorted(set(raw) - _KEYS[shape])
    if extra:
        allowed = ", ".join(sorted(_KEYS[shape]))
        raise _fail(f"unexpected {', '.join(extra)} in a {shape} (it takes {allowed}).", index)
    if shape == "box":
        return _box(raw, index, width, height)
    if shape == "stroke":
        return _stroke(raw, index, width, height)
    return _click(raw, index, width, height)


def parse_hints(value: Any, *, width: int, height: int) -> tuple[Hint, ...]:
    """The hints in ``value`` (a list of objects, or its JSON text), checked for an image of
    ``width`` x ``height``; :class:`InvalidOption` (``field="hints"``) when anything is wrong."""
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value) if value.strip() else []
        except ValueError:
            raise _fail("hints must be a JSON list of hint objects.") from None
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise _fail("hints must be a list of hint objects.")
    if len(value) > MAX_HINTS:
        raise _fail(f"at most {MAX_HINTS} hints per request (got {len(value)}).")
    hints = tuple(_one(raw, i, width, height) for i, raw in enumerate(value))
    if sum(1 for hint in hints if hint.box is not None) > 1:
        raise _fail("at most one box per hint list.")
    total = sum(len(hint.points or ()) for hint in hints)
    if total > MAX_STROKE_POINTS:
        raise _fail(f"at most {MAX_STROKE_POINTS} stroke points in all (got {total}).")
    return hints


_ROI_VALUE = re.compile(r"^(-?\d+(?:\.\d+)?)(px|%)$")


def parse_roi(text: str, *, width: int, height: int, field: str = "roi") -> Hint | None:
    """remove.bg's ``roi``: "x1 y1 x2 y2", each ``px`` or ``%`` of the image, as a box hint;
    None for the whole image (its default ``0% 0% 100% 100%``)."""
    parts = str(text).split()
    matches = [_ROI_VALUE.match(part) for part in parts]
    if len(parts) != 4 or not all(matches):
        raise InvalidOption(
            'roi must be four values "x1 y1 x2 y2", each in px or % (e.g. "0% 0% 100% 100%").',
            field=field,
        )
    values = []
    for i, match in enumerate(matches):
        assert match is not None
        number, unit = float(match.group(1)), match.group(2)
        side = width if i % 2 == 0 else height
        values.append(round(number * side / 100.0) if unit == "%" else round(number))
    x0, y0, x1, y1 = values
    if min(values) < 0 or x1 > width or y1 > height:
        raise InvalidOption(
            f"roi defines a region that exceeds the image bounds ({width}x{height}).", field=field
        )
    if x1 <= x0 or y1 <= y0:
        raise InvalidOption("roi defines an empty region.", field=field)
    if (x0, y0, x1, y1) == (0, 0, width, height):
        return None
    return Hint(kind="box", box=(x0, y0, x1, y1))
