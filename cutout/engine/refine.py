"""From a low-resolution probability map to a full-resolution alpha matte whose edges follow the image.

Plain upscaling of a 320x320 (or 1024x1024) prediction gives a soft, blurry ramp several pixels wide
around the subject: a halo. A *fast guided filter* (He & Sun, 2015) fixes that cheaply: the local
linear model ``alpha ~ a * I + b`` is fitted at a modest working resolution, where box filters are
cheap, and only the two coefficient maps are upsampled; the final ``a * I + b`` at full resolution
then carries the image's own edges. Cost at full resolution: two bilinear upsamples and one
multiply-add, a few milliseconds for 1.5 MP.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy.ndimage import uniform_filter

# Working resolution for the guided filter's statistics: at least this many pixels on the long side.
GUIDE_MIN_SIDE = 640
GUIDE_RADIUS = 3  # box radius in working-resolution pixels
GUIDE_EPS = 2e-3  # regulariser: smaller follows image edges harder
# Below this upscale factor (image long side / prediction long side) plain bilinear upsampling is
# as good: on the dev set (images <= 640 px, factor <= 2 for 320 px models) the guided filter only
# copied texture into the matte and cost IoU/MAE/BF. Above it, plain upsampling leaves a halo as
# wide as the factor, which the guided filter removes.
GUIDE_MIN_FACTOR = 2.5
BAND = (0.02, 0.98)  # the guided result is used only where the upsampled prediction is unsure
# Final tone curve: values under 10% (faint haze over the background) go to 0 and over 90% to 1,
# the rest is stretched linearly. Measured on the dev set with u2netp: MAE 0.0608 -> 0.0579, IoU
# and BF unchanged (the 50% contour does not move); cutouts get a clean background and tight boxes.
CURVE = (0.10, 0.90)


def _box(x: np.ndarray, radius: int) -> np.ndarray:
    return uniform_filter(x, size=2 * radius + 1, mode="nearest")


def resize_float(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a float32 (H, W) map to ``size`` = (width, height)."""
    if values.shape[1] == size[0] and values.shape[0] == size[1]:
        return values
    image = Image.fromarray(np.ascontiguousarray(values, dtype=np.float32), "F")
    return np.asarray(image.resize(size, Image.Resampling.BILINEAR), dtype=np.float32)


def upsample(prob: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return resize_float(prob, size)


def guided_upsample(
    guide: Image.Image,
    prob: np.ndarray,
    *,
    min_side: int = GUIDE_MIN_SIDE,
    radius: int = GUIDE_RADIUS,
    eps: float = GUIDE_EPS,
) -> np.ndarray:
    """Full-resolution float32 alpha in 0..1 from ``prob`` (h, w), guided by ``guide`` (RGB, full res)."""
    width, height = guide.size
    work_side = max(min_side, max(prob.shape))
    scale = min(1.0, work_side / max(width, height))
    work = (max(1, round(width * scale)), max(1, round(height * scale)))
    grey_full = guide.convert("L")
    grey = (
        grey_full
        if work == guide.size
        else grey_full.resize(work, Image.Resampling.BILINEAR, reducing_gap=2.0)
    )
    i_low = np.asarray(grey, dtype=np.float32) * (1.0 / 255.0)
    p_low = resize_float(prob, work)
    mean_i = _box(i_low, radius)
    mean_p = _box(p_low, radius)
    cov_ip = _box(i_low * p_low, radius) - mean_i * mean_p
    var_i = _box(i_low * i_low, radius) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    mean_a = resize_float(_box(a, radius), guide.size)
    mean_b = resize_float(_box(b, radius), guide.size)
    i_full = np.asarray(grey_full, dtype=np.float32) * (1.0 / 255.0)
    out = mean_a * i_full
    out += mean_b
    return out


def refine_matte(
    guide: Image.Image, prob: np.ndarray, *, work: Image.Image | None = None
) -> np.ndarray:
    """The engine's standard refinement, full-resolution uint8 alpha from a low-res prediction.

    All float work happens at a working resolution (the prediction's, or about twice it when the
    guided filter runs; ``work`` may supply that copy of the guide, already reduced); the only
    full-resolution step is one 8-bit bilinear upsample in Pillow, which keeps post-processing to
    a few milliseconds at 1.5 MP.
    """
    width, height = guide.size
    factor = max(width, height) / max(prob.shape)
    if factor >= GUIDE_MIN_FACTOR:
        # Fit the guided filter at about twice the prediction's resolution: edges then sit within
        # factor/2 px of the image's own edges instead of within factor px.
        if work is None or work.size == guide.size:
            scale = 2.0 * max(prob.shape) / max(width, height)
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            # The filter reads only grey: convert first, then resize one channel instead of three
            # (12 MP: ~45 instead of ~110 ms).
            work = guide.convert("L").resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
        plain = resize_float(prob, work.size)
        # Fast guided filter: statistics at the prediction's resolution, applied at the working one.
        guided = guided_upsample(work, prob, min_side=max(prob.shape))
        np.clip(guided, 0.0, 1.0, out=guided)
        band = (plain > BAND[0]) & (plain < BAND[1])
        alpha = np.where(band, guided, plain)
    else:
        alpha = prob
    small = Image.fromarray(to_uint8(tone_curve(alpha)), "L")
    if small.size != guide.size:
        small = small.resize(guide.size, Image.Resampling.BILINEAR)
    return np.asarray(small)


def tone_curve(alpha: np.ndarray, low: float = CURVE[0], high: float = CURVE[1]) -> np.ndarray:
    out = alpha - low
    out *= 1.0 / (high - low)
    np.clip(out, 0.0, 1.0, out=out)
    return out


def to_uint8(alpha: np.ndarray) -> np.ndarray:
    """0..1 float to 0..255 uint8 with rounding and clipping, in place where possible."""
    out = np.multiply(alpha, 255.0, dtype=np.float32)
    out += 0.5
    np.clip(out, 0.0, 255.0, out=out)
    return out.astype(np.uint8)
