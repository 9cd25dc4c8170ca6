"""Worker memory and throughput (issue 10): ``python -m cutout.tools.bench_speed`` (part of
``make bench``; the per-image speed against rembg is :mod:`cutout.tools.bench`).

Each measurement runs in fresh subprocesses so that their memory and thread pools do not mix:

1. **Memory**: one process with ``best`` loaded processes N consecutive distinct images (default
   500, sizes 0.3 to 2.4 MP); RSS is sampled along the way. Targets: peak <= 1200 MB, and flat:
   RSS after the last image within 3% (or 40 MB) of RSS after the first 50.
2. **Throughput**: the same images through 1 process x 1 thread, 2 processes x 1 thread (started
   together after both loaded their model), and for context 1 process x 2 threads. Target: 2
   processes >= 1.8x one process with the same settings. A memory bandwidth probe (numpy copy, 1
   vs 2 processes) is printed with it: when two cores share one memory bus the second worker
   cannot double throughput, and this says by how much it can.

All sizes are MB of 10^6 bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cutout.tools.bench import peak_rss_mb

# The engine and the image maker are imported inside the functions on purpose: each measurement
# runs in a process of its own whose memory is what is measured, so it loads only what it runs.

TARGET_RSS_MB = 1200.0
TARGET_SCALING = 1.8
FLAT_TOLERANCE = (0.03, 40.0)  # relative, absolute MB


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


# ---------------------------------------------------------------------------------- workers


def _image_set(count: int, seed0: int = 5000) -> list[bytes]:
    """``count`` distinct JPEGs of varied sizes (0.3 to 2.4 MP): a steady state must survive
    size changes, which is where arenas and caches grow."""
    from cutout.tools.synthetic import photo_like, to_bytes

    sizes = [(640, 480), (1500, 1000), (1024, 1024), (1920, 1280), (800, 1200), (1200, 800)]
    out = []
    for i in range(count):
        w, h = sizes[i % len(sizes)]
        rgb, _ = photo_like(w, h, seed=seed0 + i)
        out.append(to_bytes(rgb, "JPEG", quality=88))
    return out


def worker_memory(pipeline: str, images: int, distinct: int) -> dict[str, Any]:
    from cutout import engine

    baseline = _rss_mb()
    engine.preload([pipeline])
    loaded = _rss_mb()
    pool = _image_set(distinct)
    options = engine.Options(pipeline=pipeline, format="png")
    limits = engine.Limits()
    samples: list[tuple[int, float]] = []
    start = time.perf_counter()
    for i in range(images):
        engine.process(pool[i % len(pool)], options, limits=limits)
        if i + 1 in (1, 10) or (i + 1) % 50 == 0 or i + 1 == images:
            samples.append((i + 1, round(_rss_mb(), 1)))
    return {
        "rss_start_mb": round(baseline, 1),
        "rss_loaded_mb": round(loaded, 1),
        "samples": samples,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "seconds": round(time.perf_counter() - start, 1),
    }


def worker_throughput(pipeline: str, threads: int, images: int, offset: int) -> None:
    """Load, say ready, wait for 'go' on stdin, process ``images`` images, print timings."""
    from cutout import engine

    engine.configure(threads=threads)
    engine.preload([pipeline])
    pool = _image_set(images, seed0=9000 + offset)
    options = engine.Options(pipeline=pipeline, format="png")
    engine.process(pool[0], options)  # warm
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.perf_counter()
    for data in pool:
        engine.process(data, options)
    print(json.dumps({"seconds": time.perf_counter() - start, "images": len(pool)}), flush=True)


def worker_bandwidth(mb: int, repeats: int) -> None:
    import numpy as np

    src = np.ones(mb * 1024 * 1024 // 8)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.perf_counter()
    for _ in range(repeats):
        np.copyto(dst, src)
    elapsed = time.perf_counter() - start
    # A copy reads and writes every byte.
    print(json.dumps({"gbps": 2 * src.nbytes * repeats / elapsed / 1e9}), flush=True)


# ---------------------------------------------------------------------------------- driver


def _run_json(args: list[str]) -> dict[str, Any]:
    command = [sys.executable, "-m", "cutout.tools.bench_speed", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _together(arg_lists: list[list[str]]) -> list[dict[str, Any]]:
    """Start the workers, wait until each says ready, release them at once, collect results."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "cutout.tools.bench_speed", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for args in arg_lists
    ]
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "ready":
            raise SystemExit(f"worker did not start: {line!r}")
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit("worker failed")
        results.append(dict(json.loads(out.strip().splitlines()[-1])))
    return results


