"""The stored matte file: one RGBA PNG that is both the matte and a colour to re-render from.

A cutout's matte is kept so it can be rendered again later in other options without the model.
When the original upload is not kept, the colour must come from somewhere too, so the stored file
is RGBA: its alpha is the matte (what :func:`cutout.engine.matte_from_png` reads, with the matte's
facts in a text chunk), its colour the decontaminated subject where alpha > 0 and, where alpha is
0, a smooth spread of the subject's own colours instead of the background. So no background pixel
is kept, and when the renderer decontaminates edges again it finds subject-coloured surroundings
(the edge colour then moves at most ``(1 - alpha)`` of the way to the local subject colour,
instead of towards black).

- :func:`stored_matte_png` (decoded image, matte) -> the PNG bytes to store;
- :func:`decoded_from_stored_matte` (those bytes) -> the :class:`DecodedImage` to render from.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from scipy.ndimage import uniform_filter

from .decode import DecodedImage
from .encode import png_bytes
from .errors import InvalidImage
from .foreground import STAT_SIDE, estimate_foreground, interleave
from .matte import Matte, matte_text

FILL_SIDE = 256  # the subject-colour fill is computed on a copy this long, then upsampled


def stored_matte_png(image: DecodedImage, matte: Matte) -> bytes:
    """What the stored matte file holds: RGBA whose alpha is ``matte``'s, colour as above."""
    alpha = matte.alpha
    colour = estimate_foreground(image.rgb, alpha, reduced=image.reduced(STAT_SIDE))
    rgba = interleave(colour, alpha)
    outside = alpha == 0
    if outside.all():
        rgba[:] = 0
    elif outside.any():
        # One pass over 32-bit pixels; the fill's alpha is the matte's, i.e. 0 where it is used.
        fill = interleave(subject_colour_fill(colour, alpha), alpha)
        np.copyto(rgba.view("<u4")[..., 0], fill.view("<u4")[..., 0], where=outside)
    # The engine's PNG writer: a few times quicker than Pillow's on big images, and smaller.
    return png_bytes(rgba, text=matte_text(matte))


def subject_colour_fill(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """A smooth full-size RGB field: the alpha-weighted mean subject colour around each pixel,
    computed on a small copy at two scales (near the subject, then further out), falling back to
    the subject's overall mean colour far from it."""
    height, width = alpha.shape
    scale = min(1.0, FILL_SIDE / max(height, width))
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


def decoded_from_stored_matte(data: bytes) -> DecodedImage:
    """The colour of a stored matte file as an opaque RGB :class:`DecodedImage` (source ``PNG``),
    to render from when the original was not kept. :class:`InvalidImage` if it is no PNG."""
    try:
        with Image.open(io.BytesIO(data), formats=("PNG",)) as stored:
            stored.load()
            rgb = stored.convert("RGB")
    except Exception as exc:
        raise InvalidImage(f"stored matte is not a readable PNG ({exc})") from None
    return DecodedImage.from_pil(rgb, "PNG")
