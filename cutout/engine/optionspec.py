"""The user-facing options, described once for every caller: forms, API dialects, stored records.

:data:`OPTION_FIELDS` is the ordered list of option names: the init fields of
:class:`~cutout.engine.options.Options`, read from the dataclass, so the list is written once (there).
:data:`OPTION_SPECS` says what each one is (JSON-schema type, accepted values, default, a short
description); :func:`option_properties` turns it into JSON-schema properties for an OpenAPI
document. The defaults are read from the dataclass as well, never repeated here.

:func:`options_as_dict` / :func:`options_from_dict` convert between :class:`Options` and the plain
JSON values stored on a cutout (and hashed for dedup); a round trip gives equal options.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Any

from .names import (
    CHANNELS,
    FORMAT_ALIASES,
    MAX_SIZE_PX,
    MIN_SIZE_PX,
    MODES,
    PIPELINE_NAMES,
    SHADOW_TYPES,
)
from .options import Options

OPTION_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Options) if f.init)


@dataclass(frozen=True)
class OptionSpec:
    """One option as a form or an API schema needs it.

    ``type`` is the JSON-schema type of the value a caller sends (``string``, ``boolean`` or
    ``number``; form text for a ``boolean`` must be parsed to ``True``/``False`` by the caller,
    other values may be passed as sent). ``choices`` lists every accepted spelling when the value
    must be one of them (empty: free text checked by :class:`Options`). ``default`` is
    :class:`Options`' default, None when the engine picks what suits the other options.
    """

    name: str
    type: str
    description: str
    default: Any = None
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    examples: tuple[str, ...] = ()

    def json_schema(self) -> dict[str, Any]:
        """The JSON-schema property for this option (OpenAPI 3.1)."""
        schema: dict[str, Any] = {"type": self.type}
        if self.choices:
            schema["enum"] = list(self.choices)
        if self.default is not None:
            schema["default"] = self.default
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        schema["description"] = self.description
        if self.examples:
            schema["examples"] = list(self.examples)
        return schema


# (type, description, extra) per option; the defaults come from the Options dataclass.
_DESCRIPTIONS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "mode": (
        "string",
        "transparent (RGBA cutout), mask (8-bit alpha), background (subject on bg_color, white "
        "by default), crop (transparent, cropped to the subject), shadow (subject with a soft "
        "synthesised shadow).",
        {"choices": MODES},
    ),
    "format": (
        "string",
        "png, jpg (or jpeg), webp, avif, or zip: color.jpg and alpha.png, as remove.bg does.",
        {"choices": tuple(FORMAT_ALIASES)},
    ),
    "channels": (
        "string",
        "rgba, rgb (flattened onto bg_color or white) or alpha (the result's alpha as greyscale); "
        "unset: what suits the mode and format.",
        {"choices": CHANNELS},
    ),
    "bg_color": (
        "string",
        "#rgb, #rrggbb, #rrggbbaa, rgb(…), rgba(…) or a CSS colour name.",
        {"examples": ("#ffffff", "white")},
    ),
    "bg_image": (
        "string",
        "Set by the server when a background image is sent (bg_image file, bg_image_url or "
        "bg_image_b64): the image's sha256. It is scaled to cover the canvas under the subject.",
        {},
    ),
    "bg_blur": (
        "string",
        "Blur the photo's own background behind the sharp subject: a radius in px or % of the "
        "image's longer side (max 1000px / 25%); 0 is off.",
        {"examples": ("2%", "24px")},
    ),
    "size": (
        "string",
        f"preview (256), small (512), medium (1024), large (2048), full, a longest side in "
        f"pixels ({MIN_SIZE_PX}-{MAX_SIZE_PX}) or a pixel budget such as 0.25mp. Never "
        "upscales. Previews (at most 0.25 MP whatever the input) are free.",
        {},
    ),
    "crop": ("boolean", "Trim to the subject (plus crop_margin); works with every mode.", {}),
    "crop_margin": (
        "string",
        "1, 2 or 4 lengths in px or % of the subject (max 500px / 50%).",
        {},
    ),
    "scale": (
        "string",
        "original, or 10%-100%: the subject's larger side as a share of the canvas (implies "
        "position=center).",
        {"examples": ("original", "80%")},
    ),
    "position": (
        "string",
        "original, center, or one or two percentages (horizontal, vertical): 0% against the "
        "left/top edge, 100% against the right/bottom.",
        {"examples": ("original", "center", "50% 100%")},
    ),
    "semitransparency": (
        "boolean",
        "false: every pixel opaque or transparent except a thin anti-aliased edge.",
        {},
    ),
    "shadow_type": (
        "string",
        "mode=shadow only: natural (contact shadow plus a soft drop shadow), drop (the offset "
        "drop shadow alone) or contact (the base alone).",
        {"choices": SHADOW_TYPES},
    ),
    "shadow_opacity": (
        "number",
        "Shadow opacity for mode=shadow, 0 to 1.",
        {"minimum": 0, "maximum": 1},
    ),
    "shadow_blur": (
        "string",
        "Shadow blur for mode=shadow: px of the original or % of the subject's height (max "
        "500px / 50%).",
        {},
    ),
    "shadow_offset_x": (
        "string",
        "Horizontal shadow offset for mode=shadow: px or % of the subject's height (may be "
        "negative; max 2000px / 100%).",
        {},
    ),
    "shadow_offset_y": (
        "string",
        "Vertical shadow offset for mode=shadow: px or % of the subject's height (may be "
        "negative; max 2000px / 100%).",
        {},
    ),
    "watermark": (
        "boolean",
        "A test result: free, with CUTOUT TEST written across it.",
        {},
    ),
    "pipeline": (
        "string",
        "fast (u2netp), balanced (u2net) or best (ISNet and u2net fused).",
        {"choices": PIPELINE_NAMES},
    ),
}


def _default(name: str) -> Any:
    default = next(f.default for f in fields(Options) if f.name == name)
    return None if default is MISSING else default


OPTION_SPECS: dict[str, OptionSpec] = {
    name: OptionSpec(
        name,
        _DESCRIPTIONS[name][0],
        _DESCRIPTIONS[name][1],
        _default(name),
        **_DESCRIPTIONS[name][2],
    )
    for name in OPTION_FIELDS
}
if set(_DESCRIPTIONS) != set(OPTION_FIELDS):  # pragma: no cover - a programming error
    raise RuntimeError("optionspec describes options that Options does not have, or misses some")


def option_properties(*, default_pipeline: str | None = None) -> dict[str, dict[str, Any]]:
    """JSON-schema properties for every option, in :data:`OPTION_FIELDS` order.

    ``default_pipeline`` replaces the engine's default pipeline with the one a server is set to.
    """
    out = {name: spec.json_schema() for name, spec in OPTION_SPECS.items()}
    if default_pipeline is not None:
        out["pipeline"]["default"] = default_pipeline
    return out


def options_as_dict(options: Options) -> dict[str, Any]:
    """The options as plain JSON values (what is stored on the cutout and hashed for dedup)."""
    out: dict[str, Any] = {}
    for name in OPTION_FIELDS:
        value = getattr(options, name)
        out[name] = (
            value if isinstance(value, bool | int | float | str) or value is None else str(value)
        )
    return out


def options_from_dict(data: dict[str, Any]) -> Options:
    """:class:`Options` from stored values; keys that are not options are ignored. Raises
    :class:`~cutout.engine.errors.InvalidOption` for a value that is no longer valid."""
    return Options(**{k: v for k, v in data.items() if k in OPTION_FIELDS})
