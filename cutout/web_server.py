"""What a web worker does as it starts (gunicorn's ``post_worker_init`` in cutout/gunicorn_conf.py).

``make run``, the load benchmark (:mod:`cutout.tools.load_bench`) and any launcher that reads
cutout/gunicorn_conf.py get it:

- **Models load when a worker starts**, not on its first request: a request that found the
  sessions missing waited several seconds for them (and two at once loaded them twice over the
  same lock). ``CUTOUT_WEB_PRELOAD`` names the pipelines (a setting; default: the default
  pipeline; ``none`` skips it). A missing model is logged and the worker still starts; requests
  then get the engine's ``model_missing`` error. A GPU that was asked for (``CUTOUT_ORT_PROVIDERS``)
  and cannot run stops the server instead: gunicorn halts when a worker fails to boot.
- **onnxruntime threads follow the worker count**: unless ``CUTOUT_INTRA_OP_THREADS`` is set,
  each of W workers on C cores gets ``C // W`` threads (at least 1), so two workers on two cores
  run one model each instead of four threads fighting over two cores.

Nothing here imports Django at module level.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def gunicorn_command(
    *, bind: str, workers: int | None = None, threads: int | None = None
) -> list[str]:
    """The command line that starts the site as ``make run`` does (the load benchmark's servers)."""
    command = [sys.executable, "-m", "gunicorn", "-c", "python:cutout.gunicorn_conf", "cutout.wsgi"]
    command += ["--bind", bind]
    if workers is not None:
        command += ["--workers", str(workers)]
    if threads is not None:
        command += ["--threads", str(threads)]
    return command


def intra_op_threads(worker_count: int, cores: int | None = None) -> int:
    """onnxruntime threads for each of ``worker_count`` workers sharing this machine's cores."""
    cores = cores or len(os.sched_getaffinity(0))
    return max(1, cores // max(1, worker_count))


def worker_started(worker: Any) -> None:
    """In each gunicorn worker after the WSGI app (and Django) is loaded."""
    from django.conf import settings

    from cutout import engine

    threads_setting = settings.CUTOUT_INTRA_OP_THREADS or intra_op_threads(worker.cfg.workers)
    engine.configure(threads=threads_setting, model_dir=settings.CUTOUT_MODEL_DIR)
    pipelines: list[str] = list(settings.CUTOUT_WEB_PRELOAD)
    try:
        engine.check_providers()
        loaded = [] if pipelines == ["none"] else engine.preload(pipelines)
    except engine.ProviderUnavailable as exc:
        # Raised on: gunicorn stops the whole server when a worker fails to boot.
        worker.log.critical("%s", exc.message)
        raise
    except engine.EngineError as exc:
        worker.log.error("could not load models for %s: %s", ", ".join(pipelines), exc)
        return
    if not loaded:
        return
    worker.log.info(
        "worker %s: models loaded (%s), %s onnxruntime thread(s)",
        os.getpid(),
        ", ".join(loaded),
        threads_setting,
    )