def measure_memory(args: argparse.Namespace) -> dict[str, Any]:
    print(
        f"memory: one process, pipeline best, {args.rss_images} consecutive images "
        f"(sizes 0.3-2.4 MP)",
        flush=True,
    )
    fig = _run_json(
        [
            *("--worker", "memory", "--pipeline", "best", "--images", str(args.rss_images)),
            *("--distinct", str(args.distinct)),
        ]
    )
    samples: dict[int, float] = {int(n): float(mb) for n, mb in fig["samples"]}
    first = samples[50] if 50 in samples else samples[min(samples)]
    last = samples[max(samples)]
    growth = last - first
    flat = growth <= max(FLAT_TOLERANCE[0] * first, FLAT_TOLERANCE[1])
    fig.update(growth_mb=round(growth, 1), flat=flat, met=fig["peak_rss_mb"] <= TARGET_RSS_MB)
    trail = ", ".join(f"{n}: {mb:.0f}" for n, mb in fig["samples"])
    print(f"   RSS MB after n images: {trail}")
    print(
        f"   model loaded {fig['rss_loaded_mb']:.0f} MB; peak {fig['peak_rss_mb']:.0f} MB "
        f"(target <= {TARGET_RSS_MB:.0f}: {'ok' if fig['met'] else 'MISSED'}); growth from image "
        f"50 to {max(samples)}: {growth:+.0f} MB ({'flat' if flat else 'NOT FLAT'}); "
        f"{fig['seconds']:.0f} s",
        flush=True,
    )
    return fig


def measure_throughput(args: argparse.Namespace) -> dict[str, Any]:
    cores = os.cpu_count() or 1
    print(
        f"throughput: pipeline {args.throughput_pipeline}, {args.throughput_images} images "
        f"per worker; load avg {os.getloadavg()[0]:.1f}",
        flush=True,
    )

    def workers(count: int, threads: int) -> list[dict[str, Any]]:
        return _together(
            [
                [
                    *("--worker", "throughput", "--pipeline", args.throughput_pipeline),
                    *("--threads", str(threads), "--images", str(args.throughput_images)),
                    *("--offset", str(k * 1000)),
                ]
                for k in range(count)
            ]
        )

    one = workers(1, 1)[0]
    two = workers(2, 1)
    wide = workers(1, cores)[0]
    rate_one = one["images"] / one["seconds"]
    rate_two = sum(r["images"] for r in two) / max(r["seconds"] for r in two)
    rate_wide = wide["images"] / wide["seconds"]
    scaling = rate_two / rate_one
    bw_one = _together([["--worker", "bandwidth"]])[0]["gbps"]
    bw_two = sum(r["gbps"] for r in _together([["--worker", "bandwidth"]] * 2))
    fig = {
        "one_worker_images_per_s": rate_one,
        "two_workers_images_per_s": rate_two,
        "one_worker_all_threads_images_per_s": rate_wide,
        "scaling": scaling,
        "met": scaling >= TARGET_SCALING,
        "bandwidth_gbps": {"one": bw_one, "two": bw_two, "scaling": bw_two / bw_one},
    }
    print(
        f"   1 worker x 1 thread: {rate_one:.3f} images/s; 2 workers x 1 thread: "
        f"{rate_two:.3f} images/s; scaling {scaling:.2f}x (target >= {TARGET_SCALING}: "
        f"{'ok' if fig['met'] else 'MISSED'})"
    )
    print(
        f"   for comparison, 1 worker x {cores} threads: {rate_wide:.3f} images/s "
        f"(2 workers x 1 thread do {rate_two / rate_wide:.2f}x that)"
        if rate_two >= rate_wide
        else f"   for comparison, 1 worker x {cores} threads: {rate_wide:.3f} images/s"
    )
    print(
        f"   memory bandwidth (numpy copy): 1 process {bw_one:.1f} GB/s, 2 processes "
        f"{bw_two:.1f} GB/s ({bw_two / bw_one:.2f}x)",
        flush=True,
    )
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Engine speed targets (issue 10).")
    parser.add_argument("--rss-images", type=int, default=500)
    parser.add_argument("--distinct", type=int, default=24, help="distinct images in the RSS run")
    parser.add_argument("--throughput-images", type=int, default=12)
    parser.add_argument("--throughput-pipeline", default="best")
    parser.add_argument("--skip", nargs="*", default=[], choices=["memory", "throughput"])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--worker", choices=["memory", "throughput", "bandwidth"], help=argparse.SUPPRESS
    )
    parser.add_argument("--pipeline", help=argparse.SUPPRESS)
    parser.add_argument("--images", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--offset", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker == "memory":
        print(json.dumps(worker_memory(args.pipeline, args.images, args.distinct)))
        return 0
    if args.worker == "throughput":
        worker_throughput(args.pipeline, args.threads, args.images, args.offset)
        return 0
    if args.worker == "bandwidth":
        worker_bandwidth(512, 8)
        return 0

    import onnxruntime

    print(
        f"cutout engine speed (issue 10): cpus {os.cpu_count()}, onnxruntime "
        f"{onnxruntime.__version__}, load avg {os.getloadavg()[0]:.1f}"
    )
    figures: dict[str, Any] = {}
    if "memory" not in args.skip:
        figures["memory"] = measure_memory(args)
    if "throughput" not in args.skip:
        figures["throughput"] = measure_throughput(args)
    verdicts = [
        fig.get("met")
        for section in figures.values()
        for fig in (section.values() if "met" not in section else [section])
        if isinstance(fig, dict)
    ]
    missed = [v for v in verdicts if v is False]
    print(f"targets: {'all met' if not missed else f'{len(missed)} MISSED'}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
