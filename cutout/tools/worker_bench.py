"""Batch throughput with 1, 2, ... Celery workers: ``python -m cutout.tools.worker_bench``.

For each worker count it starts that many real ``celery worker`` processes (one task at a time
each, models preloaded at process start), submits one batch job of N distinct photo-like JPEGs
through :func:`cutout.jobs.job_create` (exactly the API's and web app's path: tasks queued on
commit, credits reserved and captured per item, results and results ZIP written to storage) and
times it from submission until the job is closed. Prints images/s and the speed-up over 1 worker.

By default everything is private to the run: a temporary SQLite database and local storage in a
temporary folder, and kombu's filesystem broker there too unless ``$CELERY_BROKER_URL`` (or
``--broker``) names a Redis server, where the run uses queues of its own. ``--database-url``
measures on a real PostgreSQL server instead (a scratch database: the run migrates it and adds a
workspace).

Workers share the machine's cores: by default each of W workers gets ``cores // W`` onnxruntime
threads (at least 1), so 1 worker x 2 threads is compared with 2 workers x 1 thread.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from cutout.tools.processes import stop_groups

# Django and the project are imported inside the functions on purpose: the environment (database,
# broker, data folder) is chosen first and Django set up with it; worker processes do the same.
ROOT = Path(__file__).resolve().parents[2]
SERVER_VARS = ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_BROKER_TRANSPORT_OPTIONS")


def _isolated_env(args: argparse.Namespace, data_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in SERVER_VARS and not key.startswith("CUTOUT_S3_")
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "cutout.settings",
            "CUTOUT_ENV": "dev",
            "CUTOUT_DATA_DIR": str(data_dir),
            "CUTOUT_WORKER_PRELOAD": args.pipeline,
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    broker = args.broker or os.environ.get("CELERY_BROKER_URL", "")
    if broker.startswith(("redis://", "rediss://")):
        env["CELERY_BROKER_URL"] = broker  # the run uses queues of its own there
    return env


_seed = iter(range(1000, 10**6))


def _images(count: int, width: int, height: int) -> list[tuple[str, bytes]]:
    """Distinct images (new seeds every call): a repeated image would be deduplicated, free."""
    from cutout.tools.synthetic import photo_like, to_bytes

    images = []
    for i in range(count):
        rgb, _ = photo_like(width, height, seed=next(_seed))
        images.append((f"bench-{i:03d}.jpg", to_bytes(rgb, "JPEG", quality=88)))
    return images


def _start_workers(
    count: int, threads: int, queue: str, env: dict[str, str], log_dir: Path
) -> tuple[list[subprocess.Popen[bytes]], list[Path]]:
    procs, paths = [], []
    for n in range(count):
        path = log_dir / f"worker-{queue}-{n}.log"
        paths.append(path)
        log = path.open("wb")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "cutout.tools.worker_bench", "_worker", queue, str(n)],
                cwd=ROOT,
                env={**env, "CUTOUT_INTRA_OP_THREADS": str(threads)},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    return procs, paths


def _run_job(
    workspace: Any, images: list[tuple[str, bytes]], pipeline: str, timeout: float
) -> dict[str, Any]:
    from cutout.jobs.selectors import job_progress
    from cutout.jobs.services import job_create
    from cutout.models import Job, JobItem

    started = time.perf_counter()
    job = job_create(
        workspace=workspace,
        files=images,
        options={"pipeline": pipeline, "mode": "transparent", "format": "png"},
    )
    deadline = started + timeout
    while time.perf_counter() < deadline:
        job.refresh_from_db()
        if job.status in (Job.Status.DONE, Job.Status.FAILED):
            break
        time.sleep(0.1)
    else:
        raise SystemExit(f"the job did not finish within {timeout:.0f}s: {job_progress(job)}")
    elapsed = time.perf_counter() - started
    items = list(JobItem.objects.filter(job=job))
    failed = [item for item in items if item.status != JobItem.Status.DONE]
    if failed:
        raise SystemExit(
            f"{len(failed)} items failed, e.g. {failed[0].error_code}: {failed[0].error_message}"
        )
    per_item = [float(item.timings.get("total_ms", 0)) for item in items]
    return {
        "images": len(items),
        "seconds": round(elapsed, 2),
        "images_per_s": round(len(items) / elapsed, 3),
        "item_ms_median": round(statistics.median(per_item), 1),
    }


def _wait_ready(procs: list[subprocess.Popen[bytes]], logs: list[Path], timeout: float) -> None:
    """Until every worker logged that it is ready (its pool processes have loaded the models)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc, log in zip(procs, logs, strict=True):
            if proc.poll() is not None:
                raise SystemExit(f"a worker exited early; see {log}")
        if all(" ready." in log.read_text(errors="replace") for log in logs):
            return
        time.sleep(0.5)
    raise SystemExit(f"workers did not start within {timeout:.0f}s; see {logs[0]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Batch throughput with 1, 2, ... Celery workers.")
    parser.add_argument("--images", type=int, default=24, help="images per batch (default 24)")
    parser.add_argument("--size", default="1024x768", help="image size WxH (default 1024x768)")
    parser.add_argument("--pipeline", default="fast", help="fast, balanced or best (default fast)")
    parser.add_argument("--workers", default="1,2", help="worker counts to compare (default 1,2)")
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime threads per worker")
    parser.add_argument("--database-url", default="", help="a scratch PostgreSQL database")
    parser.add_argument(
        "--broker", default="", help="a Redis URL (default: $CELERY_BROKER_URL if Redis)"
    )
    parser.add_argument("--json", default="", help="also write the results to this file")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder (logs, files)")
    args = parser.parse_args(argv)
    counts = [int(part) for part in args.workers.split(",") if part.strip()]

    data_dir = Path(tempfile.mkdtemp(prefix="cutout-worker-bench-"))
    try:
        code = _bench(args, data_dir, counts)
    except BaseException:
        print(f"run folder kept for its logs: {data_dir}", file=sys.stderr)
        raise
    if args.keep:
        print(f"run folder kept: {data_dir}")
    else:
        shutil.rmtree(data_dir, ignore_errors=True)
    return code


