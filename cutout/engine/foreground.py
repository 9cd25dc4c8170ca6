"""Edge-colour decontamination: the colour of the subject itself where alpha is partial.

A pixel on a hair strand is a mix ``I = a*F + (1-a)*B`` of the subject ``F`` and the background
``B``. Cutting it out with its observed colour ``I`` keeps a rim of the old background (a green
fringe from a lawn, a white one from a studio wall). We estimate ``F`` with one level of *blur
fusion* (Germer et al., "Fast Multi-Level Foreground Estimation", 2020):

    F = F_s + a * (I - a*F_s - (1-a)*B_s)

where ``F_s`` is the alpha-weighted local mean of nearby foreground colour and ``B_s`` the same for
the background, refined over two levels (wide, then narrow) as in the paper. Both are smooth, so
they are computed on a small copy (long side about 256 px) and sampled bilinearly; the formula is
evaluated only on the partial-alpha pixels, which are a few percent of the image. Fully opaque
pixels keep their colour exactly. Measured at 1.5 MP: ~14 ms of CPU, against ~500 ms for
pymatting's full-resolution multilevel ``estimate_foreground_ml``.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy.ndimage import uniform_filter

STAT_SIDE = 256  # (about) the long side of the copy the local colour means are computed on
WIDE_RADIUS = 0.1  # level-1 box radius as a fraction of the long side
NARROW_RADIUS = 0.02  # level-2 radius
_EPS = 1e-3


def _blur(x: np.ndarray, radius: int) -> np.ndarray:
    size = (2 * radius + 1, 2 * radius + 1, 1)
    return uniform_filter(x, size=size, mode="nearest")


def _blur_means(
    fg: np.ndarray, bg: np.ndarray, a: np.ndarray, radius: int
) -> tuple[np.ndarray, np.ndarray]:
    """Alpha-weighted local means of foreground and (1-alpha)-weighted of background colour."""
    blur_a = _blur(a, radius)
    fg_mean = (_blur(fg * a, radius) + _EPS * fg) / (blur_a + _EPS)
    bg_mean = (_blur(bg * (1.0 - a), radius) + _EPS * bg) / ((1.0 - blur_a) + _EPS)
    return fg_mean, bg_mean


def _blur_fusion(
    image: np.ndarray, fg: np.ndarray, bg: np.ndarray, a: np.ndarray, radius: int
) -> tuple[np.ndarray, np.ndarray]:
    fg_mean, bg_mean = _blur_means(fg, bg, a, radius)
    estimate = fg_mean + a * (image - a * fg_mean - (1.0 - a) * bg_mean)
    return np.clip(estimate, 0.0, 1.0), bg_mean


def _band(alpha: np.ndarray) -> np.ndarray:
    """Flat indices of the partial-alpha pixels, 0 < alpha < 255 (one wrapping subtraction: 0
    becomes 255), several times quicker than two comparisons and a 2-D ``nonzero``."""
    return np.flatnonzero((alpha.reshape(-1) - np.uint8(1)) < np.uint8(254))


def _bilinear_at(small: np.ndarray, index: np.ndarray, full: tuple[int, int]) -> np.ndarray:
    """Sample ``small`` (h, w, c) bilinearly at the centres of the full-resolution pixels whose
    flat indices (row-major in ``full`` = (height, width)) are ``index``."""
    h, w, channels = small.shape
    ys, xs = np.divmod(index, full[1])
    fy = np.clip((ys + 0.5) * (h / full[0]) - 0.5, 0.0, h - 1.0).astype(np.float32)
    fx = np.clip((xs + 0.5) * (w / full[1]) - 0.5, 0.0, w - 1.0).astype(np.float32)
    y0, x0 = fy.astype(np.intp), fx.astype(np.intp)
    wy, wx = (fy - y0)[:, None], (fx - x0)[:, None]
    row0, row1 = y0 * w, np.minimum(y0 + 1, h - 1) * w
    x1 = np.minimum(x0 + 1, w - 1)
    flat = small.reshape(-1, channels)
    top = np.take(flat, row0 + x0, axis=0)  # ``take`` gathers rows several times quicker than []
    top += (np.take(flat, row0 + x1, axis=0) - top) * wx
    bottom = np.take(flat, row1 + x0, axis=0)
    bottom += (np.take(flat, row1 + x1, axis=0) - bottom) * wx
    top += (bottom - top) * wy
    return top


def estimate_foreground(
    rgb: np.ndarray, alpha: np.ndarray, *, reduced: Image.Image | None = None
) -> np.ndarray:
    """Return a copy of ``rgb`` (H, W, 3 uint8) with partial-alpha pixels decontaminated.

    ``reduced``, optional: the same image as RGB box-reduced by ``max(H, W) // STAT_SIDE``
    (``DecodedImage.reduced(STAT_SIDE)``), which spares converting ``rgb`` back to Pillow.
    """
    out = np.array(rgb, dtype=np.uint8, copy=True)
    index = _band(alpha)
    if index.size:
        out.reshape(-1, 3)[index] = _decontaminate(rgb, alpha, index, reduced)
    return out


def cutout_rgba(
    rgb: np.ndarray,
    alpha: np.ndarray,
    *,
    zero_hidden: bool = True,
    reduced: Image.Image | None = None,
) -> np.ndarray:
    """(H, W, 4) uint8: decontaminated colour plus ``alpha`` (``reduced`` as for
    :func:`estimate_foreground`).

    With ``zero_hidden`` fully transparent pixels become (0, 0, 0, 0): they are invisible, zeros
    compress to nothing, and the hidden background cannot leak out of the file.
    """
    rgba = interleave(rgb, alpha)
    index = _band(alpha)
    if index.size:
        rgba.reshape(-1, 4)[index, :3] = _decontaminate(rgb, alpha, index, reduced)
    if zero_hidden:
        pixels = rgba.view(np.uint32).reshape(alpha.shape)  # one 32-bit word per pixel
        np.multiply(pixels, alpha > 0, out=pixels)
    return rgba


def interleave(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(H, W, 4) uint8 RGBA from ``rgb`` and ``alpha``, built as little-endian 32-bit words
    ``A<<24 | B<<16 | G<<8 | R`` in a few whole-array integer operations: 3-5x quicker than
    Pillow's ``putalpha`` and a copy out (2 vs 11 ms at 1.5 MP, 66 vs 210 ms at 24 MP)."""
    words = alpha.astype("<u4")
    for channel in (2, 1, 0):
        words <<= 8
        words |= rgb[..., channel]
    return words.view(np.uint8).reshape(*alpha.shape, 4)


