"""Speed benchmark: ``python -m cutout.tools.bench`` (first part of ``make bench``).

For every pipeline, on one deterministic ~1.5 MP photo-like JPEG (``cutout.tools.synthetic``):

- ours e2e: ``engine.process`` from JPEG bytes to transparent PNG bytes (decode, matte, render,
  encode), with the model files the engine loads (the int8 files ``fetch_models`` builds);
- ours bare: ``InferenceSession.run`` alone on prepared tensors, for every model the pipeline
  runs (``best`` runs ISNet and u2net: the sum of both);
- source bare: the same with the float source models under the same session options, i.e. what
  the int8 files alone gave;
- rembg e2e: ``rembg.remove`` with the same source model file (``U2NET_HOME`` pointed at our model
  dir; ``dis_custom`` with ``model_path`` for ISNet), JPEG bytes to PNG bytes;
- all are interleaved run by run in one process after a warm-up, and reported as median and
  minimum of N (on a shared machine the minimum is the steadier figure);
- peak RSS of each side, each measured in its own fresh subprocess so they do not mix.

Targets: issue 3, ours/rembg <= 0.70 for every pipeline and ours e2e <= 1.15 x ours bare; issue
10, ours/rembg <= 0.45 for ``best`` and <= 0.50 for ``balanced``.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cutout.tools.synthetic import photo_like, to_bytes

# The engine, rembg and onnxruntime are imported inside the functions on purpose: each side runs
# in a process of its own (its peak RSS is measured), so a process loads only what it runs.
TARGET_RATIO = 0.70
TARGET_OVERHEAD = 1.15
TARGET_RATIO_SPEED = {"best": 0.45, "balanced": 0.50}  # issue 10


def bench_image(width: int, height: int) -> bytes:
    rgb, _ = photo_like(width, height, seed=1)
    return to_bytes(rgb, "JPEG", quality=90)


def peak_rss_mb() -> float:
    """This process's peak resident set, MB (10^6 bytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # KiB -> MB


def _rembg_session(pipeline: str, threads: int) -> Any:
    from cutout.engine.registry import MODELS, resolve_model_dir

    model_dir = resolve_model_dir()
    os.environ["U2NET_HOME"] = str(model_dir)
    if threads:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    from rembg import new_session

    if pipeline == "best":
        return new_session("dis_custom", model_path=str(model_dir / MODELS["isnet"].file))
    return new_session("u2netp" if pipeline == "fast" else "u2net")


def _ours(pipeline: str, threads: int) -> tuple[Any, Any]:
    """(e2e callable factory, bare-inference callable factory) for our engine."""
    from cutout import engine

    engine.configure(threads=threads)
    engine.preload([pipeline])
    return engine, engine.Options(pipeline=pipeline, format="png")


def worker_time(pipeline: str, data: bytes, runs: int, threads: int) -> dict[str, Any]:
    """Ours e2e, ours bare inference and rembg e2e, interleaved run by run in one process so that
    all three see the same machine load (shared machines drift by 2x within minutes)."""
    import onnxruntime as ort
    from rembg import remove

    from cutout.engine.inference import model_input
    from cutout.engine.registry import MODELS, check_model
    from cutout.engine.sessions import get_session, output_name

    engine, options = _ours(pipeline, threads)
    limits = engine.Limits()
    decoded = engine.decode_image(data, limits)
    bare = []
    for model in engine.PIPELINES[pipeline].models:
        session = get_session(model)
        source = ort.InferenceSession(
            str(check_model(model, full_hash=False)),
            sess_options=session.get_session_options(),
            providers=session.get_providers(),
        )
        tensor = model_input(decoded, model)
        for kind, sess in (("ours_bare", session), ("source_bare", source)):
            feed = {sess.get_inputs()[0].name: tensor}
            bare.append((kind, sess, [output_name(sess, MODELS[model])], feed))

    def run_bare(kind: str) -> None:
        for name, sess, names, feed in bare:
            if name == kind:
                sess.run(names, feed)

    rembg_session = _rembg_session(pipeline, threads)
    work: dict[str, Callable[[], Any]] = {
        "ours_e2e": lambda: engine.process(data, options, limits=limits),
        "ours_bare": lambda: run_bare("ours_bare"),
        "source_bare": lambda: run_bare("source_bare"),
        "rembg_e2e": lambda: remove(data, session=rembg_session),
    }
    results = {name: fn() for name, fn in work.items()}  # warm-up
    times: dict[str, list[float]] = {name: [] for name in work}
    for _ in range(runs):
        for name, fn in work.items():
            start = time.perf_counter()
            results[name] = fn()
            times[name].append((time.perf_counter() - start) * 1000.0)
    ours = results["ours_e2e"]
    return {
        "median": {name: statistics.median(values) for name, values in times.items()},
        "min": {name: min(values) for name, values in times.items()},
        "png_bytes": {"ours": len(ours.data), "rembg": len(results["rembg_e2e"])},
        "model_files": [_model_file(model) for model in engine.PIPELINES[pipeline].models],
        "stages_ms": ours.metadata["timings_ms"],
    }


def _model_file(model: str) -> str:
    from cutout.engine import derived
    from cutout.engine.registry import MODELS

    if derived.enabled() and derived.stale_reason(model, full_hash=False) is None:
        return derived.derived_path(model).name
    return MODELS[model].file