def _bench(args: argparse.Namespace, data_dir: Path, counts: list[int]) -> int:
    width, height = (int(part) for part in args.size.lower().split("x"))
    cores = os.cpu_count() or 1
    env = _isolated_env(args, data_dir)
    os.environ.clear()
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    from accounts.models import Workspace
    from billing.services import credits_grant
    from cutout.celery import app

    call_command("migrate", verbosity=0, interactive=False)
    workspace = Workspace.objects.create(name="Worker bench", slug=f"bench-{uuid.uuid4().hex[:10]}")
    credits_grant(
        workspace=workspace,
        amount=(args.images + 4) * (len(counts) + 1),
        reason="worker bench",
        idempotency_key=f"bench:{workspace.pk}",
    )
    print(
        f"worker bench: {args.images} images of {width}x{height} JPEG, pipeline {args.pipeline}, "
        f"{cores} CPU cores, database {django.db.connection.vendor}, broker {app.conf.broker_url.split(':')[0]}"
    )
    results = [
        _measure(app, workspace, args, count, cores, env, data_dir, (width, height))
        for count in counts
    ]
    base = results[0]["images_per_s"] if results else 0
    for row in results[1:]:
        print(
            f"  speed-up of {row['workers']} workers over {results[0]['workers']}: {row['images_per_s'] / base:.2f}x"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"cores": cores, "results": results}, indent=2))
    return 0


def _measure(
    app: Any,
    workspace: Any,
    args: argparse.Namespace,
    count: int,
    cores: int,
    env: dict[str, str],
    data_dir: Path,
    size: tuple[int, int],
) -> dict[str, Any]:
    """One batch on ``count`` fresh workers (after a warm-up batch), timed."""
    width, height = size
    threads = args.threads or max(1, cores // count)
    queue = f"bench{uuid.uuid4().hex[:6]}"
    app.conf.CELERY_TASK_ROUTES = {"cutout.tasks.*": {"queue": queue}}
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp.flush_routes()
        amqp.router = amqp.Router()
    procs, logs = _start_workers(count, threads, queue, env, data_dir)
    try:
        _wait_ready(procs, logs, timeout=180)
        # Warm-up: every worker runs a couple of items before timing starts.
        _run_job(workspace, _images(2 * count, width, height), args.pipeline, timeout=600)
        load = os.getloadavg()[0]
        measured = _run_job(
            workspace, _images(args.images, width, height), args.pipeline, timeout=3600
        )
    finally:
        stop_groups(procs)
        _drop_queue(app, queue)
    measured.update(
        {"workers": count, "threads_per_worker": threads, "load_before": round(load, 2)}
    )
    print(
        f"  {count} worker(s) x {threads} thread(s): {measured['images']} images in "
        f"{measured['seconds']:.1f} s = {measured['images_per_s']:.2f} images/s "
        f"(median {measured['item_ms_median']:.0f} ms per item; load average before {load:.1f})"
    )
    return measured


def _drop_queue(app: Any, queue: str) -> None:
    """Leave nothing of the run's queue on a shared broker."""
    try:
        with app.connection_for_write() as conn:
            channel: Any = conn.default_channel
            channel.queue_delete(queue)
            if hasattr(channel, "client"):  # Redis: the exchange binding the workers declared
                channel.client.delete(queue, f"_kombu.binding.{queue}")
    except Exception as exc:  # cleanup only
        print(f"  (could not delete the queue {queue}: {exc})", file=sys.stderr)


def _worker(queue: str, index: str) -> None:
    """One bench worker: the real ``celery worker`` on the run's queue, one task at a time."""
    import django

    django.setup()
    from cutout.celery import app

    app.conf.CELERY_TASK_DEFAULT_QUEUE = queue
    app.worker_main(
        [
            "worker",
            "-Q",
            queue,
            "-n",
            f"bench-{queue}-{index}@%h",
            "--concurrency",
            "1",
            "--pool",
            "prefork",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "INFO",
        ]
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_worker":
        _worker(sys.argv[2], sys.argv[3])
    else:
        sys.exit(main())
