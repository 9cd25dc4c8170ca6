"""Project-made, photo-like test images with one clear subject.

Everything here is drawn from code (numpy + Pillow), so the project may ship and use the results
freely: the landing page's before/after example and the browser tests' "real photo" uploads.
Each scene is a small product shot: a shaded subject standing on a table in front of a softly
lit wall, with bokeh, a contact shadow, lens blur on the background and film grain.

Run ``python -m tests.web.images OUT_DIR`` to write a few of them as JPEG files.
"""

from __future__ import annotations

import io
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

SS = 2  # supersampling factor: scenes are drawn at twice the size, then reduced (antialiasing)

Array = np.ndarray


@dataclass(frozen=True)
class Light:
    x: float = -0.55
    y: float = -0.45
    z: float = 0.70

    def vector(self) -> Array:
        v = np.array([self.x, self.y, self.z], dtype=np.float32)
        return v / np.linalg.norm(v)


LIGHT = Light().vector()
HALF = np.array([LIGHT[0], LIGHT[1], LIGHT[2] + 1.0], dtype=np.float32)
HALF /= np.linalg.norm(HALF)


def _shade(nx: Array, ny: Array, nz: Array, colour: tuple[int, int, int], *, gloss: float) -> Array:
    """Lambert + Blinn-Phong for unit normals; returns HxWx3 floats in 0..1."""
    base = np.array(colour, dtype=np.float32) / 255.0
    diffuse = np.clip(nx * LIGHT[0] + ny * LIGHT[1] + nz * LIGHT[2], 0.0, 1.0)
    spec = np.clip(nx * HALF[0] + ny * HALF[1] + nz * HALF[2], 0.0, 1.0) ** 60 * gloss
    ambient = 0.28
    rgb = base[None, None, :] * (ambient + 0.78 * diffuse[..., None]) + spec[..., None]
    return np.clip(rgb, 0.0, 1.0)


def _paint(canvas: Array, rgb: Array, mask: Array) -> None:
    m = np.clip(mask, 0.0, 1.0)[..., None]
    canvas[:] = canvas * (1.0 - m) + rgb * m


def _background(w: int, h: int, rng: np.random.Generator, wall: tuple[int, int, int]) -> Array:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    top = np.array(wall, dtype=np.float32) / 255.0
    bottom = top * 0.82
    t = (yy / h)[..., None]
    img: Array = top * (1 - t) + bottom * t
    # A warm pool of light from the window on the left.
    glow = np.exp(-(((xx - 0.2 * w) / (0.45 * w)) ** 2 + ((yy - 0.25 * h) / (0.5 * h)) ** 2))
    img = img + 0.10 * glow[..., None]
    # Bokeh: soft light discs far behind the subject.
    for _ in range(14):
        cx, cy = rng.uniform(0, w), rng.uniform(0, 0.6 * h)
        r = rng.uniform(0.02, 0.06) * w
        disc = np.clip((r - np.hypot(xx - cx, yy - cy)) / (0.15 * r), 0, 1)
        img = img + disc[..., None] * rng.uniform(0.04, 0.10)
    # The table: a darker plane whose near edge is lit.
    horizon = int(0.70 * h)
    table = np.array([0.62, 0.50, 0.40], dtype=np.float32)
    noise = rng.normal(0, 1, h)
    streaks: Array = np.convolve(noise, np.ones(9) / 9, mode="same")[:, None] * 0.025
    tt = np.clip((yy - horizon) / (h - horizon), 0, 1)[..., None]
    table_rgb = table * (0.80 + 0.30 * tt) + streaks[..., None]
    img = np.where((yy >= horizon)[..., None], table_rgb, img)
    return np.clip(img, 0, 1)


def _blur(img: Array, radius: float) -> Array:
    pil = Image.fromarray((img * 255).astype(np.uint8))
    return np.asarray(pil.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32) / 255.0


def _contact_shadow(canvas: Array, cx: float, cy: float, rx: float, ry: float) -> None:
    h, w = canvas.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2
    shadow = np.exp(-d * 1.6) * 0.55
    canvas *= (1.0 - shadow)[..., None]


