"""Small, distinct pictures made in code, for tests that need many images quickly."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw


def photo(seed: int, size: tuple[int, int] = (96, 72), fmt: str = "PNG") -> bytes:
    """A small, distinct picture: a shaded round subject on a soft, noisy background."""
    rng = np.random.default_rng(seed)
    w, h = size
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    bg = (np.array([200, 210, 225]) * (1 - y) + np.array([150, 150, 140]) * y).repeat(w, axis=1)
    bg = bg + rng.normal(0, 4, bg.shape)
    image = Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    colour = tuple(int(c) for c in rng.integers(20, 235, 3))
    draw.ellipse((w * 0.3, h * 0.2, w * 0.7, h * 0.9), fill=colour)
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def photos(
    count: int, *, start: int = 0, size: tuple[int, int] = (96, 72)
) -> list[tuple[str, bytes]]:
    return [(f"photo-{i:02d}.png", photo(start + i, size)) for i in range(count)]
