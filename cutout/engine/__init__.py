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
"""

from .decode import ACCEPTED_FORMATS, DecodedImage, decode_image
from .errors import (
    DecompressionBomb,
    EngineError,
    ImageTooLarge,
    ImageTooSmall,
    InvalidImage,
    InvalidOption,
    ModelMissing,
    TooManyPixels,
    TruncatedImage,
    UnsupportedFormat,
)
from .matte import Matte, compute_matte, matte_from_png, matte_to_png
from .models import (
    MODELS,
    configure,
    default_model_dir,
    get_session,
    list_models,
    loaded_models,
    side_threads,
)
from .options import CHANNELS, FORMATS, MODES, SIZES, Limits, Options, parse_color
from .pipelines import DEFAULT_PIPELINE, PIPELINES
from .process import process
from .render import Result, render


def preload(
    pipelines: list[str] | tuple[str, ...] | None = None, model_dir: object = None
) -> list[str]:
    """Create and warm the sessions for ``pipelines`` (default: all) now, e.g. in a Celery worker.

    Returns the model names loaded. Raises :class:`ModelMissing` if one is not installed.
    """
    from pathlib import Path

    names = list(pipelines) if pipelines else list(PIPELINES)
    loaded: list[str] = []
    for name in names:
        if name not in PIPELINES:
            raise InvalidOption(f"pipeline={name!r} is unknown", field="pipeline")
        directory = Path(str(model_dir)) if model_dir is not None else None
        pipeline = PIPELINES[name]
        side = side_threads()
        for model in pipeline.models:
            # get_session is a no-op for a session already made.
            get_session(model, directory, threads=side if model in pipeline.side_models else 0)
            if model not in loaded:
                loaded.append(model)
    return loaded


__all__ = [
    "ACCEPTED_FORMATS",
    "CHANNELS",
    "DEFAULT_PIPELINE",
    "FORMATS",
    "MODELS",
    "MODES",
    "PIPELINES",
    "SIZES",
    "DecodedImage",
    "DecompressionBomb",
    "EngineError",
    "ImageTooLarge",
    "ImageTooSmall",
    "InvalidImage",
    "InvalidOption",
    "Limits",
    "Matte",
    "ModelMissing",
    "Options",
    "Result",
    "TooManyPixels",
    "TruncatedImage",
    "UnsupportedFormat",
    "compute_matte",
    "configure",
    "decode_image",
    "default_model_dir",
    "list_models",
    "loaded_models",
    "matte_from_png",
    "matte_to_png",
    "parse_color",
    "preload",
    "process",
    "render",
]
