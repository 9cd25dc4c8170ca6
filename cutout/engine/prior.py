"""The prior: the models' own outputs for one image, kept so refining never reruns the models.

Guided refinement (:mod:`.guided`) needs the evidence behind the matte, not just the matte: the
log-odds say how sure the models were about each pixel, and a click flips the pixels that were
less sure than the clicked one first. So each model's stretched prediction (at its input size:
ISNet 1024², U^2-Nets 320²) is kept from the upload's own model run (:func:`prior_from_matte`)
in one compact file beside the matte (:func:`prior_to_bytes`: a compressed ``.npz`` of 16-bit
probabilities, about 0.1-1 MB). A box hint's crop re-run (``crop_unary``) is kept in it too (the
last box only), so the clicks that follow a box reuse it.

A prior may lack a model (a cutout made before priors were kept, or a pipeline that skipped a
model on an easy image): :func:`ensure_models` runs just what is missing, and the caller keeps the
grown prior. Everything here is deterministic: the same image gives the same prior, bit for bit.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import fusion, refine
from .decode import DecodedImage
from .errors import InvalidImage
from .inference import Context, predict
from .matte import Matte
from .pipelines import get_pipeline

_SCALE = 65535.0
Box = tuple[int, int, int, int]


@dataclass(frozen=True, eq=False)
class Prior:
    """Predictions for an image of ``size`` (width, height): model name -> float32 0..1 map.

    ``crop_box`` / ``crop`` hold the predictions of the models re-run on that box of the image.
    """

    size: tuple[int, int]
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    crop_box: Box | None = None
    crop: dict[str, np.ndarray] = field(default_factory=dict)

    def has(self, models: tuple[str, ...]) -> bool:
        return all(model in self.predictions for model in models)


def prior_from_matte(image: DecodedImage, matte: Matte) -> Prior:
    """The prior a just-computed matte carries (possibly without some models: see the module)."""
    return Prior(size=image.size, predictions=dict(matte.predictions))


def _quantise(prob: np.ndarray) -> np.ndarray:
    return np.round(np.clip(prob, 0.0, 1.0) * _SCALE).astype(np.uint16)


def prior_to_bytes(prior: Prior) -> bytes:
    """The prior as a compressed ``.npz`` (16-bit probabilities; no pickled objects)."""
    arrays: dict[str, np.ndarray] = {"size": np.asarray(prior.size, np.int64)}
    for name, prob in sorted(prior.predictions.items()):
        arrays[f"p_{name}"] = _quantise(prob)
    if prior.crop_box is not None:
        arrays["crop_box"] = np.asarray(prior.crop_box, np.int64)
        for name, prob in sorted(prior.crop.items()):
            arrays[f"c_{name}"] = _quantise(prob)
    out = io.BytesIO()
    np.savez_compressed(out, **arrays)  # type: ignore[arg-type]
    return out.getvalue()


def prior_from_bytes(data: bytes) -> Prior:
    """Inverse of :func:`prior_to_bytes`; :class:`InvalidImage` when the bytes are not one."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        width, height = (int(v) for v in arrays.pop("size"))
        box = arrays.pop("crop_box", None)
    except Exception as exc:
        raise InvalidImage(f"stored prior is not readable ({type(exc).__name__})") from None

    def maps(prefix: str) -> dict[str, np.ndarray]:
        return {
            key[len(prefix) :]: value.astype(np.float32) / np.float32(_SCALE)
            for key, value in arrays.items()
            if key.startswith(prefix)
        }

    return Prior(
        size=(width, height),
        predictions=maps("p_"),
        crop_box=tuple(int(v) for v in box) if box is not None else None,  # type: ignore[arg-type]
        crop=maps("c_") if box is not None else {},
    )


def ensure_models(
    prior: Prior | None, image: DecodedImage, pipeline: str, *, model_dir: Path | None = None
) -> Prior:
    """``prior`` with every model of ``pipeline`` present (missing ones run now on ``image``).

    A prior made for another image size is discarded and made afresh."""
    if prior is None or prior.size != image.size:
        prior = Prior(size=image.size)
    models = get_pipeline(pipeline).models
    if prior.has(models):
        return prior
    ctx = Context(model_dir=model_dir)
    grown = dict(prior.predictions)
    for model in models:
        if model not in grown:
            grown[model] = predict(image, model, ctx)
    return replace(prior, predictions=grown)


def unary(predictions: dict[str, np.ndarray], pipeline: str, size: tuple[int, int]) -> np.ndarray:
    """Log-odds of foreground at ``size`` (width, height) from the pipeline's predictions.

    ``best``: the fusion's own :func:`.fusion.fused_logit` of ISNet and u2net (the matte's
    decision is ``z > 0`` before its clean-up). A single model: twice its logit, the same scale
    (the two fusion weights sum to 2) with the same 0.5 decision as its matte.
    """
    models = get_pipeline(pipeline).models
    probs = [refine.resize_float(predictions[m], size) for m in models]
    if len(probs) == 2:
        return fusion.fused_logit(probs[0], probs[1])
    return fusion.logit(probs[0]) * np.float32(2.0)


def crop_unary(
    prior: Prior,
    image: DecodedImage,
    box: Box,
    pipeline: str,
    *,
    model_dir: Path | None = None,
) -> tuple[np.ndarray, Prior]:
    """Log-odds of the pipeline's models re-run on ``box`` of ``image``, at the box's pixel size,
    and the prior that remembers them (the same box again costs no model run)."""
    models = get_pipeline(pipeline).models
    if prior.crop_box != box or not all(m in prior.crop for m in models):
        x0, y0, x1, y1 = box
        crop = DecodedImage.from_pil(image.image.crop((x0, y0, x1, y1)), image.source_format)
        ctx = Context(model_dir=model_dir)
        predictions = {model: predict(crop, model, ctx) for model in models}
        prior = replace(prior, crop_box=box, crop=predictions)
    size = (box[2] - box[0], box[3] - box[1])
    return unary(prior.crop, pipeline, size), prior
