"""The GPU path of ``best``: ``python -m cutout.tools.gpu_bench`` (issue 21; docs/performance.md).

Prepared on the CPU, for a session that has the accelerator machine: it runs the same code on
any provider, so it is tested here with ``--providers CPUExecutionProvider``. On the GPU host,
with the ``onnxruntime-gpu`` wheel in place of ``onnxruntime`` (same version) and the models in
the model folder::

    python -m cutout.tools.gpu_bench --providers CUDAExecutionProvider,CPUExecutionProvider

1. **Providers.** ``CUTOUT_ORT_PROVIDERS`` is set from ``--providers`` and checked the way the
   service checks it: a provider this build lacks, or one a session dropped (CUDA libraries
   missing), stops the run with the reason; nothing falls back to the CPU quietly. On GPU
   providers the engine loads the float source models (the int8 files are a CPU optimisation).
2. **End to end**, JPEG bytes to PNG bytes through :func:`cutout.engine.process`: distinct
   photo-like images of ``--size``, one at a time and then ``--concurrency`` at once (a GPU only
   fills up with several requests in flight; decoding, resizing and PNG encoding stay on the
   CPU). Images/s and the median of every stage the engine times.
3. **Batched bare inference** of each model of the pipeline, on random tensors: the graphs are
   exported with a batch size of 1, so a copy with a free batch dimension is tried; a batch the
   graph refuses, or one whose rows differ from single runs, is reported as such.

The issue's target, >= 30 images/s for ``best`` on one H200 at 1.5 MP end to end, is printed
against the concurrent figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

TARGET_IMAGES_PER_S = 30.0


def end_to_end(
    images: list[bytes], pipeline: str, concurrency: int
) -> tuple[float, dict[str, float]]:
    """Images/s over ``images`` with ``concurrency`` in flight, and the median stage timings."""
    from cutout import engine

    options = engine.Options(pipeline=pipeline)
    stages: dict[str, list[float]] = {}

    def one(data: bytes) -> None:
        result = engine.process(data, options)
        for stage, ms in result.metadata["timings_ms"].items():
            stages.setdefault(stage, []).append(float(ms))

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, images))
    elapsed = time.perf_counter() - started
    return len(images) / elapsed, {k: statistics.median(v) for k, v in stages.items()}


def free_batch(model: Any) -> Any:
    """``model`` (an onnx ModelProto) with a symbolic batch dimension on its inputs and outputs."""
    for info in (*model.graph.input, *model.graph.output):
        dims = info.type.tensor_type.shape.dim
        if dims:
            dims[0].ClearField("dim_value")
            dims[0].dim_param = "batch"
    del model.graph.value_info[:]
    return model


def batched_inference(name: str, providers: list[str], batch: int, runs: int) -> str:
    """One report line: images/s of bare inference of ``name`` at batch 1 and ``batch``."""
    import onnx
    import onnxruntime as ort

    from cutout.engine import MODELS, check_model
    from cutout.engine.registry import resolve_model_dir
    from cutout.engine.runtime import check_session

    spec = MODELS[name]
    path = check_model(name, resolve_model_dir(), full_hash=False)
    session = ort.InferenceSession(
        free_batch(onnx.load(str(path))).SerializeToString(), providers=providers
    )
    check_session(session, name, providers)
    input_name, output = session.get_inputs()[0].name, session.get_outputs()[0].name
    rng = np.random.default_rng(1)
    side = spec.input_size
    tensor = rng.standard_normal((batch, 3, side, side), dtype=np.float32)
    single = [session.run([output], {input_name: tensor[i : i + 1]})[0] for i in range(batch)]
    line = f"{name:7s} {path.name}:"
    for size in sorted({1, batch}):
        try:
            out = session.run([output], {input_name: tensor[:size]})[0]
        except Exception as exc:  # the graph's own limit: part of the report
            line += f" batch {size}: refused ({type(exc).__name__})"
            continue
        diff = max(float(np.abs(out[i] - single[i]).max()) for i in range(size))
        if diff > 1e-3:
            line += f" batch {size}: rows differ from single runs (max {diff:.3g})"
            continue
        started = time.perf_counter()
        for _ in range(runs):
            session.run([output], {input_name: tensor[:size]})
        rate = size * runs / (time.perf_counter() - started)
        line += f" batch {size}: {rate:.1f} images/s"
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="best on a GPU provider: images/s and stages.")
    parser.add_argument("--providers", default="CUDAExecutionProvider")
    parser.add_argument("--pipeline", default="best")
    parser.add_argument("--images", type=int, default=64, help="distinct images per pass")
    parser.add_argument("--size", default="1500x1000", help="WxH (default 1.5 MP)")
    parser.add_argument("--concurrency", type=int, default=8, help="images in flight")
    parser.add_argument("--batch", type=int, default=8, help="batch size for bare inference")
    parser.add_argument("--runs", type=int, default=10, help="bare-inference runs per batch")
    args = parser.parse_args(argv)

    import onnxruntime as ort

    from cutout import engine
    from cutout.engine.runtime import PROVIDERS_ENV
    from cutout.tools.synthetic import distinct_photos

    os.environ[PROVIDERS_ENV] = args.providers
    print(
        f"onnxruntime {ort.__version__}; this build has: {', '.join(ort.get_available_providers())}"
    )
    try:
        providers = engine.check_providers()
        engine.preload([args.pipeline])
    except engine.ProviderUnavailable as exc:
        print(f"stopped: {exc.message}", file=sys.stderr)
        return 2
    width, height = (int(part) for part in args.size.lower().split("x"))
    print(
        f"pipeline {args.pipeline} on {', '.join(providers)}; {args.images} images of "
        f"{width}x{height} JPEG -> transparent PNG; {len(os.sched_getaffinity(0))} CPU cores"
    )
    end_to_end(distinct_photos(2, width, height, seed=800), args.pipeline, 1)  # warm-up
    images = distinct_photos(args.images, width, height)
    for concurrency in sorted({1, args.concurrency}):
        rate, stages = end_to_end(images, args.pipeline, concurrency)
        shown = " ".join(f"{stage}={ms:.0f}" for stage, ms in stages.items())
        print(f"end to end, {concurrency} in flight: {rate:.2f} images/s; median ms: {shown}")
    verdict = "ok" if rate >= TARGET_IMAGES_PER_S else "MISSED"
    print(
        f"target: {args.pipeline} >= {TARGET_IMAGES_PER_S:.0f} images/s end to end on one H200 "
        f"at 1.5 MP: {rate:.2f} here ({verdict}; the target applies to that GPU only)"
    )
    for name in engine.PIPELINES[args.pipeline].models:
        print(batched_inference(name, providers, args.batch, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
