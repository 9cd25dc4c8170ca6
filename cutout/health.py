"""Health: ``GET /livez`` (is the process up? no I/O) and ``GET /readyz`` (can it serve cutouts
right now? database, storage, broker, models). ``GET /healthz`` is readiness too, as before: load
balancers and the image's HEALTHCHECK use it. None of the checks writes anything.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from cutout.celery import app
from cutout.engine import MODELS, ModelMissing, check_model, loaded_models


def check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


def check_storage() -> dict[str, Any]:
    """One read-only request: the bucket answers to our keys (S3's HeadBucket), or the media
    folder exists and is writable by this process."""
    storage: Any = default_storage
    backend = storage.__class__.__name__  # the class behind the lazy default_storage
    if hasattr(storage, "bucket_name") and hasattr(storage, "connection"):
        storage.connection.meta.client.head_bucket(Bucket=storage.bucket_name)
        return {"backend": backend, "bucket": storage.bucket_name}
    folder = Path(storage.location)
    existing = next(p for p in (folder, *folder.parents) if p.exists())  # made on the first save
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"the media folder {folder} cannot be written by this process")
    return {"backend": backend}


def check_broker() -> dict[str, Any]:
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=3)
        transport = conn.transport_cls
    return {"transport": str(transport)}


def check_models() -> dict[str, Any]:
    missing = []
    for name in MODELS:
        try:
            check_model(name, settings.CUTOUT_MODEL_DIR, full_hash=False)
        except ModelMissing:
            missing.append(name)
    if missing:
        raise RuntimeError(
            f"model(s) missing: {', '.join(missing)}; run `python manage.py fetch_models`"
        )
    return {"available": sorted(MODELS), "loaded": loaded_models()}


CHECKS: dict[str, Callable[[], dict[str, Any]]] = {
    "database": check_database,
    "storage": check_storage,
    "broker": check_broker,
    "models": check_models,
}


def run_checks() -> tuple[bool, dict[str, Any]]:
    results: dict[str, Any] = {}
    healthy = True
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            detail = check()
            results[name] = {"ok": True, **detail}
        except Exception as exc:  # a health check reports every failure, whatever its type
            healthy = False
            results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        results[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return healthy, results


@never_cache
@require_GET
def livez(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. No database, broker or disk: restart only a dead process."""
    return JsonResponse({"status": "ok", "pid": os.getpid()})


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    healthy, results = run_checks()
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": results},
        status=200 if healthy else 503,
    )
