"""Cutout's engine: image bytes in, cutout bytes and metadata out. No Django here.

Typical use::

    from cutout.engine import Options, Limits, process
    result = process(data, Options(mode="transparent", format="png"), limits=Limits())
    result.data, result.content_type, result.metadata

or, to render many variants from one model run::

    image = decode_image(data, limits)
    matte = compute_matte(image, pipeline="best")
    png = render(image, matte, Options(format="png")).data
    stored = matte_to_png(matte)          # keep it; later:
    jpg = render(image, matte_from_png(stored), Options(mode="background", format="jpeg"))

A cutout's stored matte file (alpha plus a colour to re-render from when the original is gone)::

    data = stored_matte_png(image, matte)
    render(decoded_from_stored_matte(data), matte_from_png(data), Options(mode="mask"))

Nothing here imports Django or Celery (a test imports this package in a fresh interpreter and
checks). Setup-time code (fetching weights, building int8 files) is :mod:`cutout.engine.setup`.
"""

from .decode import ACCEPTED_FORMATS, DecodedImage, decode_background, decode_image
from .edit import Edit, edit_cutout
from .errors import (
    DecompressionBomb,
    EngineError,
    ImageTooLarge,
    ImageTooSmall,
    InvalidImage,
    InvalidOption,
    ModelMissing,
    NoForeground,
    ProviderUnavailable,
    TooManyPixels,
    TruncatedImage,
    UnsupportedFormat,
)
from .guided import Refined, refine_with_hints
from .hints import MAX_HINTS, MAX_STROKE_POINTS, Hint, hints_as_json, parse_hints, parse_roi
from .limits import Limits
from .matte import (
    Matte,
    compute_matte,
    foreground_found,
    matte_from_png,
    matte_to_png,
    require_foreground,
)
from .names import (
    CHANNELS,
    FORMATS,
    MODES,
    PIPELINE_NAMES,
    PREVIEW_MAX_PIXELS,
    SHADOW_TYPES,
    SIZES,
    validate_pipeline,
)
from .options import Options
from .optionspec import (
    OPTION_FIELDS,
    OPTION_SPECS,
    OptionSpec,
    option_properties,
    options_as_dict,
    options_from_dict,
)
from .pipelines import DEFAULT_PIPELINE, PIPELINES, preload
from .prior import Prior, prior_from_bytes, prior_from_matte, prior_to_bytes
from .process import process
from .registry import MODELS, check_model, default_model_dir, list_models
from .render import Result, render
from .runtime import check_providers
from .sessions import configure, get_session, loaded_models, side_threads
from .stored import decoded_from_stored_matte, stored_matte_png
from .values import parse_color

__all__ = [
    "ACCEPTED_FORMATS",
    "CHANNELS",
    "DEFAULT_PIPELINE",
    "FORMATS",
    "MAX_HINTS",
    "MAX_STROKE_POINTS",
    "MODELS",
    "MODES",
    "OPTION_FIELDS",
    "OPTION_SPECS",
    "PIPELINES",
    "PIPELINE_NAMES",
    "PREVIEW_MAX_PIXELS",
    "SHADOW_TYPES",
    "SIZES",
    "DecodedImage",
    "DecompressionBomb",
    "Edit",
    "EngineError",
    "Hint",
    "ImageTooLarge",
    "ImageTooSmall",
    "InvalidImage",
    "InvalidOption",
    "Limits",
    "Matte",
    "ModelMissing",
    "NoForeground",
    "OptionSpec",
    "Options",
    "Prior",
    "ProviderUnavailable",
    "Refined",
    "Result",
    "TooManyPixels",
    "TruncatedImage",
    "UnsupportedFormat",
    "check_model",
    "check_providers",
    "compute_matte",
    "configure",
    "decode_background",
    "decode_image",
    "decoded_from_stored_matte",
    "default_model_dir",
    "edit_cutout",
    "foreground_found",
    "get_session",
    "hints_as_json",
    "list_models",
    "loaded_models",
    "matte_from_png",
    "matte_to_png",
    "option_properties",
    "options_as_dict",
    "options_from_dict",
    "parse_color",
    "parse_hints",
    "parse_roi",
    "preload",
    "prior_from_bytes",
    "prior_from_matte",
    "prior_to_bytes",
    "process",
    "refine_with_hints",
    "render",
    "require_foreground",
    "side_threads",
    "stored_matte_png",
    "validate_pipeline",
]