def _decontaminate(
    rgb: np.ndarray, alpha: np.ndarray, index: np.ndarray, reduced: Image.Image | None = None
) -> np.ndarray:
    """Foreground colour (N, 3) uint8 at the band pixels (flat indices ``index``)."""
    height, width = alpha.shape
    factor = max(1, max(height, width) // STAT_SIDE)  # integer box reduction: cheap in Pillow
    small_size = (-(-width // factor), -(-height // factor))  # what Pillow's reduce gives
    if reduced is not None and reduced.mode == "RGB" and reduced.size == small_size:
        small_rgb = reduced
    else:  # converting a big array back to Pillow costs more than the reduction itself
        small_rgb = Image.fromarray(rgb).reduce(factor)
    small_a = Image.fromarray(alpha).reduce(factor)
    i_s = np.asarray(small_rgb, dtype=np.float32) * (1.0 / 255.0)
    a_s = np.asarray(small_a, dtype=np.float32)[..., None] * (1.0 / 255.0)
    long_side = max(small_rgb.size)
    # Level 1, wide: colour means from far enough away to reach clean foreground and background.
    f1, b1 = _blur_fusion(i_s, i_s, i_s, a_s, max(3, round(WIDE_RADIUS * long_side)))
    # Level 2, narrow: the same with level 1's estimates, for local colour.
    fg_mean, bg_mean = _blur_means(f1, b1, a_s, max(2, round(NARROW_RADIUS * long_side)))
    # Bilinear samples of the two smooth maps at the band pixels only (a few percent of the image).
    both = _bilinear_at(np.concatenate([fg_mean, bg_mean], axis=2), index, (height, width))
    f_s, b_s = both[:, :3], both[:, 3:]
    a = alpha.reshape(-1)[index].astype(np.float32)[:, None] * (1.0 / 255.0)
    i = rgb.reshape(-1, 3)[index].astype(np.float32) * (1.0 / 255.0)
    f = f_s + a * (i - a * f_s - (1.0 - a) * b_s)
    return np.clip(f * 255.0 + 0.5, 0, 255).astype(np.uint8)
