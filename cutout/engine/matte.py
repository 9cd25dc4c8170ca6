"""The alpha matte: computed once per image, stored as an 8-bit PNG, rendered many times."""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .decode import DecodedImage
from .encode import png_bytes
from .errors import InvalidImage, NoForeground
from .inference import Context
from .pipelines import get_pipeline

_TEXT_KEY = "cutout-matte"
# "Nothing found": fewer matte pixels than this above FOREGROUND_ALPHA (the alpha that counts as
# subject for boxes and crops). Measured (docs/api.md, "unknown_foreground"): every pipeline's
# matte of a solid colour, a gradient or plain noise is 0 everywhere; on the 155 dev-set photos the
# smallest share is 0.15 % (u2netp, one photo), 1.3 % (u2net) and well above for best.
FOREGROUND_ALPHA = 10
MIN_FOREGROUND_SHARE = 0.0005
MIN_FOREGROUND_PIXELS = 16


@dataclass(frozen=True, eq=False)
class Matte:
    """Full-resolution uint8 alpha (H, W) for one decoded image, plus how it was made.

    ``confidence`` (0..1) says how decisive the matte is around the subject: 1 means every pixel
    near the subject is clearly in or out; low values mean wide uncertain areas (a hard image, or no
    clear subject). 0 when no subject was found at all.
    """

    alpha: np.ndarray
    confidence: float
    pipeline: str
    models: tuple[str, ...]
    timings: dict[str, float] = field(default_factory=dict)
    # The models' own predictions (model name -> stretched probability at its input size), when
    # this matte was just computed: what :func:`cutout.engine.prior.prior_from_matte` keeps.
    predictions: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def width(self) -> int:
        return int(self.alpha.shape[1])

    @property
    def height(self) -> int:
        return int(self.alpha.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    @property
    def coverage(self) -> float:
        """Foreground fraction of the image: mean alpha in 0..1."""
        return float(self.alpha.mean() / 255.0) if self.alpha.size else 0.0


def compute_matte(
    image: DecodedImage, *, pipeline: str = "best", model_dir: Path | None = None
) -> Matte:
    """Run ``pipeline`` on ``image``; the result has the image's exact size."""
    spec = get_pipeline(pipeline)
    ctx = Context(model_dir=model_dir)
    start = time.perf_counter()
    alpha = spec.run(image, ctx)
    post_start = time.perf_counter()
    if image.alpha is not None:
        # The source's own transparency stays transparent whatever the model thinks.
        alpha = ((alpha.astype(np.uint16) * image.alpha + 127) // 255).astype(np.uint8)
    confidence = ctx.confidence if ctx.confidence is not None else matte_confidence(alpha)
    ctx.timings["refine"] = round(
        ctx.timings.get("refine", 0.0) + (time.perf_counter() - post_start) * 1000, 2
    )
    ctx.timings["matte"] = round((time.perf_counter() - start) * 1000, 2)
    return Matte(
        alpha, confidence, spec.name, spec.models, dict(ctx.timings), dict(ctx.predictions)
    )


def foreground_found(matte: Matte) -> bool:
    """Whether the matte holds a subject at all: at least 0.05 % of the pixels (and 16) above
    alpha 10. Confidence is no help here: on an empty matte the fused pipeline is *confidently*
    empty (0.95+), so only the matte's own coverage decides."""
    total = matte.alpha.size
    if total == 0:
        return False
    # Counted on a strided copy of big mattes: the share, not the exact count, matters.
    step = max(1, int(np.sqrt(total / 1_000_000)))
    sample = matte.alpha[::step, ::step]
    found = int(np.count_nonzero(sample > FOREGROUND_ALPHA)) * step * step
    return found >= max(MIN_FOREGROUND_PIXELS, MIN_FOREGROUND_SHARE * total)


def require_foreground(matte: Matte) -> None:
    """Raise :class:`NoForeground` when :func:`foreground_found` says the matte is empty."""
    if not foreground_found(matte):
        raise NoForeground(
            "Could not identify a foreground in the image: it looks empty (a plain surface or "
            "a single colour)."
        )


def matte_confidence(alpha: np.ndarray) -> float:
    """Decisiveness of the matte around the subject, 0..1 (0 when there is no subject).

    Measured on a small copy: within the subject's bounding box grown by 10%, the mean of
    ``|2a - 1|`` (1 for clear in/out pixels, 0 for a 50% pixel). A wide fuzzy band or a
    half-hearted blob lowers it; a crisp subject on a clean background gives about 0.95+.
    """
    small = alpha
    step = max(1, max(alpha.shape) // 256)
    if step > 1:
        small = alpha[::step, ::step]
    fg = small >= 128
    if not fg.any():
        return 0.0
    rows = np.flatnonzero(fg.any(axis=1))
    cols = np.flatnonzero(fg.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    pad_y, pad_x = max(1, (bottom - top) // 10), max(1, (right - left) // 10)
    box = small[max(0, top - pad_y) : bottom + pad_y, max(0, left - pad_x) : right + pad_x]
    values = box.astype(np.float32) * (2.0 / 255.0) - 1.0
    return round(float(np.abs(values).mean()), 4)


def matte_text(matte: Matte) -> dict[str, str]:
    """The matte's facts as the PNG text chunk :func:`matte_from_png` reads back."""
    meta: dict[str, Any] = {
        "confidence": matte.confidence,
        "pipeline": matte.pipeline,
        "models": list(matte.models),
        "timings": matte.timings,
    }
    return {_TEXT_KEY: json.dumps(meta, separators=(",", ":"))}


def matte_to_png(matte: Matte) -> bytes:
    """8-bit greyscale PNG of the alpha with the matte's facts in a text chunk."""
    return png_bytes(matte.alpha, text=matte_text(matte))


def matte_from_png(data: bytes) -> Matte:
    """Inverse of :func:`matte_to_png`. A plain greyscale PNG loads too (confidence recomputed)."""
    try:
        with Image.open(io.BytesIO(data), formats=("PNG",)) as image:
            image.load()
            text = image.info.get(_TEXT_KEY)
            if image.mode in ("LA", "RGBA", "PA"):
                alpha = np.asarray(image.getchannel("A"))
            else:
                alpha = np.asarray(image.convert("L"))
    except Exception as exc:
        raise InvalidImage(f"stored matte is not a readable PNG ({exc})") from None
    alpha = np.array(alpha, dtype=np.uint8, copy=True)
    meta: dict[str, Any] = {}
    if isinstance(text, str):
        try:
            meta = json.loads(text)
        except ValueError:
            meta = {}
    return Matte(
        alpha,
        float(meta.get("confidence", matte_confidence(alpha))),
        str(meta.get("pipeline", "unknown")),
        tuple(meta.get("models", ())),
        dict(meta.get("timings", {})),
    )
