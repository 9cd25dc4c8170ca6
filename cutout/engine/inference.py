"""One model run on one image: the network's input tensor, the session run, the stretched output.

:func:`predict` is what every pipeline calls per model: it times its stages (``load``,
``preprocess``, ``inference``, ``postprocess``) into the :class:`Context` it is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .decode import DecodedImage
from .registry import MODELS
from .sessions import get_session, run_model
from .timing import timed

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@dataclass
class Context:
    model_dir: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)
    confidence: float | None = None  # set by a pipeline that estimates its own error (fusion)
    # Each model's stretched prediction, by model name, as :func:`predict` returned it: kept on
    # the matte so guided refinement (:mod:`.prior`) never has to run the model again.
    predictions: dict[str, np.ndarray] = field(default_factory=dict)


def model_input(image: DecodedImage, model: str) -> np.ndarray:
    """The NCHW float32 tensor ``model`` expects for ``image`` (stretched to its square input)."""
    spec = MODELS[model]
    side = spec.input_size
    if image.has_alpha:
        # Transparent areas carry arbitrary colour; show the network the subject on neutral grey.
        source = Image.new("RGB", image.size, (128, 128, 128))
        source.paste(image.image, mask=image.image.getchannel("A"))
    else:
        # An integer box reduction first (shared with the refinement step), then Lanczos: the
        # antialiasing of a full Lanczos resize at a quarter of its cost.
        source = image.reduced(2 * side)
    method = Image.Resampling.BILINEAR if spec.resample == "bilinear" else Image.Resampling.LANCZOS
    small = source.resize((side, side), method)
    arr = np.asarray(small, dtype=np.float32)
    if spec.normalisation == "imagenet":
        arr = arr * (1.0 / max(float(arr.max()), 1e-6))
        arr = (arr - IMAGENET_MEAN) / IMAGENET_STD
    elif spec.normalisation == "isnet":
        arr = (arr - 128.0) * (1.0 / 256.0)
    else:  # pragma: no cover - registry entries are fixed
        raise ValueError(f"unknown normalisation {spec.normalisation!r}")
    return np.ascontiguousarray(arr.transpose(2, 0, 1)[None], dtype=np.float32)


def predict(image: DecodedImage, model: str, ctx: Context, *, threads: int = 0) -> np.ndarray:
    """Low-resolution foreground probability (model's input size), float32 in 0..1.

    ``threads`` > 0 runs it on a session of its own with that many threads (see
    :func:`cutout.engine.sessions.side_threads`)."""
    with timed(ctx.timings, "load"):
        # no-op once loaded; first use reads and warms the model
        get_session(model, ctx.model_dir, threads=threads)
    with timed(ctx.timings, "preprocess"):
        tensor = model_input(image, model)
    with timed(ctx.timings, "inference"):
        out = run_model(model, tensor, ctx.model_dir, threads=threads)
    with timed(ctx.timings, "postprocess"):
        out = stretch(out)
    ctx.predictions[model] = out
    return out


def stretch(prob: np.ndarray) -> np.ndarray:
    """Min-max scale a prediction to 0..1 when it found a subject; otherwise leave it (near 0).

    U^2-Net's side output is not calibrated, and min-max scaling is how it is read; ISNet's is a
    sigmoid already, but stretching it helped on the dev set too (IoU 0.8336 -> 0.8352, BF 0.6715
    -> 0.6730). Stretching a prediction that never reaches 0.5 would turn noise into a subject: on
    blank, black, white or noise images the raw maximum is below 0.06 for both U^2-Nets, while on
    every dev-set photo it is above 0.98. Such images get an empty matte (confidence 0).
    """
    low, high = float(prob.min()), float(prob.max())
    if high >= 0.5 and high - low > 1e-6:
        return (prob - low) * (1.0 / (high - low))
    return np.clip(prob, 0.0, 1.0)
