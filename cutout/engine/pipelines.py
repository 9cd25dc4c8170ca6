"""Named pipelines: small functions from a decoded image to a full-resolution alpha matte.

A pipeline is ``(image, ctx) -> uint8 (H, W) alpha`` at the image's full resolution. ``fast`` runs
u2netp, ``balanced`` u2net and ``best`` (the default) ISNet and u2net fused (:mod:`.fusion`); each
then upsamples with the guided filter in :mod:`.refine`. Replace one by assigning a new
:class:`Pipeline` in :data:`PIPELINES` (the names themselves are :data:`.names.PIPELINE_NAMES`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import fusion, refine
from .decode import DecodedImage
from .inference import Context, predict
from .names import DEFAULT_PIPELINE, PIPELINE_NAMES, validate_pipeline
from .sessions import get_session, side_threads
from .timing import timed

__all__ = [
    "DEFAULT_PIPELINE",
    "PIPELINES",
    "Context",
    "Pipeline",
    "get_pipeline",
    "preload",
    "single_model",
]


@dataclass(frozen=True)
class Pipeline:
    name: str
    models: tuple[str, ...]
    description: str
    run: Callable[[DecodedImage, Context], np.ndarray]
    # Models the pipeline runs beside the first on a one-thread session when the machine allows
    # (:func:`.sessions.side_threads`): preloaded with the rest.
    side_models: tuple[str, ...] = ()


def single_model(model: str) -> Callable[[DecodedImage, Context], np.ndarray]:
    def run(image: DecodedImage, ctx: Context) -> np.ndarray:
        prob = predict(image, model, ctx)
        with timed(ctx.timings, "refine"):
            return refine.refine_matte(
                image.rgb_image, prob, work=image.reduced(2 * max(prob.shape))
            )

    run.__name__ = f"run_{model}"
    return run


PIPELINES: dict[str, Pipeline] = {
    "fast": Pipeline(
        "fast", ("u2netp",), "u2netp + guided upsampling: quickest", single_model("u2netp")
    ),
    "balanced": Pipeline(
        "balanced", ("u2net",), "u2net + guided upsampling", single_model("u2net")
    ),
    "best": Pipeline(
        "best",
        ("isnet", "u2net"),
        "ISNet 1024 + u2net fused in log-odds, cleaned and committed (fusion.py)",
        fusion.run_best,
        side_models=("u2net",),
    ),
}
if tuple(PIPELINES) != PIPELINE_NAMES:  # pragma: no cover - a programming error
    raise RuntimeError(f"PIPELINES defines {tuple(PIPELINES)}, names.py lists {PIPELINE_NAMES}")


def get_pipeline(name: str) -> Pipeline:
    """The pipeline called ``name``; :class:`InvalidOption` (field ``pipeline``) if unknown."""
    return PIPELINES[validate_pipeline(name)]


def preload(
    pipelines: list[str] | tuple[str, ...] | None = None, model_dir: object = None
) -> list[str]:
    """Create and warm the sessions for ``pipelines`` (default: all) now, e.g. in a Celery worker.

    Returns the model names loaded. Raises :class:`ModelMissing` if one is not installed, and
    :class:`InvalidOption` for an unknown pipeline name.
    """
    names = list(pipelines) if pipelines else list(PIPELINES)
    loaded: list[str] = []
    for name in names:
        pipeline = get_pipeline(name)
        directory = Path(str(model_dir)) if model_dir is not None else None
        side = side_threads()
        for model in pipeline.models:
            # get_session is a no-op for a session already made.
            get_session(model, directory, threads=side if model in pipeline.side_models else 0)
            if model not in loaded:
                loaded.append(model)
    return loaded
