"""Deterministic synthetic photos with a known subject, for tests and benchmarks.

Nothing here is downloaded or copied: every pixel comes from a seeded generator, so the images
may be shipped and regenerated anywhere. ``subject_scene`` makes a simple, strongly salient
subject (a shaded, saturated figure on a soft background) that even u2netp segments reliably;
``photo_like`` makes a larger, busier scene (textured ground and sky, a shaded subject with thin
strands, sensor noise) whose JPEG and PNG encoding costs resemble a real photo's.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def _smooth_noise(
    rng: np.random.Generator, width: int, height: int, cells: int, channels: int = 1
) -> np.ndarray:
    """Band-limited noise in 0..1: random cells upsampled bicubically."""
    cw, ch = max(2, cells), max(2, round(cells * height / width))
    layers = []
    for _ in range(channels):
        raw = (rng.random((ch, cw)) * 255).astype(np.uint8)
        big = Image.fromarray(raw, "L").resize((width, height), Image.Resampling.BICUBIC)
        layers.append(np.asarray(big, dtype=np.float32) / 255.0)
    return np.stack(layers, axis=-1) if channels > 1 else layers[0]


def figure_mask(width: int, height: int, *, scale: float = 1.0, supersample: int = 4) -> np.ndarray:
    """Anti-aliased float mask (H, W) of a figure: round head on a rounded body, centred low."""
    s = supersample
    canvas = Image.new("L", (width * s, height * s), 0)
    draw = ImageDraw.Draw(canvas)
    cx, base = width * s / 2, height * s * (0.5 + 0.38 * scale)
    body_w, body_h = width * s * 0.28 * scale, height * s * 0.42 * scale
    head_r = min(width, height) * s * 0.13 * scale
    draw.rounded_rectangle(
        (cx - body_w / 2, base - body_h, cx + body_w / 2, base), radius=body_w * 0.35, fill=255
    )
    head_cy = base - body_h - head_r * 0.8
    draw.ellipse((cx - head_r, head_cy - head_r, cx + head_r, head_cy + head_r), fill=255)
    small = canvas.resize((width, height), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0


def subject_scene(
    width: int = 320,
    height: int = 240,
    *,
    seed: int = 0,
    subject_rgb: tuple[int, int, int] = (220, 40, 30),
    background: str = "gradient",
    scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """A saturated figure on a soft background. Returns (rgb uint8 HxWx3, true alpha float HxW)."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    if background == "plain":
        bg = np.full((height, width, 3), 0.86, dtype=np.float32)
    else:
        top, bottom = (
            np.array([0.80, 0.85, 0.90], np.float32),
            np.array([0.62, 0.62, 0.58], np.float32),
        )
        bg = np.broadcast_to(top * (1 - y) + bottom * y, (height, width, 3)).copy()
        bg += (_smooth_noise(rng, width, height, 6, 3) - 0.5) * 0.06
    alpha = figure_mask(width, height, scale=scale)
    colour = np.array(subject_rgb, np.float32) / 255.0
    # Simple shading so the subject looks like a solid object, not a flat sticker.
    xs = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :, None]
    shade = 1.0 - 0.25 * xs**2 - 0.15 * y
    fg = np.clip(colour * shade, 0.0, 1.0)
    a = alpha[..., None]
    img = fg * a + bg * (1.0 - a)
    img += rng.normal(0.0, 0.008, img.shape).astype(np.float32)
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), alpha


def photo_like(
    width: int = 1500, height: int = 1000, *, seed: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """A ~1.5 MP photo-like scene. Returns (rgb uint8, true alpha float)."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    horizon = 0.55
    sky = np.array([0.55, 0.70, 0.90], np.float32) * (1 - 0.4 * y) + 0.25 * y
    ground = np.array([0.36, 0.42, 0.22], np.float32)
    texture = (
        _smooth_noise(rng, width, height, 60, 3) * 0.6
        + _smooth_noise(rng, width, height, 300, 3) * 0.4
    )
    bg = np.where(
        y < horizon,
        sky + (_smooth_noise(rng, width, height, 8, 3) - 0.5) * 0.08,
        ground * (0.7 + 0.6 * texture),
    )
    bg = np.asarray(bg, dtype=np.float32)
    alpha = figure_mask(width, height, scale=1.1)
    # Thin strands ("hair") above the head: partial alpha that tests edges and decontamination.
    strands = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(strands)
    cx = width / 2
    top_y = int(np.argmax(alpha.max(axis=1) > 0.5))
    for i in range(40):
        x0 = cx + rng.normal(0.0, width * 0.04)
        draw.line(
            [(x0, top_y + 12), (x0 + rng.normal(0.0, 25.0), top_y - 20 - rng.random() * 50)],
            fill=int(150 + rng.random() * 100),
            width=1 + (i % 2),
        )
    strand_a = np.asarray(strands.filter(ImageFilter.GaussianBlur(0.6)), dtype=np.float32) / 255.0
    alpha = np.maximum(alpha, strand_a)
    xs = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :, None]
    fabric = _smooth_noise(rng, width, height, 200, 1)[..., None]
    fg = np.array([0.75, 0.30, 0.12], np.float32) * (1.0 - 0.3 * xs**2) * (0.85 + 0.3 * fabric)
    a = alpha[..., None]
    img = fg * a + bg * (1.0 - a)
    img += rng.normal(0.0, 0.012, img.shape).astype(np.float32)
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), alpha


def to_bytes(rgb: np.ndarray, fmt: str = "JPEG", **params: object) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, fmt, **params)
    return out.getvalue()


def distinct_photos(count: int, width: int, height: int, *, seed: int = 900) -> list[bytes]:
    """``count`` photo-like JPEGs that are all different files (the benchmarks'): four scenes,
    each copy with a noise block of its own in one corner, so none is served from dedup."""
    scenes = [photo_like(width, height, seed=seed + n)[0] for n in range(min(4, count))]
    rng = np.random.default_rng(seed)
    out = []
    for index in range(count):
        rgb = scenes[index % len(scenes)].copy()
        rgb[:8, :8] = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        out.append(to_bytes(rgb, "JPEG", quality=90))
    return out
