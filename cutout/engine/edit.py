"""One refine call in bytes: the stored files in, the new files out (what a service stores).

:func:`edit_cutout` decodes the original, reads the automatic matte and the prior as stored,
refines with the hints (:func:`.guided.refine_with_hints`) and renders the result, returning the
new stored matte file (:func:`.stored.stored_matte_png`), the rendered result and, when it grew or
was missing, the prior to keep. The refine benchmark times exactly this.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .decode import DecodedImage, decode_image
from .errors import InvalidImage
from .guided import refine_with_hints
from .hints import Hint, parse_hints
from .limits import Limits
from .matte import Matte, matte_from_png
from .options import Options
from .prior import Prior, prior_from_bytes, prior_to_bytes
from .render import Result, render
from .stored import stored_matte_png


@dataclass(frozen=True, eq=False)
class Edit:
    hints: tuple[Hint, ...]
    matte: Matte
    stored_matte: bytes  # the new stored matte file (RGBA: alpha = matte, colour = subject)
    result: Result
    prior: bytes | None  # the prior to keep when it changed (None: keep the stored one)
    timings: dict[str, float]


def _read_prior(data: bytes | None) -> Prior | None:
    if not data:
        return None
    try:
        return prior_from_bytes(data)
    except InvalidImage:  # an unreadable prior is made again, never an error
        return None


def edit_cutout(
    original: bytes,
    hints: Any,
    *,
    base_matte: bytes,
    prior: bytes | None,
    options: Options,
    pipeline: str,
    limits: Limits | None = None,
    model_dir: Path | None = None,
    background: DecodedImage | None = None,
) -> Edit:
    """Refine a stored cutout with ``hints`` (raw list or :class:`Hint` objects) and render it
    (on ``background``, the picture ``options.bg_image`` names, when it names one)."""
    started = time.perf_counter()
    image = decode_image(original, limits or Limits())
    if isinstance(hints, tuple) and all(isinstance(h, Hint) for h in hints):
        parsed: tuple[Hint, ...] = hints
    else:
        parsed = parse_hints(hints, width=image.width, height=image.height)
    base = matte_from_png(base_matte)
    stored_prior = _read_prior(prior)
    loaded = time.perf_counter()
    refined = refine_with_hints(
        image, parsed, pipeline=pipeline, base=base, prior=stored_prior, model_dir=model_dir
    )
    refined_at = time.perf_counter()
    stored = stored_matte_png(image, refined.matte)
    result = render(image, refined.matte, options, background=background)
    new_prior = None
    if refined.prior is not None and (refined.prior_changed or stored_prior is None):
        new_prior = prior_to_bytes(refined.prior)
    done = time.perf_counter()
    timings = {
        "load": round((loaded - started) * 1000, 2),
        "guided": round((refined_at - loaded) * 1000, 2),
        "store": round((done - refined_at) * 1000, 2),
        "total": round((done - started) * 1000, 2),
    }
    return Edit(parsed, refined.matte, stored, result, new_prior, timings)
