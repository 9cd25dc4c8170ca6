"""Gunicorn's settings for Cutout: the one place ``make run`` (and any other launcher) reads.

``gunicorn -c python:cutout.gunicorn_conf cutout.wsgi`` (bind with ``--bind`` or ``$BIND``).
Every value can be overridden from the environment; the request-arrival limits are read by
:class:`cutout.gunicorn_worker.BufferingThreadWorker`, which reads each request whole in the
event loop before a thread sees it, so slow clients never hold a thread:

- ``CUTOUT_HEADER_TIMEOUT`` (10 s): a request's headers must be in this long after its
  connection (or its turn on a kept-alive one) started;
- ``CUTOUT_BODY_TIMEOUT`` (30 s) and ``CUTOUT_BODY_MIN_RATE`` (16384 bytes/s): a body is cut off
  when more than ``BODY_TIMEOUT + received / BODY_MIN_RATE`` seconds have passed since its
  headers, i.e. when it arrives slower than the minimum rate on average, after a grace period;
- ``CUTOUT_MAX_BODY_BYTES`` (1 GiB + 16 MiB, the largest batch): larger bodies are refused (413).

Imports nothing of the project (gunicorn reads it before the app is loaded).
"""

from __future__ import annotations

import os


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
worker_class = "cutout.gunicorn_worker.BufferingThreadWorker"
worker_connections = int(_number("GUNICORN_WORKER_CONNECTIONS", 1000))
timeout = 120  # a worker process that stops answering the arbiter is restarted
graceful_timeout = 30
keepalive = 5  # seconds an idle kept-alive connection waits for its next request
accesslog = "-"