def _pot_with_plant(canvas: Array, rng: np.random.Generator, colour: tuple[int, int, int]) -> None:
    h, w = canvas.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx = 0.5 * w
    top, bottom = 0.50 * h, 0.80 * h
    r_top, r_bottom = 0.14 * w, 0.10 * w
    _contact_shadow(canvas, cx + 0.03 * w, bottom, r_bottom * 1.9, 0.035 * h)
    # Leaves first (behind the pot rim), back to front.
    leaves = []
    for i in range(11):
        angle = math.radians(-75 + 150 * i / 10 + rng.uniform(-6, 6))
        length = rng.uniform(0.22, 0.34) * h * (1.0 - 0.35 * abs(math.sin(angle)))
        width = rng.uniform(0.045, 0.06) * w
        leaves.append((abs(angle), angle, length, width))
    leaves.sort(reverse=True)
    base_y = top + 0.02 * h
    for _, angle, length, width in leaves:
        bx = cx + math.sin(angle) * 0.05 * w
        dx, dy = math.sin(angle), -math.cos(angle)
        s = (xx - bx) * dx + (yy - base_y) * dy
        t = (xx - bx) * dy - (yy - base_y) * dx
        sn = np.clip(s / length, 0, 1)
        half = width * np.clip(np.sin(np.pi * sn), 0, 1) ** 0.6 * (1 - 0.3 * sn) + 1e-3
        tn = t / half
        inside = (s > 0) & (s < length) & (np.abs(tn) < 1)
        edge = np.clip((1 - np.abs(tn)) * half / (1.2 * SS), 0, 1) * inside
        nx = tn * dy * 0.9
        ny = -tn * dx * 0.9 - 0.3
        nz = np.sqrt(np.clip(1 - nx**2 - ny**2, 0.05, 1))
        green = (
            int(60 + 40 * rng.random()),
            int(128 + 40 * rng.random()),
            int(62 + 20 * rng.random()),
        )
        rgb = _shade(nx, ny, nz, green, gloss=0.25)
        midrib = np.exp(-(tn**2) / 0.004)[..., None] * 0.12
        tip = (sn**3)[..., None] * np.array([0.10, 0.08, -0.02], dtype=np.float32)
        _paint(canvas, np.clip(rgb + midrib + tip, 0, 1), edge)
    # The pot: a shaded truncated cone with a rolled rim.
    frac = np.clip((yy - top) / (bottom - top), 0, 1)
    radius = r_top + (r_bottom - r_top) * frac
    u = (xx - cx) / radius
    body = (yy >= top + 0.04 * h) & (yy <= bottom) & (np.abs(u) <= 1)
    nx = u
    nz = np.sqrt(np.clip(1 - u**2, 0, 1))
    ny = np.full_like(u, 0.12)
    rgb = _shade(nx, ny, nz, colour, gloss=0.35)
    aa = np.clip((1 - np.abs(u)) * radius / (1.0 * SS), 0, 1)
    bottom_aa = np.clip((bottom - yy) / SS, 0, 1)
    _paint(canvas, rgb, body * aa * bottom_aa)
    rim_r = r_top * 1.06
    ur = (xx - cx) / rim_r
    rim = (yy >= top) & (yy < top + 0.05 * h) & (np.abs(ur) <= 1)
    vr = (yy - top) / (0.05 * h) * 2 - 1
    rny = vr * 0.35
    rnz = np.sqrt(np.clip(1 - ur**2 - rny**2, 0, 1))
    rgb = _shade(ur * 0.95, rny, rnz, colour, gloss=0.15)
    _paint(canvas, rgb, rim * np.clip((1 - np.abs(ur)) * rim_r / SS, 0, 1))


