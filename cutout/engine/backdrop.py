"""What goes behind the subject besides a flat colour: a background picture, or the photo's own
background blurred.

- :func:`cover` scales a picture to cover a canvas (aspect kept, centred, the overflow cut off),
  as remove.bg does with ``bg_image_url``: "centered and resized to fill the canvas while
  preserving the aspect ratio, unless it already has the exact same dimensions".
- :func:`blurred_background` blurs an image's background with the subject left out. A plain blur
  of the photo would smear the subject's colours into a halo around it; here each output pixel
  is the blur-weighted mean of *background* pixels only (normalised convolution with weight
  ``1 - alpha``). Where the subject covers everything within reach (its middle), the mean of a
  wider neighbourhood, and finally the whole background's mean, fill in. The work is done on a
  copy reduced so that the radius is a few pixels there, then enlarged: a wide blur has no fine
  detail to lose, and it keeps the cost to tens of milliseconds whatever the radius.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

WORK_RADIUS = 6.0  # the blur's sigma, in pixels of the reduced copy it is computed on
MAX_WORK_SIDE = 1024  # the reduced copy is never longer than this
BACKGROUND_WEIGHT_POWER = 2.0  # (1 - alpha) ** this: edge pixels count little as background


def flatten(picture: Image.Image, colour: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """An opaque RGB copy: transparent parts of a background picture show ``colour``."""
    if picture.mode == "RGB":
        return picture
    rgba = picture.convert("RGBA")
    if rgba.getchannel("A").getextrema()[0] == 255:
        return rgba.convert("RGB")
    flat = Image.new("RGBA", rgba.size, (*colour, 255))
    return Image.alpha_composite(flat, rgba).convert("RGB")


def cover(picture: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``picture`` scaled to cover ``size`` (aspect ratio kept), centred and cut to it."""
    if picture.size == size:
        return picture
    width, height = size
    scale = max(width / picture.width, height / picture.height)
    scaled = (max(width, round(picture.width * scale)), max(height, round(picture.height * scale)))
    big = picture.resize(scaled, Image.Resampling.LANCZOS, reducing_gap=2.0)
    left, top = (scaled[0] - width) // 2, (scaled[1] - height) // 2
    return big.crop((left, top, left + width, top + height))


def blurred_background(rgb: np.ndarray, alpha: np.ndarray, radius: float) -> np.ndarray:
    """The image's background blurred by ``radius`` px (a Gaussian's sigma), subject left out.

    ``rgb`` (H, W, 3) and ``alpha`` (H, W) uint8 at full size; returns (H, W, 3) uint8.
    """
    height, width = alpha.shape
    factor = max(1.0, radius / WORK_RADIUS, max(height, width) / MAX_WORK_SIDE)
    small = (max(1, round(width / factor)), max(1, round(height / factor)))
    colour = np.asarray(Image.fromarray(rgb, "RGB").resize(small, Image.Resampling.BOX), np.float32)
    matte = np.asarray(Image.fromarray(alpha, "L").resize(small, Image.Resampling.BOX), np.float32)
    weight = (1.0 - matte / 255.0) ** BACKGROUND_WEIGHT_POWER
    sigma = max(0.5, radius / factor)
    total = float(weight.sum())
    if total < 1e-3:  # no background at all: the subject's own mean colour
        mean = colour.reshape(-1, 3).mean(axis=0)
    else:
        mean = (colour * weight[..., None]).reshape(-1, 3).sum(axis=0) / total
    field = np.broadcast_to(mean, colour.shape).astype(np.float32)
    # From wide to narrow: each pass replaces the field where it has enough background nearby.
    for s in sorted({max(max(small) / 4.0, sigma), sigma * 4.0, sigma}, reverse=True):
        w = gaussian_filter(weight, s, mode="nearest")
        spread = (
            np.stack(
                [gaussian_filter(colour[..., c] * weight, s, mode="nearest") for c in range(3)],
                axis=-1,
            )
            / np.maximum(w, 1e-6)[..., None]
        )
        use = np.clip(w * 8.0, 0.0, 1.0)[..., None]
        field = spread * use + field * (1.0 - use)
    out = Image.fromarray(np.clip(field + 0.5, 0, 255).astype(np.uint8), "RGB")
    if out.size != (width, height):
        out = out.resize((width, height), Image.Resampling.BICUBIC)
    return np.asarray(out)
