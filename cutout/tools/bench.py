"""Speed benchmark: ``python -m cutout.tools.bench`` (``make bench``).

For every pipeline, on one deterministic ~1.5 MP photo-like JPEG (``cutout.tools.synthetic``):

- ours e2e: ``engine.process`` from JPEG bytes to transparent PNG bytes (decode, matte, render,
  encode), median of N runs after one warm-up;
- ours bare: the model's ``InferenceSession.run`` alone on a prepared tensor, median of N;
- rembg e2e: ``rembg.remove`` with the same model file (``U2NET_HOME`` pointed at our model dir;
  ``dis_custom`` with ``model_path`` for ISNet), JPEG bytes to PNG bytes, median of N;
- peak RSS of each side, each measured in its own fresh subprocess so they do not mix.

Targets (issue 3): ours/rembg <= 0.70 for every pipeline, and ours e2e <= 1.15 x ours bare.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cutout.tools.synthetic import photo_like, to_bytes

TARGET_RATIO = 0.70
TARGET_OVERHEAD = 1.15


def bench_image(width: int, height: int) -> bytes:
    rgb, _ = photo_like(width, height, seed=1)
    return to_bytes(rgb, "JPEG", quality=90)


def _median_ms(fn: Any, runs: int) -> tuple[float, Any]:
    result = fn()  # warm-up (caches, allocator, lazy init)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times), result


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker_ours(pipeline: str, data: bytes, runs: int, threads: int) -> dict[str, Any]:
    from cutout import engine
    from cutout.engine.models import MODELS, get_session, output_name
    from cutout.engine.pipelines import model_input

    engine.configure(threads=threads)
    engine.preload([pipeline])
    options = engine.Options(pipeline=pipeline, format="png")
    limits = engine.Limits()
    e2e_ms, result = _median_ms(lambda: engine.process(data, options, limits=limits), runs)
    model = engine.PIPELINES[pipeline].models[0]
    session = get_session(model)
    tensor = model_input(engine.decode_image(data, limits), model)
    feed = {session.get_inputs()[0].name: tensor}
    out = [output_name(session, MODELS[model])]
    bare_ms, _ = _median_ms(lambda: session.run(out, feed), runs)
    return {
        "e2e_ms": e2e_ms,
        "bare_ms": bare_ms,
        "png_bytes": len(result.data),
        "stages_ms": result.metadata["timings_ms"],
        "peak_rss_mb": _peak_rss_mb(),
    }


def worker_rembg(pipeline: str, data: bytes, runs: int, threads: int) -> dict[str, Any]:
    from cutout.engine.models import MODELS, resolve_model_dir

    model_dir = resolve_model_dir()
    os.environ["U2NET_HOME"] = str(model_dir)
    if threads:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    from rembg import new_session, remove

    if pipeline == "best":
        session = new_session("dis_custom", model_path=str(model_dir / MODELS["isnet"].file))
    else:
        session = new_session("u2netp" if pipeline == "fast" else "u2net")
    e2e_ms, out = _median_ms(lambda: remove(data, session=session), runs)
    return {"e2e_ms": e2e_ms, "png_bytes": len(out), "peak_rss_mb": _peak_rss_mb()}


def run_worker(side: str, pipeline: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "cutout.tools.bench",
        "--worker",
        side,
        "--pipeline",
        pipeline,
        "--runs",
        str(args.runs),
        "--threads",
        str(args.threads),
        "--width",
        str(args.width),
        "--height",
        str(args.height),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{side}/{pipeline} worker failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Cutout engine speed vs rembg.")
    parser.add_argument("--pipelines", nargs="+", default=["fast", "balanced", "best"])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--threads", type=int, default=0, help="intra-op threads for both sides (0: auto)"
    )
    parser.add_argument("--width", type=int, default=1500)
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument("--no-rembg", action="store_true", help="skip the rembg side")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--worker", choices=["ours", "rembg"], help=argparse.SUPPRESS)
    parser.add_argument("--pipeline", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        data = bench_image(args.width, args.height)
        work = worker_ours if args.worker == "ours" else worker_rembg
        print(json.dumps(work(args.pipeline, data, args.runs, args.threads)))
        return 0

    data = bench_image(args.width, args.height)
    print(
        f"image: {args.width}x{args.height} ({args.width * args.height / 1e6:.1f} MP) photo-like JPEG, "
        f"{len(data) / 1e3:.0f} kB; {args.runs} runs, median; cpus: {os.cpu_count()}, "
        f"threads: {args.threads or 'auto'}"
    )
    header = (
        f"{'pipeline':9s} {'ours e2e':>9s} {'bare inf':>9s} {'e2e/bare':>8s} {'rembg e2e':>10s} "
        f"{'ours/rembg':>10s} {'RSS ours':>9s} {'RSS rembg':>9s}  stages (ms)"
    )
    print(header)
    figures: dict[str, Any] = {}
    failed = False
    for pipeline in args.pipelines:
        ours = run_worker("ours", pipeline, args)
        rembg = None if args.no_rembg else run_worker("rembg", pipeline, args)
        overhead = ours["e2e_ms"] / ours["bare_ms"]
        ratio = ours["e2e_ms"] / rembg["e2e_ms"] if rembg else float("nan")
        figures[pipeline] = {
            "ours": ours,
            "rembg": rembg,
            "e2e_over_bare": overhead,
            "ours_over_rembg": ratio,
        }
        failed |= overhead > TARGET_OVERHEAD or (rembg is not None and ratio > TARGET_RATIO)
        stages = ours["stages_ms"]
        stage_text = " ".join(
            f"{k}={stages[k]:.0f}"
            for k in ("decode", "preprocess", "inference", "refine", "layout", "compose", "encode")
            if k in stages
        )
        print(
            f"{pipeline:9s} {ours['e2e_ms']:8.0f}ms {ours['bare_ms']:8.0f}ms {overhead:8.2f} "
            f"{(rembg or {}).get('e2e_ms', float('nan')):9.0f}ms {ratio:10.2f} "
            f"{ours['peak_rss_mb']:7.0f}MB {(rembg or {}).get('peak_rss_mb', float('nan')):7.0f}MB  {stage_text}",
            flush=True,
        )
    print(
        f"targets: ours/rembg <= {TARGET_RATIO}, e2e/bare <= {TARGET_OVERHEAD}: {'MISSED' if failed else 'met'}"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
