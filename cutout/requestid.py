"""The request id of the work in hand: an HTTP request (set by ``cutout.logging``'s middleware)
or a Celery task (set by ``cutout.celery`` from the sender's). Its own module so that the Celery
app and the logging middleware (which counts requests in ``cutout.metrics``) both reach it
without importing each other."""

from __future__ import annotations

import contextvars
import uuid

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def new_request_id() -> str:
    return uuid.uuid4().hex
