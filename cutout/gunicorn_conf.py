"""Gunicorn's settings for Cutout: the one place ``make run``, ``cutout serve``, the container and
the benchmarks read: ``gunicorn -c python:cutout.gunicorn_conf`` (bind with ``--bind`` or ``$BIND``).

The defaults are the development set-up (one worker, four request threads; ``WEB_CONCURRENCY``,
``GUNICORN_THREADS`` and gunicorn's own flags override them).

- **Models load when a worker starts**, not on its first request: a request that found the
  sessions missing waited several seconds for them (and two at once loaded them twice over the
  same lock). ``CUTOUT_WEB_PRELOAD`` names the pipelines (a setting; default: the default
  pipeline; ``none`` skips it). A missing model is logged and the worker still starts; requests
  then get the engine's ``model_missing`` error. A GPU that was asked for
  (``CUTOUT_ORT_PROVIDERS``) and cannot run stops the server instead: gunicorn halts when a
  worker fails to boot.
- **onnxruntime threads follow the worker count**: unless ``CUTOUT_INTRA_OP_THREADS`` is set,
  each of W workers on C cores gets ``C // W`` threads (at least 1), so two workers on two cores
  run one model each instead of four threads fighting over two cores.
- **Slow clients never hold a thread**: :class:`cutout.gunicorn_worker.BufferingThreadWorker`
  reads each request whole in the event loop before a thread sees it, within these limits
  (each overridable from the environment):

  - ``CUTOUT_HEADER_TIMEOUT`` (10 s): a request's headers must be in this long after its
    connection (or its turn on a kept-alive one) started;
  - ``CUTOUT_BODY_TIMEOUT`` (30 s) and ``CUTOUT_BODY_MIN_RATE`` (16384 bytes/s): a body is cut
    off when more than ``BODY_TIMEOUT + received / BODY_MIN_RATE`` seconds have passed since
    its headers, i.e. when it arrives slower than the minimum rate on average, after a grace
    period;
  - ``CUTOUT_MAX_BODY_BYTES`` (1 GiB + 16 MiB, the largest batch): larger bodies are refused
    (413).

Imports nothing of the project at module level (gunicorn reads it in its master process,
before the app is loaded); the start-up hook imports Django inside the worker.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


HEADER_TIMEOUT = _number("CUTOUT_HEADER_TIMEOUT", 10.0)
BODY_TIMEOUT = _number("CUTOUT_BODY_TIMEOUT", 30.0)
BODY_MIN_RATE = max(1.0, _number("CUTOUT_BODY_MIN_RATE", 16 * 1024))
MAX_BODY_BYTES = int(_number("CUTOUT_MAX_BODY_BYTES", (1 << 30) + (16 << 20)))

# Gunicorn's own settings (https://docs.gunicorn.org/en/stable/settings.html).
bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(_number("WEB_CONCURRENCY", 1))
threads = int(_number("GUNICORN_THREADS", 4))
wsgi_app = "cutout.wsgi:application"
worker_class = "cutout.gunicorn_worker.BufferingThreadWorker"
worker_connections = int(_number("GUNICORN_WORKER_CONNECTIONS", 1000))
timeout = 120  # a worker process that stops answering the arbiter is restarted
graceful_timeout = 30
keepalive = 5  # seconds an idle kept-alive connection waits for its next request
# No gunicorn access log: Cutout's own request line (cutout.request) has the request id and
# redacts secrets in paths and query strings.


def gunicorn_command(
    *, bind: str, workers: int | None = None, threads: int | None = None
) -> list[str]:
    """The command line that starts the site (the load benchmark's servers use it)."""
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "python:cutout.gunicorn_conf",
        "--bind",
        bind,
    ]
    if workers is not None:
        command += ["--workers", str(workers)]
    if threads is not None:
        command += ["--threads", str(threads)]
    return command


def intra_op_threads(worker_count: int, cores: int | None = None) -> int:
    """onnxruntime threads for each of ``worker_count`` workers sharing this machine's cores."""
    cores = cores or len(os.sched_getaffinity(0))
    return max(1, cores // max(1, worker_count))


def post_worker_init(worker: Any) -> None:
    """gunicorn hook, in each worker after the WSGI app (and Django) is loaded."""
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
