"""The Celery application. Workers start with ``celery -A cutout worker`` (Celery finds
``cutout.celery.app``); Django processes create it in ``CutoutConfig.ready``."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import (
    before_task_publish,
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
)

from cutout.requestid import new_request_id, request_id_var

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cutout.settings")

app = Celery("cutout")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@before_task_publish.connect
def _attach_request_id(headers: dict[str, object] | None = None, **_: object) -> None:
    if headers is not None:
        headers.setdefault("request_id", request_id_var.get())


@task_prerun.connect
def _bind_request_id(task: object = None, **_: object) -> None:
    request = getattr(task, "request", None)
    rid = getattr(request, "request_id", None) if request is not None else None
    request_id_var.set(str(rid) if rid and rid != "-" else new_request_id())


@task_postrun.connect
def _unbind_request_id(**_: object) -> None:
    request_id_var.set("-")


# Periodic work, run by `celery -A cutout beat` (or `worker --beat` with one worker).
app.conf.beat_schedule = {
    "webhooks-due": {"task": "cutout.tasks.webhooks_due", "schedule": 30.0},
    "reservations-expire": {"task": "cutout.tasks.reservations_expire", "schedule": 300.0},
    "jobs-requeue-stale": {"task": "cutout.tasks.jobs_requeue_stale", "schedule": 300.0},
    "cutouts-fail-stuck": {"task": "cutout.tasks.cutouts_fail_stuck", "schedule": 60.0},
    "jobs-resume-waiting": {"task": "cutout.tasks.jobs_resume_waiting", "schedule": 60.0},
    "retention-sweep": {"task": "cutout.tasks.retention_sweep", "schedule": 3600.0},
}


def _preload_models() -> None:
    """Load the engine's models once per worker process, before its first task.

    Which pipelines: ``CUTOUT_WORKER_PRELOAD`` (comma-separated, e.g. ``fast,best``; ``none`` to
    skip), by default the default pipeline. A missing model is logged, not fatal: the worker still
    starts, and each task then fails with the error that names the fetch command.
    """
    import logging

    from django.conf import settings

    from cutout import engine

    log = logging.getLogger("cutout.worker")
    pipelines: list[str] = list(settings.CUTOUT_WORKER_PRELOAD)
    engine.configure(threads=settings.CUTOUT_INTRA_OP_THREADS, model_dir=settings.CUTOUT_MODEL_DIR)
    if pipelines == ["none"]:
        return
    try:
        loaded = engine.preload(pipelines)
    except engine.EngineError as exc:
        log.error("could not preload models for %s: %s", ", ".join(pipelines), exc)
        return
    log.info("worker process %s preloaded models: %s", os.getpid(), ", ".join(loaded))


def _require_providers() -> None:
    """A worker asked to run on a GPU (``CUTOUT_ORT_PROVIDERS``) that this onnxruntime build
    cannot use does not start: SystemExit gets past Celery's signal dispatch, which logs and
    swallows ordinary exceptions."""
    import logging

    from cutout import engine

    try:
        engine.check_providers()
    except engine.ProviderUnavailable as exc:
        logging.getLogger("cutout.worker").critical("%s", exc.message)
        raise SystemExit(f"cutout worker not started: {exc.message}") from None


@worker_process_init.connect
def _on_worker_process_init(**_: object) -> None:
    # Prefork: runs in each child process after the fork (onnxruntime sessions do not survive one).
    _preload_models()


@worker_init.connect
def _on_worker_init(sender: object = None, **_: object) -> None:
    _require_providers()
    # Solo and thread pools run tasks in the main process, which gets no worker_process_init.
    pool = str(getattr(sender, "pool_cls", "") or "")
    if "solo" in pool or "thread" in pool:
        _preload_models()
