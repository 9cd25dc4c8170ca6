"""The command line over a folder: ``python -m cutout.tools.cli_bench`` (part of ``make bench``).

``manage.py cutout IN -o OUT`` on a folder of distinct photo-like JPEGs, each run a process of its
own as a user starts it: with ``--jobs 1``, with the default (one worker process per core, each
with ``cores // jobs`` onnxruntime threads), and once more with ``--skip-existing`` over the
finished output (which should cost only the start-up). Prints images/s for each and the speed-up
of the default over one job.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(inputs: Path, output: Path, extra: list[str], env: dict[str, str]) -> float:
    """Seconds one ``manage.py cutout`` run took; SystemExit with its output if it failed."""
    command = [sys.executable, "manage.py", "cutout", str(inputs), "-o", str(output), *extra]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="manage.py cutout over a folder: images/s.")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--size", default="1500x1000", help="WxH (default 1500x1000)")
    parser.add_argument("--pipeline", default="", help="default: the default pipeline")
    args = parser.parse_args(argv)

    from cutout.tools.synthetic import distinct_photos

    width, height = (int(part) for part in args.size.lower().split("x"))
    cores = len(os.sched_getaffinity(0))
    work = Path(tempfile.mkdtemp(prefix="cutout-cli-bench-"))
    try:
        inputs = work / "in"
        inputs.mkdir()
        for index, data in enumerate(distinct_photos(args.images, width, height, seed=500)):
            (inputs / f"photo-{index:03d}.jpg").write_bytes(data)
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "cutout.settings", "CUTOUT_ENV": "dev"}
        env["DATABASE_URL"] = f"sqlite:///{work / 'db.sqlite3'}"  # the command writes no rows
        common = ["--pipeline", args.pipeline] if args.pipeline else []
        print(
            f"cli bench: manage.py cutout over {args.images} JPEGs of {width}x{height} -> PNG, "
            f"pipeline {args.pipeline or 'default'}, {cores} CPU cores, "
            f"load avg {os.getloadavg()[0]:.1f}"
        )
        one = _run(inputs, work / "out1", [*common, "--jobs", "1"], env)
        auto = _run(inputs, work / "out", common, env)
        skip = _run(inputs, work / "out", [*common, "--skip-existing"], env)
        written = len(list((work / "out").glob("*.png")))
        if written != args.images:
            raise SystemExit(f"expected {args.images} outputs, found {written}")
        print(f"  --jobs 1:               {args.images / one:6.2f} images/s ({one:.1f} s)")
        print(
            f"  default (--jobs {cores}):     {args.images / auto:6.2f} images/s ({auto:.1f} s), "
            f"{one / auto:.2f}x one job"
        )
        print(f"  again, --skip-existing: {skip:.1f} s for {args.images} existing outputs")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
