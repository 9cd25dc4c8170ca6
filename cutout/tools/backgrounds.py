"""The preset background pictures of the web app's re-render form, drawn here in code.

Every pixel comes from a formula or a seeded generator, so the pictures are the project's own and
the same on every run. They are committed as small JPEGs under ``static/backgrounds/`` (a full
picture and a thumbnail for the form's tiles); regenerate them with
``python -m cutout.tools.backgrounds``, or check that the committed ones still match the code with
``python -m cutout.tools.backgrounds --check``.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = (1200, 900)  # big enough to cover a result well; cover() scales it to each canvas
THUMB = (120, 90)
QUALITY = 84
FOLDER = Path(__file__).resolve().parents[2] / "static" / "backgrounds"


def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres as 0..1 coordinates, (H, W) each."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return (xs + 0.5) / width, (ys + 0.5) / height


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)[..., None]
    return np.asarray(a, np.float32) * (1.0 - t) + np.asarray(b, np.float32) * t


def _finish(rgb: np.ndarray, seed: int) -> Image.Image:
    """A little fine grain (so gradients do not band in JPEG), then 8-bit RGB."""
    grain = np.random.default_rng(seed).normal(0.0, 1.2, rgb.shape[:2]).astype(np.float32)
    return Image.fromarray(np.clip(rgb + grain[..., None] + 0.5, 0, 255).astype(np.uint8), "RGB")


def studio_grey(width: int, height: int) -> Image.Image:
    """A photographer's paper backdrop: light in the middle, falling off to the corners."""
    x, y = _grid(width, height)
    r = np.hypot((x - 0.5) * 1.25, (y - 0.42) * 1.0)
    return _finish(_mix((246, 246, 247), (178, 181, 188), (r / 0.75) ** 1.6), 1)


def studio_warm(width: int, height: int) -> Image.Image:
    """A warm sweep from cream at the top to a soft apricot below, lit from the upper left."""
    x, y = _grid(width, height)
    base = _mix((255, 244, 228), (240, 196, 160), y**1.2)
    light = np.exp(-(((x - 0.3) / 0.45) ** 2 + ((y - 0.2) / 0.5) ** 2))[..., None]
    return _finish(base + 18.0 * light, 2)


def studio_floor(width: int, height: int) -> Image.Image:
    """A wall meeting a floor: a cool grey wall, a lighter floor with a soft horizon, a pool of
    light behind the subject and darker corners."""
    x, y = _grid(width, height)
    horizon = 0.64
    wall = _mix((214, 218, 226), (170, 176, 189), 1.0 - y / horizon)
    floor = _mix((222, 220, 216), (190, 186, 180), (y - horizon) / (1.0 - horizon))
    blend = np.clip((y - horizon) / 0.035 + 0.5, 0.0, 1.0)[..., None]
    rgb = wall * (1.0 - blend) + floor * blend
    seam = np.exp(-(((y - horizon) / 0.012) ** 2))[..., None]  # the shadow where they meet
    pool = np.exp(-(((x - 0.5) / 0.34) ** 2 + ((y - 0.55) / 0.42) ** 2))[..., None]
    vignette = np.clip(np.hypot(x - 0.5, y - 0.5) / 0.72, 0.0, 1.0)[..., None] ** 2
    return _finish(rgb - 16.0 * seam + 22.0 * pool - 34.0 * vignette, 3)


def bokeh_evening(width: int, height: int) -> Image.Image:
    """Out-of-focus lights: soft discs of warm and cool colours over a deep blue evening."""
    x, y = _grid(width, height)
    base = _mix((24, 30, 64), (58, 34, 78), x * 0.6 + y * 0.4)
    picture = Image.fromarray(base.astype(np.uint8), "RGB")
    rng = np.random.default_rng(19)
    colours = ((255, 196, 110), (255, 140, 120), (130, 190, 255), (250, 230, 170), (190, 150, 255))
    short = min(width, height)
    for _ in range(50):
        layer = Image.new("RGB", (width, height), (0, 0, 0))
        cx, cy = rng.uniform(-0.05, 1.05) * width, rng.uniform(-0.05, 1.05) * height
        radius = short * rng.uniform(0.025, 0.11)
        colour = colours[int(rng.integers(len(colours)))]
        strength = rng.uniform(0.18, 0.55)
        ImageDraw.Draw(layer).ellipse(
            (cx - radius, cy - radius, cx + radius, cy + radius),
            fill=tuple(round(c * strength) for c in colour),
        )
        picture = Image.fromarray(
            np.minimum(np.asarray(picture, np.uint16) + np.asarray(layer, np.uint16), 255).astype(
                np.uint8
            ),
            "RGB",
        )
    picture = picture.filter(ImageFilter.GaussianBlur(short * 0.012))
    return _finish(np.asarray(picture, np.float32), 4)


def pastel_sky(width: int, height: int) -> Image.Image:
    """A clear pastel sky: pale blue above, a blush of pink near the bottom."""
    x, y = _grid(width, height)
    rgb = _mix((190, 220, 250), (250, 222, 230), (y * 0.9 + 0.1 * x) ** 1.4)
    return _finish(rgb, 5)


# name -> (the form's label, the drawing); the order is the form's.
PRESETS: dict[str, tuple[str, Callable[[int, int], Image.Image]]] = {
    "studio-grey": ("Studio grey", studio_grey),
    "studio-warm": ("Warm studio", studio_warm),
    "studio-floor": ("Wall and floor", studio_floor),
    "bokeh-evening": ("Evening lights", bokeh_evening),
    "pastel-sky": ("Pastel sky", pastel_sky),
}


def jpeg(picture: Image.Image) -> bytes:
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=QUALITY, optimize=True, progressive=True)
    return out.getvalue()


def pictures() -> dict[str, Image.Image]:
    """Every preset at full size."""
    return {name: draw(*SIZE) for name, (_label, draw) in PRESETS.items()}


def write(folder: Path = FOLDER) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, picture in pictures().items():
        thumb = picture.resize(THUMB, Image.Resampling.LANCZOS)
        for path, image in (
            (folder / f"{name}.jpg", picture),
            (folder / f"{name}-thumb.jpg", thumb),
        ):
            path.write_bytes(jpeg(image))
            written.append(path)
    return written


def differences(folder: Path = FOLDER) -> dict[str, float]:
    """How far each committed picture is from what the code draws now (mean absolute difference
    per channel, 0..255; JPEG decoders differ by a fraction of a level); inf when missing."""
    out = {}
    for name, picture in pictures().items():
        path = folder / f"{name}.jpg"
        if not path.is_file():
            out[name] = float("inf")
            continue
        with Image.open(path) as stored:
            have = np.asarray(stored.convert("RGB"), np.float32)
        out[name] = float(np.abs(have - np.asarray(picture, np.float32)).mean())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    if args.check:
        off = {name: d for name, d in differences().items() if d > 3.0}
        print("backgrounds: " + ("differ: " + ", ".join(off) if off else "match the code"))
        return 1 if off else 0
    for path in write():
        print(f"{path.relative_to(FOLDER.parents[1])}: {path.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
