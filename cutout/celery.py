"""The Celery application. Workers start with ``celery -A cutout worker``."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun

from cutout.logging import new_request_id, request_id_var

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
