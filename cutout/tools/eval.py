"""Score a pipeline on an eval set: ``python -m cutout.tools.eval [--pipeline best] [--set dev]``.

Runs the engine over ``<evalsets>/<set>/images``, writes ``<id>.png`` masks at the original size,
then runs the set's own ``score.py`` on them and prints its table (IoU, MAE, boundary F), after
how many photos the API would refuse as ``unknown_foreground`` (every one has a subject). ``make
eval`` runs this for the default pipeline. The eval set lives outside the repo (``../shared/
evalsets`` next to the checkout) and is for measuring only, never for tests or training.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from cutout import engine

REPO = Path(__file__).resolve().parents[2]
DEFAULT_EVALSETS = REPO.parent / "shared" / "evalsets"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pipeline", default=engine.DEFAULT_PIPELINE, choices=sorted(engine.PIPELINES)
    )
    parser.add_argument("--set", default="dev", help="eval set folder (default: dev)")
    parser.add_argument(
        "--evalsets", type=Path, default=DEFAULT_EVALSETS, help="folder holding score.py"
    )
    parser.add_argument(
        "--out", type=Path, help="keep the masks here (default: a temporary folder)"
    )
    parser.add_argument("--per-image", type=Path, help="also write per-image scores (TSV)")
    parser.add_argument(
        "--model-dir", type=Path, help="model folder (default: CUTOUT_MODEL_DIR or the cache)"
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="onnxruntime intra-op threads (0: auto)"
    )
    args = parser.parse_args(argv)

    set_dir = args.evalsets / args.set
    manifest = set_dir / "MANIFEST.tsv"
    if not manifest.is_file():
        print(f"no eval set at {set_dir} (expected MANIFEST.tsv)", file=sys.stderr)
        return 2
    engine.configure(threads=args.threads, model_dir=args.model_dir)
    engine.preload([args.pipeline])
    with manifest.open(newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))

    with tempfile.TemporaryDirectory(prefix="cutout-eval-") as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        refused: list[str] = []
        for index, row in enumerate(rows, 1):
            image = engine.decode_image((set_dir / row["image"]).read_bytes(), engine.Limits())
            matte = engine.compute_matte(image, pipeline=args.pipeline)
            if not engine.foreground_found(matte):
                refused.append(row["id"])
            Image.fromarray(matte.alpha, "L").save(out / f"{row['id']}.png", compress_level=1)
            if index % 25 == 0 or index == len(rows):
                elapsed = time.perf_counter() - start
                print(
                    f"  {index}/{len(rows)} images, {elapsed / index:.2f} s each",
                    file=sys.stderr,
                    flush=True,
                )
        print(f"pipeline {args.pipeline} ({', '.join(engine.PIPELINES[args.pipeline].models)})")
        # Every photo here has a subject: the API would refuse these as unknown_foreground.
        print(f"refused as unknown_foreground: {len(refused)} of {len(rows)} {' '.join(refused)}")
        command = [sys.executable, str(args.evalsets / "score.py"), str(out), "--set", args.set]
        if args.per_image:
            command += ["--per-image", str(args.per_image)]
        return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
