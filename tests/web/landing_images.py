"""Build the landing page's example images with Cutout's own engine.

The "before" photo is project-made (:mod:`tests.web.images`), so the project may ship it. Run
from the repository root after the models are fetched::

    python -m tests.web.landing_images            # writes static/img/landing/
    python -m tests.web.landing_images --pipeline fast OUT_DIR
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from PIL import Image

from cutout import engine
from tests.web.images import photo_jpeg

ROOT = Path(__file__).resolve().parents[2]
HERO = (960, 720)
MODE_SIDE = 360
MODES = {
    "transparent": engine.Options(mode="transparent", format="png"),
    "mask": engine.Options(mode="mask", format="png"),
    "white": engine.Options(mode="background", bg_color="#ffffff", format="png"),
    "color": engine.Options(mode="background", bg_color="#fde68a", format="png"),
    "crop": engine.Options(mode="crop", crop_margin="6%", format="png"),
    "shadow": engine.Options(mode="shadow", format="png"),
}


def build(out: Path, pipeline: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    data = photo_jpeg("plant", HERO, seed=11)
    decoded = engine.decode_image(data, engine.Limits())
    matte = engine.compute_matte(decoded, pipeline=pipeline)
    written: list[Path] = []

    before = Image.open(io.BytesIO(data)).convert("RGB")
    path = out / "before.jpg"
    before.save(path, "JPEG", quality=82, optimize=True, progressive=True)
    written.append(path)

    for name, options in MODES.items():
        result = engine.render(decoded, matte, options)
        image = Image.open(io.BytesIO(result.data))
        image.load()
        if name == "transparent":
            path = out / "after.webp"
            image.save(path, "WEBP", quality=84, method=6)
            written.append(path)
        image.thumbnail((MODE_SIDE, MODE_SIDE), Image.Resampling.LANCZOS)
        if image.mode in ("RGBA", "LA"):
            path = out / f"mode-{name}.webp"
            image.save(path, "WEBP", quality=82, method=6)
        else:
            path = out / f"mode-{name}.jpg"
            image.convert("RGB").save(path, "JPEG", quality=84, optimize=True)
        written.append(path)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", nargs="?", default=str(ROOT / "static" / "img" / "landing"))
    parser.add_argument("--pipeline", default="best")
    args = parser.parse_args()
    for path in build(Path(args.out), args.pipeline):
        print(f"{path} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
