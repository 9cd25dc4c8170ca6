"""Deprecated alias of :mod:`.registry` and :mod:`.sessions` (this module's old contents).

Kept only so code outside the engine that still says ``cutout.engine.models`` (``cutout/config.py``,
``cutout/health.py`` when this was written) keeps working while it moves to ``cutout.engine`` or
``cutout.engine.registry``. Delete this file once nothing imports it: ``grep -rn engine.models``.
"""

from __future__ import annotations

from .registry import (
    FETCH_HINT,
    MODELS,
    ModelSource,
    ModelSpec,
    check_model,
    default_model_dir,
    file_sha256,
    list_models,
    model_path,
    resolve_model_dir,
)
from .sessions import configure, get_session, loaded_models, output_name, run_model, side_threads
from .timing import timed

__all__ = [
    "FETCH_HINT",
    "MODELS",
    "ModelSource",
    "ModelSpec",
    "check_model",
    "configure",
    "default_model_dir",
    "file_sha256",
    "get_session",
    "list_models",
    "loaded_models",
    "model_path",
    "output_name",
    "resolve_model_dir",
    "run_model",
    "side_threads",
    "timed",
]
