"""Refine-call benchmark: ``python -m cutout.tools.bench_refine [--every 5] [--pipeline best]``.

Times whole refine calls as the service makes them (``engine.edit_cutout``: decode the kept
original, read the stored matte and prior, refine, write the new stored matte, render a mask PNG
and, when it grew, the prior), on every Nth image of the dev set (``../shared/evalsets/dev``, its
real sizes), replaying the guided referee's protocol: five clicks from the automatic cutout, then
a box and three clicks, each call carrying the complete hint list (clicks from the referee's own
``clicker.py``). The database and storage writes around it (a few ms) are not in it.

The target (issue 16): median <= 1.0 s, p90 <= 2.0 s on the 2-core machine with ``best``. The
first box call runs the models again on the crop (the prior keeps that run for the clicks after).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cutout import engine

REPO = Path(__file__).resolve().parents[2]
DEFAULT_EVALSETS = REPO.parent / "shared" / "evalsets"


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


class Session:
    """One uploaded image: the stored files a refine call reads, and the calls' timings."""

    def __init__(self, data: bytes, pipeline: str) -> None:
        image = engine.decode_image(data, engine.Limits())
        matte = engine.compute_matte(image, pipeline=pipeline)
        self.data, self.pipeline = data, pipeline
        self.matte_file = engine.stored_matte_png(image, matte)
        self.prior: bytes | None = engine.prior_to_bytes(engine.prior_from_matte(image, matte))
        self.auto = matte.alpha >= 128
        self.options = engine.Options(mode="mask", format="png", pipeline=pipeline)

    def call(self, hints: list[dict[str, Any]], times: list[float]) -> np.ndarray:
        started = time.perf_counter()
        edit = engine.edit_cutout(
            self.data,
            hints,
            base_matte=self.matte_file,
            prior=self.prior,
            options=self.options,
            pipeline=self.pipeline,
        )
        times.append(time.perf_counter() - started)
        if edit.prior is not None:
            self.prior = edit.prior
        return edit.matte.alpha >= 128


def _replay(session: Session, gt: np.ndarray, clicker: Any, times: dict[str, list[float]]) -> None:
    valid = np.ones(gt.shape, bool)
    pred, hints = session.auto, []
    for _ in range(5):
        click = clicker.next_click(gt, pred, valid)
        if click is None:
            break
        hints.append({"kind": "keep" if click[2] else "remove", "x": click[0], "y": click[1]})
        pred = session.call(hints, times["click"])
    ys, xs = np.nonzero(gt)
    h, w = gt.shape
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    my, mx = int(0.1 * (y1 - y0)) + 4, int(0.1 * (x1 - x0)) + 4
    box = [max(0, x0 - mx), max(0, y0 - my), min(w, x1 + mx), min(h, y1 + my)]
    hints = [{"kind": "box", "box": box}]
    pred = session.call(hints, times["box"])
    for _ in range(3):
        click = clicker.next_click(gt, pred, valid)
        if click is None:
            break
        hints.append({"kind": "keep" if click[2] else "remove", "x": click[0], "y": click[1]})
        pred = session.call(hints, times["box"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=5, help="every Nth dev image (default 5)")
    parser.add_argument("--pipeline", default=engine.DEFAULT_PIPELINE)
    parser.add_argument("--evalsets", type=Path, default=DEFAULT_EVALSETS)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    dev = args.evalsets / "dev"
    if not (dev / "MANIFEST.tsv").is_file():
        print(f"no dev set at {dev}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(args.evalsets))
    import clicker  # the referee's own simulated user

    engine.configure(threads=args.threads)
    engine.preload([args.pipeline])
    with (dev / "MANIFEST.tsv").open(newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))[:: args.every]
    times: dict[str, list[float]] = {"click": [], "box": []}
    for row in rows:
        session = Session((dev / row["image"]).read_bytes(), args.pipeline)
        gt = np.asarray(Image.open(dev / row["mask"]).convert("L")) >= 128
        _replay(session, gt, clicker, times)
    every = times["click"] + times["box"]
    print(f"refine calls ({args.pipeline}, {len(rows)} dev images, {len(every)} calls)")
    for name, values in (
        ("all", every),
        ("click track", times["click"]),
        ("box track", times["box"]),
    ):
        if values:
            print(
                f"  {name:12s} median {statistics.median(values):.3f} s  "
                f"p90 {_quantile(values, 0.9):.3f} s  max {max(values):.3f} s"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