def _mug(canvas: Array, rng: np.random.Generator, colour: tuple[int, int, int]) -> None:
    h, w = canvas.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, top, bottom, r = 0.47 * w, 0.40 * h, 0.80 * h, 0.15 * w
    _contact_shadow(canvas, cx + 0.04 * w, bottom, r * 1.6, 0.03 * h)
    # Handle: a thick ring on the right, with a real hole through it.
    hx, hy = cx + r * 1.0, 0.58 * h
    d = np.hypot((xx - hx) / (0.085 * w), (yy - hy) / (0.12 * h))
    ring = (d > 0.62) & (d < 1.0) & (xx > cx)
    ringn = (d - 0.81) / 0.19
    nz = np.sqrt(np.clip(1 - ringn**2, 0, 1))
    ang = np.arctan2(yy - hy, xx - hx)
    rgb = _shade(np.cos(ang) * ringn * 0.8, np.sin(ang) * ringn * 0.8, nz, colour, gloss=0.3)
    aa = np.clip(np.minimum(d - 0.62, 1.0 - d) * 0.1 * w / SS, 0, 1)
    _paint(canvas, rgb, ring * aa)
    u = (xx - cx) / r
    body = (yy >= top) & (yy <= bottom) & (np.abs(u) <= 1)
    nz = np.sqrt(np.clip(1 - u**2, 0, 1))
    rgb = _shade(u, np.full_like(u, 0.05), nz, colour, gloss=0.8)
    aa = np.clip((1 - np.abs(u)) * r / SS, 0, 1) * np.clip((bottom - yy) / SS, 0, 1)
    _paint(canvas, rgb, body * aa)
    # The opening: a dark ellipse with coffee inside.
    e = ((xx - cx) / r) ** 2 + ((yy - top) / (0.035 * h)) ** 2
    _paint(canvas, np.broadcast_to(np.array([0.93, 0.92, 0.9]), canvas.shape), (e <= 1.0) * 1.0)
    coffee = ((xx - cx) / (0.9 * r)) ** 2 + ((yy - top - 0.004 * h) / (0.028 * h)) ** 2
    _paint(
        canvas, np.broadcast_to(np.array([0.24, 0.14, 0.08]), canvas.shape), (coffee <= 1.0) * 1.0
    )


def _ball(canvas: Array, rng: np.random.Generator, colour: tuple[int, int, int]) -> None:
    h, w = canvas.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 0.21 * h
    cx, cy = 0.52 * w, 0.80 * h - r
    _contact_shadow(canvas, cx + 0.05 * w, 0.80 * h, r * 1.3, 0.03 * h)
    nx, ny = (xx - cx) / r, (yy - cy) / r
    d2 = nx**2 + ny**2
    nz = np.sqrt(np.clip(1 - d2, 0, 1))
    rgb = _shade(nx, ny, nz, colour, gloss=0.9)
    # Two seams, as on a beach ball.
    seam = np.abs(np.sin(np.arctan2(ny, nx) * 3)) < 0.06
    rgb = np.where(seam[..., None], rgb * 0.55 + 0.4, rgb)
    _paint(canvas, rgb, np.clip((1 - np.sqrt(d2)) * r / SS, 0, 1))


SUBJECTS = {"plant": _pot_with_plant, "mug": _mug, "ball": _ball}
COLOURS = {
    "plant": (196, 98, 62),
    "mug": (38, 92, 170),
    "ball": (222, 60, 70),
}
WALLS = {
    "plant": (222, 214, 200),
    "mug": (208, 220, 214),
    "ball": (214, 210, 228),
}


def photo_array(
    subject: str = "plant", size: tuple[int, int] = (1200, 900), seed: int = 7
) -> Array:
    """An RGB uint8 array of a product shot with one clear subject."""
    w, h = size[0] * SS, size[1] * SS
    rng = np.random.default_rng(seed)
    canvas = _background(w, h, rng, WALLS[subject])
    canvas = _blur(canvas, 3.0 * SS)
    SUBJECTS[subject](canvas, rng, COLOURS[subject])
    img = Image.fromarray((np.clip(canvas, 0, 1) * 255).astype(np.uint8))
    img = img.resize(size, Image.Resampling.LANCZOS)
    arr = np.asarray(img, dtype=np.float32)
    arr += rng.normal(0, 3.0, arr.shape).astype(np.float32)  # film grain
    return np.clip(arr, 0, 255).astype(np.uint8)


def photo_jpeg(subject: str = "plant", size: tuple[int, int] = (1200, 900), seed: int = 7) -> bytes:
    out = io.BytesIO()
    Image.fromarray(photo_array(subject, size, seed)).save(out, "JPEG", quality=88)
    return out.getvalue()


def main(argv: list[str]) -> int:
    folder = Path(argv[1] if len(argv) > 1 else ".")
    folder.mkdir(parents=True, exist_ok=True)
    for subject in SUBJECTS:
        path = folder / f"{subject}.jpg"
        path.write_bytes(photo_jpeg(subject))
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