def worker_rss(side: str, pipeline: str, data: bytes, threads: int) -> dict[str, Any]:
    """Peak RSS of one side alone after two full runs, in a fresh process."""
    if side == "ours":
        engine, options = _ours(pipeline, threads)
        for _ in range(2):
            engine.process(data, options, limits=engine.Limits())
    else:
        from rembg import remove

        session = _rembg_session(pipeline, threads)
        for _ in range(2):
            remove(data, session=session)
    return {"peak_rss_mb": peak_rss_mb()}


def run_worker(kind: str, pipeline: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, "-m", "cutout.tools.bench", "--worker", kind, "--pipeline", pipeline]
    command += ["--runs", str(args.runs), "--threads", str(args.threads)]
    command += ["--width", str(args.width), "--height", str(args.height)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind}/{pipeline} worker failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


STAGES = ("decode", "preprocess", "inference", "postprocess", "refine", "layout", "encode")


def _verdict(name: str, value: float, target: float) -> str:
    return f"{name} {value:.2f} <= {target:.2f} {'ok' if value <= target else 'MISSED'}"


def _bench_pipeline(pipeline: str, args: argparse.Namespace, verdicts: list[str]) -> dict[str, Any]:
    """One pipeline's figures (each side in processes of its own); prints a table row per stat and
    adds the verdicts on the targets to ``verdicts``."""
    timing = run_worker("time", pipeline, args)
    rss_ours = run_worker("rss-ours", pipeline, args)["peak_rss_mb"]
    rss_rembg = run_worker("rss-rembg", pipeline, args)["peak_rss_mb"]
    figures: dict[str, Any] = {**timing, "peak_rss_mb": {"ours": rss_ours, "rembg": rss_rembg}}
    for stat in ("median", "min"):
        t = timing[stat]
        overhead = t["ours_e2e"] / t["ours_bare"]
        ratio = t["ours_e2e"] / t["rembg_e2e"]
        figures[f"{stat}_ratios"] = {
            "e2e_over_bare": overhead,
            "ours_over_rembg": ratio,
            "int8_over_source_bare": t["ours_bare"] / t["source_bare"],
        }
        if stat == "median":
            verdicts.append(_verdict(f"{pipeline} ours/rembg", ratio, TARGET_RATIO))
            verdicts.append(_verdict(f"{pipeline} e2e/bare", overhead, TARGET_OVERHEAD))
            if pipeline in TARGET_RATIO_SPEED:
                target = TARGET_RATIO_SPEED[pipeline]
                verdicts.append(_verdict(f"{pipeline} ours/rembg (issue 10)", ratio, target))
        print(
            f"{pipeline:9s} {stat:6s} {t['ours_e2e']:7.0f}ms {t['ours_bare']:7.0f}ms "
            f"{overhead:8.2f} {t['source_bare']:7.0f}ms {t['rembg_e2e']:8.0f}ms {ratio:10.2f}"
        )
    stages = timing["stages_ms"]
    stage_text = " ".join(f"{k}={stages[k]:.0f}" for k in STAGES if k in stages)
    png = timing["png_bytes"]
    print(
        f"{'':9s} models {', '.join(timing['model_files'])}; peak RSS ours {rss_ours:.0f} MB, "
        f"rembg {rss_rembg:.0f} MB; PNG ours {png['ours'] / 1e6:.2f} MB, rembg "
        f"{png['rembg'] / 1e6:.2f} MB; last run: {stage_text}",
        flush=True,
    )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Cutout engine speed vs rembg.")
    parser.add_argument("--pipelines", nargs="+", default=["fast", "balanced", "best"])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--threads", type=int, default=0, help="intra-op threads for both sides (0: auto)"
    )
    parser.add_argument("--width", type=int, default=1500)
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--worker", choices=["time", "rss-ours", "rss-rembg"], help=argparse.SUPPRESS
    )
    parser.add_argument("--pipeline", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        data = bench_image(args.width, args.height)
        if args.worker == "time":
            figures_one = worker_time(args.pipeline, data, args.runs, args.threads)
        else:
            figures_one = worker_rss(
                args.worker.removeprefix("rss-"), args.pipeline, data, args.threads
            )
        print(json.dumps(figures_one))
        return 0

    data = bench_image(args.width, args.height)
    print(
        f"image: {args.width}x{args.height} ({args.width * args.height / 1e6:.1f} MP) photo-like JPEG, "
        f"{len(data) / 1e3:.0f} kB -> transparent PNG; {args.runs} interleaved runs; cpus: "
        f"{os.cpu_count()}, threads: {args.threads or 'auto'}; load avg {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'pipeline':9s} {'stat':6s} {'ours e2e':>9s} {'bare inf':>9s} {'e2e/bare':>8s} "
        f"{'src bare':>9s} {'rembg e2e':>10s} {'ours/rembg':>10s}"
    )
    figures: dict[str, Any] = {}
    verdicts: list[str] = []
    for pipeline in args.pipelines:
        figures[pipeline] = _bench_pipeline(pipeline, args, verdicts)
    missed = [v for v in verdicts if v.endswith("MISSED")]
    print("targets (medians): " + "; ".join(verdicts))
    print(f"speed targets: {'all met' if not missed else f'{len(missed)} MISSED'}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
