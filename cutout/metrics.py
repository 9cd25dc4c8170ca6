"""Prometheus metrics (prometheus-client); ``GET /metrics`` is :mod:`cutout.scrape`.

Names and labels are kept few and bounded (a route is its URL pattern's name, never a path).
Processes that fork (gunicorn's workers, Celery's prefork children) count into files under
``PROMETHEUS_MULTIPROC_DIR`` (``cutout serve`` / ``cutout worker`` make one), and the scrape
adds them up. Cutouts made by worker containers are counted there: each worker serves its own
``/metrics`` on ``CUTOUT_WORKER_METRICS_PORT`` (docs/operations.md). The queue depth is read
from the broker when the web process is scraped.

``/metrics`` answers only a request with ``Authorization: Bearer <CUTOUT_METRICS_TOKEN>``; with
no token set, only one from a loopback or private address that came through no proxy (no
``X-Forwarded-For``): the monitoring network, never the public one.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    multiprocess,
)

logger = logging.getLogger(__name__)

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_IMAGE_SECONDS = (0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8, 13, 20, 30, 60)

HTTP_REQUESTS = Histogram(
    "cutout_http_request_duration_seconds",
    "Time to answer an HTTP request, by URL pattern, method and status.",
    ("route", "method", "status"),
    buckets=_SECONDS,
)
CUTOUTS = Counter(
    "cutout_cutouts",
    "Cutouts by pipeline and outcome (succeeded, failed, deduplicated, rejected).",
    ("pipeline", "outcome"),
)
INFERENCE = Histogram(
    "cutout_inference_seconds",
    "Time the models took for one image (the matte), by pipeline.",
    ("pipeline",),
    buckets=_IMAGE_SECONDS,
)
CUTOUT_SECONDS = Histogram(
    "cutout_cutout_seconds",
    "End-to-end time of one cutout (matte, render, storage, ledger), by pipeline.",
    ("pipeline",),
    buckets=_IMAGE_SECONDS,
)
CREDITS_CHARGED = Counter("cutout_credits_charged", "Credits captured for finished cutouts.")
WEBHOOK_DELIVERIES = Counter(
    "cutout_webhook_deliveries",
    "Webhook delivery attempts by outcome (delivered, retrying, failed).",
    ("outcome",),
)
EMAILS = Counter("cutout_emails", "Mail sent by the mail task, by outcome.", ("outcome",))


def registry() -> CollectorRegistry:
    """What a scrape reads: every process's files in multiprocess mode, else this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        return merged
    return REGISTRY


def start_worker_server(port: int) -> Any:
    """A Celery worker's own ``/metrics`` (its children's counts), on ``port``: a daemon thread
    of the worker's main process. Returns the server (``shutdown()`` stops it)."""
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, registry=registry())
    logger.info("worker metrics on port %s", port)
    return server
