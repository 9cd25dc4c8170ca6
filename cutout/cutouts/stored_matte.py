"""The stored matte file: RGBA whose alpha is the matte and whose colour lets a cutout be rendered
again without its original. (Image maths; it moves into the engine.)"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image
from scipy.ndimage import uniform_filter

from cutout import engine
from cutout.engine.encode import png_bytes
from cutout.engine.foreground import STAT_SIDE, estimate_foreground, interleave
from cutout.engine.matte import matte_text


def foreground_png(decoded: Any, matte: Any) -> bytes:
    """What the stored matte file holds: RGBA whose alpha is the matte.

    The alpha channel is what :func:`engine.matte_from_png` reads. The colour lets the cutout be
    re-rendered later (another mode, background or format) when the original was not kept: the
    decontaminated subject where alpha > 0, and where alpha is 0 a smooth spread of the subject's
    own colours instead of the background. So no background pixel is kept, and when the renderer
    decontaminates edges again it finds subject-coloured surroundings (the edge colour then moves
    at most ``(1 - alpha)`` of the way to the local subject colour, instead of towards black).
    """
    alpha = matte.alpha
    colour = estimate_foreground(decoded.rgb, alpha, reduced=decoded.reduced(STAT_SIDE))
    rgba = interleave(colour, alpha)
    outside = alpha == 0
    if outside.all():
        rgba[:] = 0
    elif outside.any():
        # One pass over 32-bit pixels; the fill's alpha is the matte's, i.e. 0 where it is used.
        fill = interleave(_subject_colour_fill(colour, alpha), alpha)
        np.copyto(rgba.view("<u4")[..., 0], fill.view("<u4")[..., 0], where=outside)
    # The engine's PNG writer: a few times quicker than Pillow's on big images, and smaller.
    return png_bytes(rgba, text=matte_text(matte))


def _subject_colour_fill(colour: Any, alpha: Any) -> Any:
    """A smooth full-size RGB field: the alpha-weighted mean subject colour around each pixel,
    computed on a small copy at two scales (near the subject, then further out), falling back to
    the subject's overall mean colour far from it."""
    height, width = alpha.shape
    scale = min(1.0, 256 / max(height, width))
    small = (max(1, round(width * scale)), max(1, round(height * scale)))
    c = np.asarray(Image.fromarray(colour, "RGB").resize(small, Image.Resampling.BOX), np.float32)
    a = np.asarray(Image.fromarray(alpha, "L").resize(small, Image.Resampling.BOX), np.float32)
    a = a[..., None] / 255.0
    total = float(a.sum())
    mean = (c * a).sum(axis=(0, 1)) / max(total, 1e-6)
    field = np.broadcast_to(mean, c.shape).copy()
    for radius in (max(small) // 4, max(small) // 24):
        size = (2 * max(radius, 1) + 1,) * 2 + (1,)
        weight = uniform_filter(a, size=size, mode="nearest")
        spread = uniform_filter(c * a, size=size, mode="nearest") / np.maximum(weight, 1e-6)
        use = np.clip(weight * 20.0, 0.0, 1.0)
        field = spread * use + field * (1.0 - use)
    big = Image.fromarray(np.clip(field + 0.5, 0, 255).astype(np.uint8), "RGB")
    return np.asarray(big.resize((width, height), Image.Resampling.BILINEAR))


def colour_from_png(matte_bytes: bytes) -> engine.DecodedImage:
    """The colour stored in a matte file, as an image to render from."""
    with Image.open(io.BytesIO(matte_bytes)) as stored:
        stored.load()
        rgb = stored.convert("RGB")
    return engine.DecodedImage.from_pil(rgb, "PNG")
