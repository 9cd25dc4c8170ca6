"""The one-call entry point: bytes and options in, a :class:`Result` out."""

from __future__ import annotations

import time
from pathlib import Path

from .decode import decode_background, decode_image
from .matte import compute_matte
from .options import Limits, Options
from .render import Result, render


def process(
    data: bytes,
    options: Options,
    *,
    limits: Limits | None = None,
    model_dir: Path | None = None,
    background: bytes | None = None,
) -> Result:
    """Decode ``data``, compute the matte with ``options.pipeline`` and render ``options``
    (on ``background``, the bytes of the picture ``options.bg_image`` names, if any)."""
    start = time.perf_counter()
    image = decode_image(data, limits or Limits())
    backdrop = decode_background(background, limits) if background is not None else None
    decode_ms = round((time.perf_counter() - start) * 1000.0, 2)
    matte = compute_matte(image, pipeline=options.pipeline, model_dir=model_dir)
    result = render(image, matte, options, background=backdrop)
    timings = result.metadata["timings_ms"]
    timings["decode"] = decode_ms
    timings["total"] = round((time.perf_counter() - start) * 1000.0, 2)
    result.metadata["source_format"] = image.source_format
    return result
