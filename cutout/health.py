"""``GET /healthz``: can this process serve cutouts right now?"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
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
    name = default_storage.save(f"healthz/{uuid.uuid4().hex}.txt", ContentFile(b"ok"))
    try:
        with default_storage.open(name) as handle:
            if handle.read() != b"ok":
                raise RuntimeError("storage returned different bytes than written")
    finally:
        default_storage.delete(name)
    return {"backend": type(default_storage).__name__}


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
def healthz(request: HttpRequest) -> JsonResponse:
    healthy, results = run_checks()
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": results},
        status=200 if healthy else 503,
    )
